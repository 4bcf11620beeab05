// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for replica/url.c: export URL parsing.
 *
 * One test per acceptance or rejection rule in url.c's header comment:
 *
 *     nfs://HOST/EXPORT/PATH?nfsport=N&mountport=M
 *
 * HOST is an address or a name, the path is absolute, both ports are
 * required and in 1..65535, and nothing else is accepted.  Every rejection
 * must also say which URL was wrong and what a good one looks like, since
 * the message ends up as the one line a failed mount prints.
 *
 *   make && ./build/tests/test_url
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replica/url.h"

#define GOOD "nfs://10.99.1.2/srv/a/export?nfsport=2049&mountport=20048"
#define HINT "expected nfs://HOST/PATH?nfsport=N&mountport=M"

static struct rep_url url;
static char err[4096];

/* Parses @text, which must be rejected, and checks the message names the
 * URL, contains @why and tells the expected form. */
static void expect_reject(const char *text, const char *why)
{
	char named[2048];
	int rc;

	memset(err, 0, sizeof(err));
	rc = rep_url_parse(text, &url, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL, "'%s' was accepted (rc %d)", text, rc);
	snprintf(named, sizeof(named), "invalid export URL '%s'", text);
	cr_expect(strstr(err, named), "message does not name the URL: %s",
		  err);
	cr_expect(strstr(err, why), "message lacks '%s': %s", why, err);
	cr_expect(strstr(err, HINT), "message lacks the expected form: %s",
		  err);
}

static void expect_accept(const char *text)
{
	int rc;

	memset(err, 0, sizeof(err));
	rc = rep_url_parse(text, &url, err, sizeof(err));
	cr_assert_eq(rc, 0, "'%s' rejected: %s", text, err);
}

/* ---- accepted ---- */

Test(url, parses_host_path_and_ports)
{
	expect_accept(GOOD);
	cr_expect_str_eq(url.host, "10.99.1.2");
	cr_expect_str_eq(url.path, "/srv/a/export");
	cr_expect_eq(url.nfsport, 2049);
	cr_expect_eq(url.mountport, 20048);
}

Test(url, accepts_ports_in_either_order)
{
	expect_accept("nfs://nas/export?mountport=635&nfsport=2050");
	cr_expect_eq(url.nfsport, 2050);
	cr_expect_eq(url.mountport, 635);
}

Test(url, accepts_host_name)
{
	expect_accept("nfs://nas-a.example.org/export?nfsport=1&mountport=2");
	cr_expect_str_eq(url.host, "nas-a.example.org");
	cr_expect_str_eq(url.path, "/export");
}

Test(url, accepts_root_path)
{
	expect_accept("nfs://nas/?nfsport=2049&mountport=20048");
	cr_expect_str_eq(url.path, "/");
}

Test(url, accepts_port_bounds_1_and_65535)
{
	expect_accept("nfs://nas/export?nfsport=1&mountport=65535");
	cr_expect_eq(url.nfsport, 1);
	cr_expect_eq(url.mountport, 65535);
}

Test(url, accepts_longest_host_and_path)
{
	char host[REP_URL_HOST_MAX];
	char path[REP_URL_PATH_MAX];
	char text[REP_URL_HOST_MAX + REP_URL_PATH_MAX + 64];

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "nfs://%s%s?nfsport=1&mountport=2",
		 host, path);
	expect_accept(text);
	cr_expect_str_eq(url.host, host);
	cr_expect_str_eq(url.path, path);
}

/* ---- rejected ---- */

Test(url, rejects_missing_nfs_scheme)
{
	expect_reject("10.99.1.2/export?nfsport=2049&mountport=20048",
		      "must start with nfs://");
	expect_reject("nfs4://nas/export?nfsport=2049&mountport=20048",
		      "must start with nfs://");
	expect_reject("", "must start with nfs://");
}

Test(url, rejects_missing_path)
{
	expect_reject("nfs://nas?nfsport=2049&mountport=20048",
		      "no export path");
	expect_reject("nfs://nas", "no export path");
}

Test(url, rejects_missing_host)
{
	expect_reject("nfs:///export?nfsport=2049&mountport=20048", "no host");
}

Test(url, rejects_host_port_form)
{
	expect_reject("nfs://nas:2049/export?nfsport=2049&mountport=20048",
		      "give ports as ?nfsport=&mountport=, not host:port");
}

Test(url, rejects_unknown_query_key)
{
	expect_reject("nfs://nas/export?nfsport=2049&mountport=20048&uid=0",
		      "unknown query parameter");
	expect_reject("nfs://nas/export?nfsprot=2049&mountport=20048",
		      "only nfsport and mountport are accepted");
}

Test(url, rejects_query_key_without_value)
{
	expect_reject("nfs://nas/export?nfsport&mountport=20048",
		      "query parameter without '='");
}

Test(url, rejects_non_numeric_port)
{
	expect_reject("nfs://nas/export?nfsport=nfs&mountport=20048",
		      "port must be a number from 1 to 65535");
	expect_reject("nfs://nas/export?nfsport=2049x&mountport=20048",
		      "port must be a number from 1 to 65535");
	expect_reject("nfs://nas/export?nfsport=&mountport=20048",
		      "port must be a number from 1 to 65535");
}

Test(url, rejects_zero_port)
{
	expect_reject("nfs://nas/export?nfsport=0&mountport=20048",
		      "port must be a number from 1 to 65535");
}

Test(url, rejects_port_65536)
{
	expect_reject("nfs://nas/export?nfsport=2049&mountport=65536",
		      "port must be a number from 1 to 65535");
}

Test(url, rejects_negative_port)
{
	expect_reject("nfs://nas/export?nfsport=-2049&mountport=20048",
		      "port must be a number from 1 to 65535");
}

Test(url, rejects_missing_nfsport)
{
	expect_reject("nfs://nas/export?mountport=20048",
		      "both nfsport= and mountport= are required");
}

Test(url, rejects_missing_mountport)
{
	expect_reject("nfs://nas/export?nfsport=2049",
		      "both nfsport= and mountport= are required");
}

Test(url, rejects_missing_query)
{
	expect_reject("nfs://nas/export",
		      "both nfsport= and mountport= are required");
	expect_reject("nfs://nas/export?",
		      "both nfsport= and mountport= are required");
}

Test(url, rejects_too_long_url)
{
	static char text[8192];
	static char msg[16384];	/* the message quotes the whole URL */

	strcpy(text, "nfs://nas/");
	memset(text + 10, 'p', sizeof(text) - 11);
	text[sizeof(text) - 1] = '\0';
	cr_assert_eq(rep_url_parse(text, &url, msg, sizeof(msg)), -EINVAL);
	cr_expect(!strncmp(msg, "invalid export URL 'nfs://nas/ppp", 33),
		  "%.80s", msg);
	cr_expect(strstr(msg, "': too long ("), "%.80s", msg);
	cr_expect(strstr(msg, HINT), "%.80s", msg);
}

Test(url, rejects_too_long_host)
{
	char host[REP_URL_HOST_MAX + 1];
	char text[REP_URL_HOST_MAX + 128];

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(text, sizeof(text), "nfs://%s/export?nfsport=1&mountport=2",
		 host);
	expect_reject(text, "host or path too long");
}

Test(url, rejects_too_long_path)
{
	char path[REP_URL_PATH_MAX + 1];
	char text[REP_URL_PATH_MAX + 128];

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "nfs://nas%s?nfsport=1&mountport=2",
		 path);
	expect_reject(text, "host or path too long");
}

/* ---- the message ---- */

Test(url, error_names_url_and_expected_form)
{
	const char *bad = "nfs://nas/export?nfsport=2049";

	cr_assert_eq(rep_url_parse(bad, &url, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "invalid export URL "
			 "'nfs://nas/export?nfsport=2049': both nfsport= and "
			 "mountport= are required (expected "
			 "nfs://HOST/PATH?nfsport=N&mountport=M)");
}

Test(url, error_is_truncated_to_buffer)
{
	char small[16];

	memset(small, 'x', sizeof(small));
	cr_assert_eq(rep_url_parse("nfs://nas", &url, small, 8), -EINVAL);
	cr_expect_eq(strlen(small), 7);
	cr_expect_eq(small[8], 'x', "wrote past errlen");
}
