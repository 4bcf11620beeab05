/*
 * ctl.c — the daemon's control socket, through which `ofsrep status`
 * (fs/status_cli.c) asks a running mount how it is.
 *
 * Where: /run/ofsrep/<16 hex digits>.sock, the digits being XXH64 of the
 * mount point's real path (seed 0), so any path length fits sun_path and
 * the client finds the socket from the mount point alone.  Mode 0600: the
 * report names the exports.  The daemon removes it at exit; a stale one
 * (a killed daemon) is replaced by the next mount and refused by connect.
 *
 * PROTOCOL (one exchange per connection, text):
 *   client: "status\n" or "status json\n"
 *   daemon: "<code>\n" then the report (fs/status.c), then it closes.
 *           <code> is the health: 0 healthy, 1 degraded, 2 broken.
 *   client: "failback\n" (`ofsrep failback`, fs/failback.c)
 *   daemon: "0\n<what happens>\n" when the failback starts, or
 *           "1\n<why not>\n" (not in sync yet, nothing to fail back).
 *   Anything else gets "64\nunknown request\n".
 *
 * Served on the loop thread with oneshot polls (replica/loop.h): accept,
 * then read the request when it is readable, answer, close.  The answer
 * is a few KiB, far below a unix socket's buffer, so the write does not
 * block; a client that connects and never writes costs one fd until the
 * daemon exits.
 */
#include "fs/fs.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>
#include <xxhash.h>

#define CTL_REPLY_MAX 16384

int fs_ctl_path(const char *mountpoint, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%016llx.sock", FS_CTL_DIR,
			 (unsigned long long)XXH64(mountpoint,
						   strlen(mountpoint), 0));

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

struct ctl_client {
	struct fs_ctx *fs;
	int fd;
};

static void ctl_arm(struct fs_ctx *fs);

static void ctl_answer(struct ctl_client *c)
{
	char req[64];
	char *reply = malloc(CTL_REPLY_MAX);
	ssize_t n = read(c->fd, req, sizeof(req) - 1);
	size_t len;
	int code;

	if (n > 0 && reply) {
		req[n] = 0;
		req[strcspn(req, "\n")] = 0;
		if (!strcmp(req, "status") || !strcmp(req, "status json")) {
			code = fs_status(c->fs, req[6] != 0, reply + 4,
					 CTL_REPLY_MAX - 4);
			reply[0] = (char)('0' + code);
			memcpy(reply + 1, "\n", 1);
			len = strlen(reply + 4);
			memmove(reply + 2, reply + 4, len + 1);
			len += 2;
		} else if (!strcmp(req, "failback")) {
			char msg[512];

			code = fs_failback_request(c->fs, msg, sizeof(msg));
			len = (size_t)snprintf(reply, CTL_REPLY_MAX, "%d\n%s\n",
					       code ? 1 : 0, msg);
		} else {
			len = (size_t)snprintf(reply, CTL_REPLY_MAX,
					       "64\nunknown request\n");
		}
		if (write(c->fd, reply, len) < 0)
			syslog(LOG_DEBUG, "control socket: reply: %m");
	}
	free(reply);
	close(c->fd);
	free(c);
}

static void ctl_client_cb(struct ev_token *tok, int res)
{
	ctl_answer(tok->ctx);
}

static void ctl_accept_cb(struct ev_token *tok, int res)
{
	struct fs_ctx *fs = tok->ctx;
	int fd;

	fs->ctl_tok = NULL;
	if (fs->ctl_fd < 0)
		return;
	while ((fd = accept4(fs->ctl_fd, NULL, NULL,
			     SOCK_CLOEXEC)) >= 0) {
		struct ctl_client *c = calloc(1, sizeof(*c));

		if (!c || !ev_poll_arm(&fs->loop, fd, POLLIN, ctl_client_cb,
				       c, 0)) {
			free(c);
			close(fd);
			continue;
		}
		c->fs = fs;
		c->fd = fd;
	}
	/* Out of fds: not again at once (a spin on the loop thread); the
	 * next tick re-arms (fs_ctl_pump from the loop's after_batch). */
	if (errno != EMFILE && errno != ENFILE)
		ctl_arm(fs);
}

void fs_ctl_pump(struct fs_ctx *fs)
{
	ctl_arm(fs);
}

static void ctl_arm(struct fs_ctx *fs)
{
	if (fs->ctl_fd >= 0 && !fs->ctl_tok)
		fs->ctl_tok = ev_poll_arm(&fs->loop, fs->ctl_fd, POLLIN,
					  ctl_accept_cb, fs, 0);
}

/* Creates the socket and starts serving it; failures are logged and the
 * mount goes on without `ofsrep status`. */
void fs_ctl_start(struct fs_ctx *fs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	fs->ctl_fd = -1;
	if (fs_ctl_path(fs->opts.mountpoint, sa.sun_path,
			sizeof(sa.sun_path)))
		return;
	if (mkdir(FS_CTL_DIR, 0755) && errno != EEXIST) {
		syslog(LOG_WARNING, "control socket: mkdir %s: %m; `ofsrep "
		       "status` will not reach this mount", FS_CTL_DIR);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	unlink(sa.sun_path);		/* a killed daemon's */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(sa.sun_path, 0600) || listen(fd, 16)) {
		syslog(LOG_WARNING, "control socket %s: %m; `ofsrep status` "
		       "will not reach this mount", sa.sun_path);
		close(fd);
		return;
	}
	fs->ctl_fd = fd;
	snprintf(fs->ctl_path, sizeof(fs->ctl_path), "%s", sa.sun_path);
	ctl_arm(fs);
}

void fs_ctl_stop(struct fs_ctx *fs)
{
	if (fs->ctl_fd < 0)
		return;
	if (fs->ctl_tok)
		ev_poll_cancel(&fs->loop, fs->ctl_tok);
	fs->ctl_tok = NULL;
	close(fs->ctl_fd);
	fs->ctl_fd = -1;
	unlink(fs->ctl_path);
}
