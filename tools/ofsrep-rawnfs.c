/*
 * ofsrep-rawnfs — a small NFSv3 client on libnfs's synchronous API.
 *
 * Two jobs:
 *   roundtrip  the lab's health probe: write 1 MiB of random bytes under a
 *              unique name, read it back, compare, remove it.  Always returns
 *              within about timeout + 2 s, also against a SIGSTOPped server
 *              or a cut network (per-RPC timeout plus a watchdog timer).
 *   bench      the raw baseline for ofsrep's benchmarks: the same workloads
 *              tools/bench.sh runs through the FUSE mount, straight to the
 *              export with one synchronous libnfs context.
 *
 * Exit codes: 0 ok, 1 data mismatch, 2 error (usage, unreachable, timeout).
 * Auto-reconnect is off, so a failure is reported instead of retried.
 * The URL is libnfs's: nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>

#define MIB (1024u * 1024u)
#define BLOCK_4K 4096u
#define RT_SIZE MIB
#define DEF_RT_TIMEOUT_MS 3000
#define DEF_BENCH_TIMEOUT_MS 30000
#define DEF_BENCH_SIZE (256ull * MIB)
#define DEF_BENCH_COUNT 1000ull
#define WATCHDOG_SLACK_MS 1500
#define BENCH_DIR "/ofsrep-rawnfs-bench"
#define BENCH_FILE BENCH_DIR "/data"
#define BENCH_FILES BENCH_DIR "/files"

enum { EXIT_OK = 0, EXIT_MISMATCH = 1, EXIT_ERR = 2 };

struct opts {
	const char *cmd;
	const char *url;
	const char *workload;
	int timeout_ms;
	uint64_t size;
	uint64_t count;
};

struct conn {
	struct nfs_context *nfs;
	const char *url;
	double t_open;		/* when conn_open started, for error messages */
};

static char watchdog_msg[512];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ofsrep-rawnfs roundtrip URL [--timeout-ms N]\n"
		"       ofsrep-rawnfs bench URL WORKLOAD [--size BYTES[k|m|g]] [--count N] [--timeout-ms N]\n"
		"  URL      nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M\n"
		"  WORKLOAD seqwrite | seqread | randwrite4k | create | stat | unlink\n"
		"  exit: 0 ok, 1 mismatch, 2 error\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ofsrep-rawnfs: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_ERR;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- watchdog: libnfs's sync API may block in connect() on a cut link ---- */

static void watchdog_fire(int sig)
{
	ssize_t r = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));

	(void)r;
	_exit(EXIT_ERR);
}

static void watchdog_arm(const char *url, int ms)
{
	struct itimerval it = { 0 };
	struct sigaction sa = { 0 };

	snprintf(watchdog_msg, sizeof(watchdog_msg),
		 "ofsrep-rawnfs: %s: timed out after %d ms (no answer)\n",
		 url, ms);
	sa.sa_handler = watchdog_fire;
	sigaction(SIGALRM, &sa, NULL);
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void watchdog_disarm(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- connection ---- */

static int nfs_fail(struct conn *c, const char *what, const char *path, int rc)
{
	const char *err = c->nfs ? nfs_get_error(c->nfs) : NULL;

	if (!err || !*err)
		err = strerror(rc < 0 ? -rc : EIO);
	fprintf(stderr, "ofsrep-rawnfs: %s: %s%s%s failed after %.0f ms: %s\n",
		c->url, what, path ? " " : "", path ? path : "",
		(now_s() - c->t_open) * 1e3, err);
	return EXIT_ERR;
}

static int conn_open(struct conn *c, const char *url, int timeout_ms)
{
	struct nfs_url *u;
	int rc;

	c->url = url;
	c->t_open = now_s();
	c->nfs = nfs_init_context();
	if (!c->nfs) {
		fprintf(stderr, "ofsrep-rawnfs: %s: nfs_init_context failed\n", url);
		return EXIT_ERR;
	}
	u = nfs_parse_url_dir(c->nfs, url);
	if (!u)
		return nfs_fail(c, "parse URL", NULL, -EINVAL);
	/* after parsing: the URL's own autoreconnect= must not win */
	nfs_set_autoreconnect(c->nfs, 0);
	nfs_set_timeout(c->nfs, timeout_ms);
	rc = nfs_mount(c->nfs, u->server, u->path);
	if (rc < 0)
		rc = nfs_fail(c, "mount", u->path, rc);
	nfs_destroy_url(u);
	return rc;
}

static void conn_close(struct conn *c)
{
	if (c->nfs)
		nfs_destroy_context(c->nfs);
	c->nfs = NULL;
}

/* ---- I/O helpers: whole-buffer pwrite/pread ---- */

static int write_all(struct conn *c, struct nfsfh *fh, const char *path,
		     uint64_t off, const char *buf, uint64_t len)
{
	while (len > 0) {
		int n = nfs_pwrite(c->nfs, fh, off, len, buf);

		if (n <= 0)
			return nfs_fail(c, "write", path, n == 0 ? -EIO : n);
		off += (uint64_t)n;
		buf += n;
		len -= (uint64_t)n;
	}
	return EXIT_OK;
}

/* Reads up to len bytes; *got is what was read (short only at EOF). */
static int read_full(struct conn *c, struct nfsfh *fh, const char *path,
		     uint64_t off, char *buf, uint64_t len, uint64_t *got)
{
	*got = 0;
	while (*got < len) {
		int n = nfs_pread(c->nfs, fh, off + *got, len - *got, buf + *got);

		if (n < 0)
			return nfs_fail(c, "read", path, n);
		if (n == 0)
			break;
		*got += (uint64_t)n;
	}
	return EXIT_OK;
}

static int open_file(struct conn *c, const char *path, int flags,
		     struct nfsfh **fh)
{
	int rc;

	if (flags & O_CREAT)
		rc = nfs_create(c->nfs, path, flags & ~O_CREAT, 0644, fh);
	else
		rc = nfs_open(c->nfs, path, flags, fh);
	return rc < 0 ? nfs_fail(c, "open", path, rc) : EXIT_OK;
}

/* Closes @fh; reports a close error only if @rc (the result so far) is ok. */
static int close_file(struct conn *c, struct nfsfh *fh, const char *path, int rc)
{
	int r;

	if (!fh)
		return rc;
	r = nfs_close(c->nfs, fh);
	if (r < 0 && rc == EXIT_OK)
		rc = nfs_fail(c, "close", path, r);
	return rc;
}

static int fill_random(char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, 0);

		if (n < 0 && errno != EINTR) {
			perror("ofsrep-rawnfs: getrandom");
			return EXIT_ERR;
		}
		if (n > 0)
			done += (size_t)n;
	}
	return EXIT_OK;
}

/* ---- roundtrip ---- */

static int rt_write(struct conn *c, const char *path, const char *buf)
{
	struct nfsfh *fh;
	int rc = open_file(c, path, O_CREAT | O_EXCL | O_RDWR, &fh);

	if (rc)
		return rc;
	rc = write_all(c, fh, path, 0, buf, RT_SIZE);
	if (!rc && nfs_fsync(c->nfs, fh) < 0)
		rc = nfs_fail(c, "fsync", path, -EIO);
	rc = close_file(c, fh, path, rc);
	return rc;
}

static int rt_verify(struct conn *c, const char *path, const char *want,
		     char *got_buf)
{
	struct nfsfh *fh;
	uint64_t got = 0;
	int rc = open_file(c, path, O_RDONLY, &fh);

	if (rc)
		return rc;
	rc = read_full(c, fh, path, 0, got_buf, RT_SIZE + 1, &got);
	rc = close_file(c, fh, path, rc);
	if (rc)
		return rc;
	if (got != RT_SIZE || memcmp(want, got_buf, RT_SIZE) != 0) {
		fprintf(stderr, "ofsrep-rawnfs: %s: %s: read back %" PRIu64
			" bytes that differ from the %u written\n",
			c->url, path, got, RT_SIZE);
		return EXIT_MISMATCH;
	}
	return EXIT_OK;
}

static int rt_run(struct conn *c, const char *path, char *want, char *got)
{
	int rc = rt_write(c, path, want);

	if (rc)
		return rc;
	rc = rt_verify(c, path, want, got);
	if (nfs_unlink(c->nfs, path) < 0 && rc == EXIT_OK)
		rc = nfs_fail(c, "unlink", path, -EIO);
	return rc;
}

static int cmd_roundtrip(const struct opts *o)
{
	struct conn c = { 0 };
	char path[128];
	char *want = malloc(RT_SIZE), *got = malloc(RT_SIZE + 1);
	int rc = EXIT_ERR;

	if (!want || !got) {
		fprintf(stderr, "ofsrep-rawnfs: out of memory\n");
		goto out;
	}
	snprintf(path, sizeof(path), "/.ofsrep-rawnfs-%ld-%.0f",
		 (long)getpid(), now_s() * 1e6);
	rc = fill_random(want, RT_SIZE);
	if (rc)
		goto out;
	watchdog_arm(o->url, o->timeout_ms + WATCHDOG_SLACK_MS);
	rc = conn_open(&c, o->url, o->timeout_ms);
	if (!rc)
		rc = rt_run(&c, path, want, got);
	conn_close(&c);
	watchdog_disarm();
out:
	free(want);
	free(got);
	return rc;
}

/* ---- bench ---- */

struct result {
	uint64_t bytes;
	uint64_t ops;
};

static int bench_seqwrite(struct conn *c, const struct opts *o, struct result *r)
{
	struct nfsfh *fh = NULL;
	char *buf = malloc(MIB);
	int rc = EXIT_ERR;

	if (!buf || fill_random(buf, MIB))
		goto out;
	rc = open_file(c, BENCH_FILE, O_CREAT | O_TRUNC | O_RDWR, &fh);
	for (uint64_t off = 0; !rc && off < o->size; off += MIB) {
		uint64_t n = o->size - off < MIB ? o->size - off : MIB;

		rc = write_all(c, fh, BENCH_FILE, off, buf, n);
		r->bytes += n;
		r->ops++;
	}
	if (!rc && nfs_fsync(c->nfs, fh) < 0)
		rc = nfs_fail(c, "fsync", BENCH_FILE, -EIO);
	rc = close_file(c, fh, BENCH_FILE, rc);
out:
	free(buf);
	return rc;
}

static int bench_seqread(struct conn *c, const struct opts *o, struct result *r)
{
	struct nfsfh *fh = NULL;
	char *buf = malloc(MIB);
	uint64_t got = MIB;
	int rc = EXIT_ERR;

	if (!buf)
		goto out;
	rc = open_file(c, BENCH_FILE, O_RDONLY, &fh);
	while (!rc && got == MIB) {
		rc = read_full(c, fh, BENCH_FILE, r->bytes, buf, MIB, &got);
		r->bytes += got;
		r->ops += got > 0;
	}
	rc = close_file(c, fh, BENCH_FILE, rc);
out:
	free(buf);
	return rc;
}

static int file_size(struct conn *c, struct nfsfh *fh, uint64_t *size)
{
	struct nfs_stat_64 st;

	if (nfs_fstat64(c->nfs, fh, &st) < 0)
		return nfs_fail(c, "fstat", BENCH_FILE, -EIO);
	*size = st.nfs_size;
	return EXIT_OK;
}

static int bench_randwrite4k(struct conn *c, const struct opts *o,
			     struct result *r)
{
	struct nfsfh *fh = NULL;
	char buf[BLOCK_4K];
	uint64_t size = 0, blocks;
	unsigned int seed = (unsigned int)getpid();
	int rc = fill_random(buf, sizeof(buf));

	if (!rc)
		rc = open_file(c, BENCH_FILE, O_RDWR, &fh);
	if (!rc)
		rc = file_size(c, fh, &size);
	blocks = size / BLOCK_4K;
	if (!rc && blocks == 0) {
		fprintf(stderr, "ofsrep-rawnfs: %s: %s is smaller than 4 KiB; "
			"run seqwrite first\n", c->url, BENCH_FILE);
		rc = EXIT_ERR;
	}
	for (uint64_t i = 0; !rc && i < o->count; i++) {
		uint64_t blk = (((uint64_t)rand_r(&seed) << 31) ^
				(uint64_t)rand_r(&seed)) % blocks;

		rc = write_all(c, fh, BENCH_FILE, blk * BLOCK_4K, buf, BLOCK_4K);
		r->bytes += BLOCK_4K;
		r->ops++;
	}
	if (!rc && nfs_fsync(c->nfs, fh) < 0)
		rc = nfs_fail(c, "fsync", BENCH_FILE, -EIO);
	rc = close_file(c, fh, BENCH_FILE, rc);
	return rc;
}

static void nth_path(char *out, size_t len, uint64_t i)
{
	snprintf(out, len, BENCH_FILES "/f%06" PRIu64, i);
}

/* Removes BENCH_FILES and everything directly in it, if it exists. */
static int remove_files_dir(struct conn *c)
{
	struct nfsdir *dir;
	struct nfsdirent *de;
	char path[PATH_MAX];
	int rc = EXIT_OK;

	if (nfs_opendir(c->nfs, BENCH_FILES, &dir) < 0)
		return EXIT_OK;	/* not there: nothing to remove */
	while (!rc && (de = nfs_readdir(c->nfs, dir)) != NULL) {
		if (!strcmp(de->name, ".") || !strcmp(de->name, ".."))
			continue;
		snprintf(path, sizeof(path), BENCH_FILES "/%s", de->name);
		if (nfs_unlink(c->nfs, path) < 0)
			rc = nfs_fail(c, "unlink", path, -EIO);
	}
	nfs_closedir(c->nfs, dir);
	if (!rc && nfs_rmdir(c->nfs, BENCH_FILES) < 0)
		rc = nfs_fail(c, "rmdir", BENCH_FILES, -EIO);
	return rc;
}

static int bench_create(struct conn *c, const struct opts *o, struct result *r)
{
	char buf[BLOCK_4K], path[PATH_MAX];
	int rc = fill_random(buf, sizeof(buf));

	if (!rc)
		rc = remove_files_dir(c);
	if (!rc && nfs_mkdir(c->nfs, BENCH_FILES) < 0)
		rc = nfs_fail(c, "mkdir", BENCH_FILES, -EIO);
	for (uint64_t i = 0; !rc && i < o->count; i++) {
		struct nfsfh *fh;

		nth_path(path, sizeof(path), i);
		rc = open_file(c, path, O_CREAT | O_EXCL | O_WRONLY, &fh);
		if (rc)
			break;
		rc = write_all(c, fh, path, 0, buf, BLOCK_4K);
		rc = close_file(c, fh, path, rc);
		r->bytes += BLOCK_4K;
		r->ops++;
	}
	return rc;
}

static int bench_stat(struct conn *c, const struct opts *o, struct result *r)
{
	char path[PATH_MAX];
	struct nfs_stat_64 st;

	for (uint64_t i = 0; i < o->count; i++) {
		nth_path(path, sizeof(path), i);
		if (nfs_stat64(c->nfs, path, &st) < 0)
			return nfs_fail(c, "stat", path, -EIO);
		r->ops++;
	}
	return EXIT_OK;
}

static int bench_unlink(struct conn *c, const struct opts *o, struct result *r)
{
	char path[PATH_MAX];

	for (uint64_t i = 0; i < o->count; i++) {
		nth_path(path, sizeof(path), i);
		if (nfs_unlink(c->nfs, path) < 0)
			return nfs_fail(c, "unlink", path, -EIO);
		r->ops++;
	}
	return EXIT_OK;
}

typedef int (*bench_fn)(struct conn *, const struct opts *, struct result *);

static const struct {
	const char *name;
	bench_fn fn;
} workloads[] = {
	{ "seqwrite", bench_seqwrite },
	{ "seqread", bench_seqread },
	{ "randwrite4k", bench_randwrite4k },
	{ "create", bench_create },
	{ "stat", bench_stat },
	{ "unlink", bench_unlink },
};

static bench_fn find_workload(const char *name)
{
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(workloads[i].name, name))
			return workloads[i].fn;
	return NULL;
}

static void print_result(const char *name, double secs, const struct result *r)
{
	double s = secs > 0 ? secs : 1e-9;

	printf("{\"workload\":\"%s\",\"seconds\":%.6f,\"bytes\":%" PRIu64
	       ",\"ops\":%" PRIu64 ",\"mib_s\":%.2f,\"ops_s\":%.1f}\n",
	       name, secs, r->bytes, r->ops, (double)r->bytes / MIB / s,
	       (double)r->ops / s);
}

static int ensure_bench_dir(struct conn *c)
{
	struct nfs_stat_64 st;

	if (nfs_stat64(c->nfs, BENCH_DIR, &st) == 0)
		return EXIT_OK;
	if (nfs_mkdir(c->nfs, BENCH_DIR) < 0)
		return nfs_fail(c, "mkdir", BENCH_DIR, -EIO);
	return EXIT_OK;
}

static int cmd_bench(const struct opts *o)
{
	struct conn c = { 0 };
	struct result r = { 0 };
	bench_fn fn = find_workload(o->workload);
	double t0;
	int rc;

	if (!fn)
		return usage_error("unknown workload '%s'", o->workload);
	rc = conn_open(&c, o->url, o->timeout_ms);
	if (!rc)
		rc = ensure_bench_dir(&c);
	if (!rc) {
		t0 = now_s();
		rc = fn(&c, o, &r);
		if (!rc)
			print_result(o->workload, now_s() - t0, &r);
	}
	conn_close(&c);
	return rc;
}

/* ---- arguments ---- */

/* A decimal number, optionally with a binary suffix k, m or g (for --size). */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if ((shift && end[1]) || (!shift && *end) || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_flag(struct opts *o, const char *flag, const char *val)
{
	uint64_t v;

	if (parse_u64(val, &v) < 0)
		return usage_error("bad or missing number after %s", flag);
	if (!strcmp(flag, "--timeout-ms") && v >= 1 && v <= 3600000)
		o->timeout_ms = (int)v;
	else if (!strcmp(flag, "--size") && !strcmp(o->cmd, "bench"))
		o->size = v;
	else if (!strcmp(flag, "--count") && !strcmp(o->cmd, "bench"))
		o->count = v;
	else
		return usage_error("bad option or value: %s", flag);
	return EXIT_OK;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int npos = 0;
	const char *pos[2] = { NULL, NULL };

	for (int i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "--", 2)) {
			int rc = parse_flag(o, argv[i], i + 1 < argc ? argv[i + 1] : NULL);

			if (rc)
				return rc;
			i++;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			return usage_error("unexpected argument '%s'", argv[i]);
		}
	}
	o->url = pos[0];
	o->workload = pos[1];
	if (!o->url)
		return usage_error("missing URL%s", "");
	if (strncmp(o->url, "nfs://", 6))
		return usage_error("URL must start with nfs:// (got '%s')", o->url);
	if (!strcmp(o->cmd, "bench") && !o->workload)
		return usage_error("missing WORKLOAD%s", "");
	if (!strcmp(o->cmd, "roundtrip") && o->workload)
		return usage_error("unexpected argument '%s'", o->workload);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { .size = DEF_BENCH_SIZE, .count = DEF_BENCH_COUNT };
	int rc;

	if (argc < 2)
		return usage_error("missing command%s", "");
	o.cmd = argv[1];
	if (!strcmp(o.cmd, "-h") || !strcmp(o.cmd, "--help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(o.cmd, "roundtrip") && strcmp(o.cmd, "bench"))
		return usage_error("unknown command '%s'", o.cmd);
	o.timeout_ms = !strcmp(o.cmd, "bench") ? DEF_BENCH_TIMEOUT_MS
					       : DEF_RT_TIMEOUT_MS;
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	return !strcmp(o.cmd, "roundtrip") ? cmd_roundtrip(&o) : cmd_bench(&o);
}
