/*
 * status_cli.c — `ofsrep status [MOUNTPOINT] [--json]`: asks the daemon of
 * a mount (or of every mount) through its control socket (fs/ctl.c) and
 * prints the report (fs/status.c, which also specifies the JSON).
 *
 * Exit code: the health, as scripts and the CTDB event script use it —
 * 0 healthy, 1 degraded, 2 broken (also: the mount point is not an ofsrep
 * mount, or its daemon does not answer within 5 s), 64 usage error.  With
 * no MOUNTPOINT, every mount on this machine is reported (with --json,
 * one object per line) and the exit code is the worst of them (2 if there
 * is none).
 */
#include "fs/fs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define EXIT_USAGE 64
#define ANSWER_TIMEOUT_S 5

static int usage(void)
{
	fprintf(stderr, "usage: ofsrep status [MOUNTPOINT] [--json]\n"
		"  exit 0 healthy, 1 degraded, 2 broken or not answering\n");
	return EXIT_USAGE;
}

/* Sends @req to the socket at @path, prints the answer; returns its
 * code, or -errno if nobody answered. */
static int ask_req(const char *path, const char *req, bool quiet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int code;
	char *body;

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, strlen(req)) < 0) {
		code = -errno;
		close(fd);
		return code;
	}
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	body = strchr(buf, '\n');
	if (!body || buf[0] < '0' || buf[0] > '9')
		return -EPROTO;
	code = atoi(buf);
	if (!quiet)
		fputs(body + 1, stdout);
	return code;
}

static int ask(const char *path, bool json, bool quiet)
{
	return ask_req(path, json ? "status json\n" : "status\n", quiet);
}

/* Is @mnt (a real path) mounted as fuse.ofsrep? */
static bool ofsrep_mounted(const char *mnt)
{
	char line[8192], where[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		if (sscanf(line, "%*d %*d %*s %*s %4095s", where) == 1 && sep &&
		    sscanf(sep + 3, "%63s", type) == 1)
			found = !strcmp(where, mnt) &&
				!strcmp(type, "fuse.ofsrep");
	}
	fclose(f);
	return found;
}

static int ask_one(const char *cmd, const char *arg, const char *req)
{
	char real[PATH_MAX], path[256];
	int code;

	if (!realpath(arg, real)) {
		fprintf(stderr, "ofsrep %s: %s: %s\n", cmd, arg,
			strerror(errno));
		return 2;
	}
	if (fs_ctl_path(real, path, sizeof(path)))
		return 2;
	code = ask_req(path, req, false);
	if (code >= 0)
		return code;
	if (ofsrep_mounted(real))
		fprintf(stderr, "ofsrep %s: %s is an ofsrep mount but its "
			"daemon does not answer on %s (%s): broken\n", cmd,
			real, path, strerror(-code));
	else
		fprintf(stderr, "ofsrep %s: %s is not an ofsrep mount (no "
			"daemon answers on %s)\n", cmd, real, path);
	return 2;
}

static int status_one(const char *arg, bool json)
{
	return ask_one("status", arg, json ? "status json\n" : "status\n");
}

/* `ofsrep failback MOUNTPOINT`: exit 0 when the failback starts (its end
 * shows in ofsrep status), 1 with the reason when it cannot yet, 2 when
 * no daemon answers, 64 usage. */
int fs_failback_main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: ofsrep failback MOUNTPOINT\n"
			"  serve from the primary again once it is in sync "
			"(for -o failback=manual)\n");
		return argc == 2 && (!strcmp(argv[1], "-h") ||
				     !strcmp(argv[1], "--help")) ? 0 :
		       EXIT_USAGE;
	}
	return ask_one("failback", argv[1], "failback\n");
}

static int status_all(bool json)
{
	DIR *d = opendir(FS_CTL_DIR);
	struct dirent *e;
	char path[512];
	int worst = -1;
	int n = 0;

	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		int code;

		if (l < 6 || strcmp(e->d_name + l - 5, ".sock"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", FS_CTL_DIR, e->d_name);
		code = ask(path, json, false);
		if (code < 0)
			continue;	/* a killed daemon's socket */
		n++;
		if (code > worst)
			worst = code;
	}
	if (d)
		closedir(d);
	if (!n) {
		fprintf(stderr, "ofsrep status: no ofsrep mount answers on "
			"this machine (no live socket in %s)\n", FS_CTL_DIR);
		return 2;
	}
	return worst;
}

/* argv[0] is "status". */
int fs_status_main(int argc, char **argv)
{
	const char *mnt = NULL;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(), 0;
		else if (argv[i][0] == '-' || mnt) {
			fprintf(stderr, "ofsrep status: unexpected argument "
				"'%s'\n", argv[i]);
			return usage();
		} else
			mnt = argv[i];
	}
	return mnt ? status_one(mnt, json) : status_all(json);
}
