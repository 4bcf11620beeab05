/*
 * url.c — parsing of export URLs.
 *
 * ofsrep names an export the way libnfs does, with the ports explicit so no
 * portmapper is ever asked (a NAS whose rpcbind is down must not stall a
 * mount):
 *
 *     nfs://HOST/EXPORT/PATH?nfsport=N&mountport=M
 *
 * HOST is an IPv4 address or a name; the path must be absolute; both ports
 * are required, 1..65535.  Nothing else is accepted: an unknown query key is
 * an error rather than silently ignored, because a misspelt option on a
 * storage mount should fail loudly at mount time.
 */
#include "replica/url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int url_fail(char *err, size_t errlen, const char *text,
		    const char *why)
{
	snprintf(err, errlen, "invalid export URL '%s': %s "
		 "(expected nfs://HOST/PATH?nfsport=N&mountport=M)", text, why);
	return -EINVAL;
}

static int parse_port(const char *val, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

/* Parses "k=v&k=v" in place. */
static int parse_query(char *q, struct rep_url *url, const char **why)
{
	char *save = NULL;

	for (char *kv = strtok_r(q, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		int *dst;

		if (!eq) {
			*why = "query parameter without '='";
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(kv, "nfsport"))
			dst = &url->nfsport;
		else if (!strcmp(kv, "mountport"))
			dst = &url->mountport;
		else {
			*why = "unknown query parameter (only nfsport and "
			       "mountport are accepted)";
			return -EINVAL;
		}
		if (parse_port(eq + 1, dst)) {
			*why = "port must be a number from 1 to 65535";
			return -EINVAL;
		}
	}
	return 0;
}

int rep_url_parse(const char *text, struct rep_url *url, char *err,
		  size_t errlen)
{
	char buf[REP_URL_HOST_MAX + REP_URL_PATH_MAX + 256];
	const char *why = NULL;
	char *host, *slash, *q;

	memset(url, 0, sizeof(*url));
	if (strncmp(text, "nfs://", 6))
		return url_fail(err, errlen, text, "must start with nfs://");
	if (strlen(text + 6) >= sizeof(buf))
		return url_fail(err, errlen, text, "too long");
	strcpy(buf, text + 6);
	host = buf;
	q = strchr(buf, '?');
	if (q)
		*q++ = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return url_fail(err, errlen, text, "no export path");
	if (slash == host)
		return url_fail(err, errlen, text, "no host");
	if (memchr(host, ':', slash - host))
		return url_fail(err, errlen, text,
				"give ports as ?nfsport=&mountport=, not host:port");
	if ((size_t)(slash - host) >= sizeof(url->host) ||
	    strlen(slash) >= sizeof(url->path))
		return url_fail(err, errlen, text, "host or path too long");
	memcpy(url->host, host, slash - host);
	strcpy(url->path, slash);
	if (q && parse_query(q, url, &why))
		return url_fail(err, errlen, text, why);
	if (!url->nfsport || !url->mountport)
		return url_fail(err, errlen, text,
				"both nfsport= and mountport= are required");
	return 0;
}
