/*
 * url.h — parsing of export URLs (see url.c for the accepted syntax).
 */
#ifndef OFSREP_URL_H
#define OFSREP_URL_H

#include <stddef.h>

#define REP_URL_HOST_MAX 256
#define REP_URL_PATH_MAX 1024

struct rep_url {
	char host[REP_URL_HOST_MAX];	/* IPv4 address or host name */
	char path[REP_URL_PATH_MAX];	/* export path given to MOUNT */
	int nfsport;			/* NFS program port */
	int mountport;			/* MOUNT program port */
};

/* Parses @text into @url.  Returns 0, or -EINVAL with a one-line reason
 * (what is wrong and what to do) written to @err. */
int rep_url_parse(const char *text, struct rep_url *url, char *err,
		  size_t errlen);

#endif
