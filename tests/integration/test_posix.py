"""POSIX behaviour of an ofsrep mount, as a local Linux filesystem gives it.

What this file checks: every operation the FUSE front end forwards (lookup,
getattr, setattr, readlink, mknod, mkdir, unlink, rmdir, symlink, link,
rename, open/create, read, write, flush, fsync, readdir, statfs, access) with
its error cases, plus the behaviours smbd and desktop applications rely on:
O_APPEND under concurrent writers, sparse and > 4 GiB files, large I/O,
unlinked-but-open files, renames under open files, times, ownership of the
caller and permission checks for a non-root user.

What it does not check: failover, replication or the journal (other files),
and features NFSv3 cannot carry (renameat2 flags, xattrs, fallocate modes,
O_TMPFILE) beyond "works correctly, or fails cleanly and changes nothing".

Expectations are those of a local filesystem (ext4 or tmpfs).  The suite is
validated by pointing it at a local directory: conftest.py's `mnt` fixture
yields that directory when OFSREP_TEST_DIR is set, and the FUSE mount
otherwise.  Every test works in a fresh subdirectory of mnt.path (fixture
`d`), runs as root, and uses uid/gid 65534 for the non-root cases, so the
mount must be made with allow_other.

Run:  OFSREP_TEST_DIR=/tmp/somedir pytest-3 tests/integration/test_posix.py
"""

import ctypes
import errno
import hashlib
import json
import mmap
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest

NOBODY = 65534
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
NAME_MAX = 255
# The non-root child needs only the stdlib; the Debian interpreter is
# readable by uid 65534, a pyenv one under /root is not.
CHILD_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
NOT_SUPPORTED = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _check(rc, *what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), *what)


def utimensat(path, atime, mtime):
    """utimensat(2) with per-field "now" / "omit" (os.utime can't omit)."""
    ts = (_Timespec * 2)()
    for i, v in enumerate((atime, mtime)):
        if v == "now":
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_NOW
        elif v == "omit":
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_OMIT
        else:
            ts[i].tv_sec, ts[i].tv_nsec = divmod(v, 10**9)
    _check(_libc.utimensat(AT_FDCWD, os.fsencode(path), ts, 0), path)


def renameat2(src, dst, flags):
    f = _libc.renameat2
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                  ctypes.c_char_p, ctypes.c_uint]
    _check(f(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags),
           src, dst)


def fallocate(fd, mode, offset, length):
    f = _libc.fallocate
    f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _check(f(fd, mode, offset, length))


def linkat_follow(src, dst):
    """linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW)."""
    _check(_libc.linkat(AT_FDCWD, os.fsencode(src), AT_FDCWD,
                        os.fsencode(dst), 0x400), src, dst)


def access_errno(path, mode):
    """0 or the errno of access(2) (os.access only says True/False)."""
    rc = _libc.access(os.fsencode(path), mode)
    return 0 if rc == 0 else ctypes.get_errno()


def ename(e):
    return errno.errorcode.get(e, str(e))


def raises_errno(expected, fn, *args, **kwargs):
    """Call fn, which must fail with one of the expected errnos."""
    exp = (expected,) if isinstance(expected, int) else tuple(expected)
    try:
        fn(*args, **kwargs)
    except OSError as e:
        assert e.errno in exp, "%s%r: got %s, want %s" % (
            fn.__name__, args, ename(e.errno), "/".join(map(ename, exp)))
        return e.errno
    pytest.fail("%s%r succeeded, want %s" % (
        fn.__name__, args, "/".join(map(ename, exp))))


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        assert os.write(fd, data) == len(data)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(n, seed=0):
    """n bytes that differ at every 4-byte position (catches offset bugs)."""
    out = bytearray()
    i = seed
    while len(out) < n:
        out += hashlib.sha256(b"%d" % i).digest()
        i += 1
    return bytes(out[:n])


def fstype(path):
    """Filesystem type of the mount that holds path (from mountinfo)."""
    path = os.path.realpath(path)
    best, best_type = "", ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            mp = left.split()[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) \
                    and len(mp) >= len(best):
                best, best_type = mp, right.split()[0]
    return best_type


def time_tolerance_ns(path):
    """Timestamps set by utime must come back exactly on a local fs; through
    FUSE allow sub-microsecond loss (the brief's floor), never more."""
    return 999 if fstype(path).startswith("fuse") else 0


def assert_time(got_ns, want_ns, tol, what):
    assert abs(got_ns - want_ns) <= tol, "%s: got %d, want %d (tolerance %d ns)" % (
        what, got_ns, want_ns, tol)


def assert_now(got_ns, before_ns, after_ns, what):
    """A timestamp the filesystem set to "now" during [before, after].  The
    kernel's coarse clock may lag time.time_ns() by a tick; the NFS server's
    clock is the same machine's.  One second either way still tells "now"
    from the 2001/2017 values the tests set first."""
    assert before_ns - 10**9 <= got_ns <= after_ns + 10**9, \
        "%s: %d is not 'now' (%d..%d)" % (what, got_ns, before_ns, after_ns)


CHILD_PRELUDE = r'''
import ctypes, errno, json, os, sys
V = json.loads(sys.argv[1])
os.umask(0o022)
libc = ctypes.CDLL(None, use_errno=True)
def t(fn, *a, **k):
    """Run one operation; answer "ok", a value, or the errno name."""
    try:
        r = fn(*a, **k)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    if fn is os.open:
        os.close(r)
        return "ok"
    if isinstance(r, bytes):
        return r.decode("latin-1")
    if isinstance(r, os.stat_result):
        return [r.st_uid, r.st_gid, stat_mode(r)]
    return "ok" if r is None else r
def stat_mode(r):
    return r.st_mode & 0o7777
def write(path, data, flags=os.O_WRONLY):
    fd = os.open(path, flags, 0o666)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)
def read(path):
    with open(path, "rb") as f:
        return f.read()
def access(path, mode):
    rc = libc.access(os.fsencode(path), mode)
    return "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]
import stat
R = {}
'''


def as_nobody(code, **values):
    """Run code (lines using t(...) and filling dict R) as uid/gid 65534 with
    no supplementary groups; return R.  Paths etc. are passed as V[...]."""
    script = CHILD_PRELUDE + code + "\nprint(json.dumps(R))\n"
    proc = subprocess.run(
        [CHILD_PY, "-c", script, json.dumps(values)],
        user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "child as uid %d failed:\n%s" % (
        NOBODY, proc.stderr)
    return json.loads(proc.stdout)


def _safe_name(s):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)[:60]


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture
def d(mnt_shared, request):
    """A fresh, empty, world-searchable directory on the filesystem under
    test, removed afterwards; umask 022 while the test runs."""
    path = tempfile.mkdtemp(prefix="posix-%s-" % _safe_name(request.node.name),
                            dir=os.fspath(mnt_shared.path))
    os.chmod(path, 0o755)
    old_umask = os.umask(0o022)
    try:
        yield path
    finally:
        os.umask(old_umask)
        shutil.rmtree(path)


@pytest.fixture
def nobody_ok(mnt_shared):
    """Non-root tests need uid 65534 to reach mnt.path at all (a FUSE mount
    without allow_other denies every other uid): check that first, so a
    missing mount option fails here with a clear message."""
    path = os.path.realpath(os.fspath(mnt_shared.path))
    chain = [path]
    while os.path.dirname(chain[-1]) != chain[-1]:
        chain.append(os.path.dirname(chain[-1]))
    chain.reverse()
    r = as_nobody("for p in V['chain']:\n    R[p] = t(os.stat, p)\n",
                  chain=chain)
    for p in chain:
        if not isinstance(r[p], list):
            pytest.fail("uid %d cannot stat %s (%s), so the non-root tests "
                        "cannot run: %s" % (
                            NOBODY, p, r[p],
                            "mount without allow_other?" if p == path else
                            "%s is not world-searchable" % os.path.dirname(p)),
                        pytrace=False)


# --------------------------------------------------------------------------
# lookup / getattr
# --------------------------------------------------------------------------

def test_new_file_attributes(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o640)
    try:
        fst = os.fstat(fd)
    finally:
        os.close(fd)
    st = os.stat(p)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_size == 0
    assert st.st_nlink == 1
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert st.st_ino == fst.st_ino == os.lstat(p).st_ino
    assert st.st_dev == os.stat(d).st_dev
    assert st.st_blksize > 0


def test_inode_numbers_distinct_and_stable(d):
    inos = set()
    for i in range(20):
        write_file(os.path.join(d, "f%d" % i), b"x")
        inos.add(os.stat(os.path.join(d, "f%d" % i)).st_ino)
    assert len(inos) == 20
    assert {os.stat(os.path.join(d, "f%d" % i)).st_ino
            for i in range(20)} == inos
    assert os.stat(d).st_ino not in inos


def test_lookup_errors(d):
    f = os.path.join(d, "file")
    write_file(f, b"data")
    raises_errno(errno.ENOENT, os.stat, os.path.join(d, "missing"))
    raises_errno(errno.ENOENT, os.lstat, os.path.join(d, "missing"))
    raises_errno(errno.ENOENT, os.stat, os.path.join(d, "missing", "x"))
    raises_errno(errno.ENOTDIR, os.stat, os.path.join(f, "x"))
    raises_errno(errno.ENOTDIR, os.stat, f + "/")
    # a lookup that failed must not leave a negative entry behind
    write_file(os.path.join(d, "missing"), b"now here")
    assert os.stat(os.path.join(d, "missing")).st_size == 8


def test_directory_attributes_and_nlink(d):
    a = os.path.join(d, "a")
    os.mkdir(a, 0o750)
    st = os.stat(a)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o750
    assert st.st_nlink == 2
    os.mkdir(os.path.join(a, "b"))
    os.mkdir(os.path.join(a, "c"))
    write_file(os.path.join(a, "file"), b"")
    assert os.stat(a).st_nlink == 4
    os.rmdir(os.path.join(a, "b"))
    assert os.stat(a).st_nlink == 3
    assert os.stat(os.path.join(a, "c", "..")).st_ino == os.stat(a).st_ino


# --------------------------------------------------------------------------
# setattr: chmod, chown, truncate, utimens
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o000, 0o644, 0o777, 0o4755, 0o2755,
                                  0o1777, 0o7777, 0o0421], ids=oct)
def test_chmod_file_all_bits(d, mode):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.chmod(p, mode)
    assert stat.S_IMODE(os.stat(p).st_mode) == mode
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o600)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
    finally:
        os.close(fd)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_chmod_dir_and_errors(d):
    a = os.path.join(d, "a")
    os.mkdir(a)
    for mode in (0o700, 0o1777, 0o2755, 0o000, 0o755):
        os.chmod(a, mode)
        assert stat.S_IMODE(os.stat(a).st_mode) == mode
        assert stat.S_ISDIR(os.stat(a).st_mode)
    raises_errno(errno.ENOENT, os.chmod, os.path.join(d, "missing"), 0o644)
    raises_errno(errno.ENOENT, os.chmod, os.path.join(d, "x", "y"), 0o644)
    write_file(os.path.join(d, "f"), b"")
    raises_errno(errno.ENOTDIR, os.chmod, os.path.join(d, "f", "y"), 0o644)


def test_chmod_through_symlink_changes_target(d):
    p = os.path.join(d, "f")
    write_file(p, b"x", 0o600)
    os.symlink("f", os.path.join(d, "l"))
    os.chmod(os.path.join(d, "l"), 0o640)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert stat.S_ISLNK(os.lstat(os.path.join(d, "l")).st_mode)


def test_chown_as_root(d):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.chown(p, 1000, 1000)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    os.chown(p, -1, 2000)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1000, 2000)
    os.chown(p, 3000, -1)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (3000, 2000)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fchown(fd, NOBODY, NOBODY)
    finally:
        os.close(fd)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    a = os.path.join(d, "dir")
    os.mkdir(a)
    os.chown(a, 1000, 1000)
    st = os.stat(a)
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    raises_errno(errno.ENOENT, os.chown, os.path.join(d, "missing"), 1, 1)


def test_lchown_changes_symlink_not_target(d):
    p = os.path.join(d, "f")
    l = os.path.join(d, "l")
    write_file(p, b"x")
    os.symlink("f", l)
    os.chown(l, 1000, 1001, follow_symlinks=False)
    lst, st = os.lstat(l), os.stat(p)
    assert (lst.st_uid, lst.st_gid) == (1000, 1001)
    assert (st.st_uid, st.st_gid) == (0, 0)
    os.chown(l, 2000, 2001)          # follows
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (2000, 2001)
    assert os.lstat(l).st_uid == 1000


def test_chown_clears_setuid_setgid_on_files_not_dirs(d):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.chmod(p, 0o6755)
    os.chown(p, 1000, 1000)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o755
    a = os.path.join(d, "dir")
    os.mkdir(a)
    os.chmod(a, 0o6755)
    os.chown(a, 1000, 1000)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o6755


def test_truncate_down_and_up(d):
    p = os.path.join(d, "f")
    data = pattern(10000)
    write_file(p, data)
    os.truncate(p, 100)
    assert os.stat(p).st_size == 100
    assert read_file(p) == data[:100]
    os.truncate(p, 5000)
    assert os.stat(p).st_size == 5000
    assert read_file(p) == data[:100] + bytes(4900)
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 0)
        assert os.fstat(fd).st_size == 0
        assert os.pread(fd, 10, 0) == b""
        os.ftruncate(fd, 3)
        assert os.pread(fd, 10, 0) == b"\0\0\0"
        os.ftruncate(fd, 3)          # same size: no change, no error
        assert os.fstat(fd).st_size == 3
    finally:
        os.close(fd)
    assert read_file(p) == b"\0\0\0"


def test_truncate_errors(d):
    p = os.path.join(d, "f")
    write_file(p, b"abc")
    raises_errno(errno.ENOENT, os.truncate, os.path.join(d, "missing"), 0)
    raises_errno(errno.EISDIR, os.truncate, d, 0)
    raises_errno(errno.EINVAL, os.truncate, p, -1)
    fd = os.open(p, os.O_RDONLY)
    try:
        raises_errno(errno.EINVAL, os.ftruncate, fd, 0)
    finally:
        os.close(fd)
    assert read_file(p) == b"abc"


def test_truncate_then_extend_reads_zeros(d):
    p = os.path.join(d, "f")
    write_file(p, b"A" * 8192)
    os.truncate(p, 10)
    os.truncate(p, 8192)
    assert read_file(p) == b"A" * 10 + bytes(8182)
    # and extension by a write past EOF
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 5)
        assert os.pwrite(fd, b"Z", 20000) == 1
    finally:
        os.close(fd)
    assert read_file(p) == b"A" * 5 + bytes(19995) + b"Z"
    assert os.stat(p).st_size == 20001


def test_utime_sets_exact_ns(d):
    tol = time_tolerance_ns(d)
    p = os.path.join(d, "f")
    write_file(p, b"x")
    a, m = 1_000_000_000_123_456_789, 1_500_000_000_987_654_321
    os.utime(p, ns=(a, m))
    st = os.stat(p)
    assert_time(st.st_atime_ns, a, tol, "atime")
    assert_time(st.st_mtime_ns, m, tol, "mtime")
    fd = os.open(p, os.O_RDONLY)
    try:
        os.utime(fd, ns=(a + 1, m + 1))           # futimens
        st = os.fstat(fd)
    finally:
        os.close(fd)
    assert_time(st.st_atime_ns, a + 1, tol, "atime via fd")
    assert_time(st.st_mtime_ns, m + 1, tol, "mtime via fd")
    dd = os.path.join(d, "dir")
    os.mkdir(dd)
    os.utime(dd, ns=(a, m))
    assert_time(os.stat(dd).st_mtime_ns, m, tol, "dir mtime")
    raises_errno(errno.ENOENT, os.utime, os.path.join(d, "missing"), ns=(a, m))


def test_utime_after_2038(d):
    tol = time_tolerance_ns(d)
    p = os.path.join(d, "f")
    write_file(p, b"x")
    t = 4_000_000_000 * 10**9 + 5         # 2096, fits NFSv3's uint32 seconds
    os.utime(p, ns=(t, t))
    st = os.stat(p)
    assert_time(st.st_mtime_ns, t, tol, "mtime")
    assert_time(st.st_atime_ns, t, tol, "atime")


def test_utime_none_sets_both_to_now(d):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    old = 1_000_000_000 * 10**9
    os.utime(p, ns=(old, old))
    before = time.time_ns()
    os.utime(p)                                 # times=None: UTIME_NOW x2
    after = time.time_ns()
    st = os.stat(p)
    assert_now(st.st_atime_ns, before, after, "atime")
    assert_now(st.st_mtime_ns, before, after, "mtime")


def test_utimensat_now_and_omit_per_field(d):
    tol = time_tolerance_ns(d)
    p = os.path.join(d, "f")
    write_file(p, b"x")
    a, m = 1_100_000_000_000_000_111, 1_200_000_000_000_000_222
    utimensat(p, a, m)
    utimensat(p, "omit", m + 5)
    st = os.stat(p)
    assert_time(st.st_atime_ns, a, tol, "atime kept (omit)")
    assert_time(st.st_mtime_ns, m + 5, tol, "mtime set")
    before = time.time_ns()
    utimensat(p, "now", "omit")
    after = time.time_ns()
    st = os.stat(p)
    assert_now(st.st_atime_ns, before, after, "atime now")
    assert_time(st.st_mtime_ns, m + 5, tol, "mtime kept (omit)")
    utimensat(p, a, "now")
    after = time.time_ns()
    st = os.stat(p)
    assert_time(st.st_atime_ns, a, tol, "atime set")
    assert_now(st.st_mtime_ns, before, after, "mtime now")
    saved = (st.st_atime_ns, st.st_mtime_ns)
    utimensat(p, "omit", "omit")
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == saved


# --------------------------------------------------------------------------
# times changed by other operations
# --------------------------------------------------------------------------

OLD = 1_000_000_000 * 10**9   # 2001-09-09


def test_write_updates_mtime_and_ctime(d):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.utime(p, ns=(OLD, OLD))
    before = time.time_ns()
    fd = os.open(p, os.O_WRONLY)
    try:
        os.write(fd, b"more")
        st_open = os.fstat(fd)
    finally:
        os.close(fd)
    after = time.time_ns()
    st = os.stat(p)
    assert_now(st_open.st_mtime_ns, before, after, "mtime via fstat")
    assert_now(st.st_mtime_ns, before, after, "mtime")
    assert_now(st.st_ctime_ns, before, after, "ctime")


def test_truncate_updates_mtime(d):
    p = os.path.join(d, "f")
    write_file(p, b"12345")
    os.utime(p, ns=(OLD, OLD))
    before = time.time_ns()
    os.truncate(p, 2)
    assert_now(os.stat(p).st_mtime_ns, before, time.time_ns(), "mtime")
    os.utime(p, ns=(OLD, OLD))
    before = time.time_ns()
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert_now(os.stat(p).st_mtime_ns, before, time.time_ns(),
               "mtime after O_TRUNC")


def test_chmod_updates_ctime_not_mtime(d):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.utime(p, ns=(OLD, OLD))
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.05)
    before = time.time_ns()
    os.chmod(p, 0o600)
    st = os.stat(p)
    assert st.st_ctime_ns > c0
    assert_now(st.st_ctime_ns, before, time.time_ns(), "ctime")
    assert st.st_mtime_ns == OLD


def test_directory_mtime_follows_entries(d):
    a = os.path.join(d, "a")
    os.mkdir(a)
    steps = [
        ("create", lambda: write_file(os.path.join(a, "f"), b"")),
        ("rename", lambda: os.rename(os.path.join(a, "f"),
                                     os.path.join(a, "g"))),
        ("mkdir", lambda: os.mkdir(os.path.join(a, "sub"))),
        ("rmdir", lambda: os.rmdir(os.path.join(a, "sub"))),
        ("unlink", lambda: os.unlink(os.path.join(a, "g"))),
    ]
    for what, op in steps:
        os.utime(a, ns=(OLD, OLD))
        before = time.time_ns()
        op()
        st = os.stat(a)
        assert_now(st.st_mtime_ns, before, time.time_ns(), "dir mtime after " + what)


# --------------------------------------------------------------------------
# symlink / readlink
# --------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "f", "../x", "/nonexistent/abs/path", "with space", "ünïcødé✓",
    "a/b/c/" * 100, "t" * 1023], ids=lambda t: "len%d" % len(t.encode()))
def test_symlink_readlink(d, target):
    l = os.path.join(d, "link")
    os.symlink(target, l)
    assert os.readlink(l) == target
    st = os.lstat(l)
    assert stat.S_ISLNK(st.st_mode)
    assert st.st_size == len(os.fsencode(target))
    assert st.st_nlink == 1
    assert sorted(os.listdir(d)) == ["link"]


def on_ofsrep(path):
    """True if @path lies on an ofsrep mount (longest mount prefix)."""
    best, fstype = "", ""
    real = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            mp = fields[1]
            if (real == mp or real.startswith(mp.rstrip("/") + "/")) \
                    and len(mp) > len(best):
                best, fstype = mp, fields[2]
    return fstype == "fuse.ofsrep"


# ofsrep's documented limit (docs/ofsrep.8, fs/ops_entry.c FS_SYMLINK_MAX):
# libnfs 4.0 cannot encode longer SYMLINK calls.
OFSREP_SYMLINK_MAX = 3584


def test_symlink_max_target_length(d):
    limit = OFSREP_SYMLINK_MAX if on_ofsrep(d) else 4095
    l = os.path.join(d, "long")
    os.symlink("x" * limit, l)
    assert os.readlink(l) == "x" * limit
    assert os.lstat(l).st_size == limit
    raises_errno(errno.ENAMETOOLONG, os.symlink, "x" * (limit + 1),
                 os.path.join(d, "toolong"))
    raises_errno(errno.ENAMETOOLONG, os.symlink, "x" * 4096,
                 os.path.join(d, "toolong"))
    assert os.listdir(d) == ["long"]


def test_symlink_follow_and_dangling(d):
    write_file(os.path.join(d, "f"), b"target data")
    os.mkdir(os.path.join(d, "dir"))
    write_file(os.path.join(d, "dir", "inner"), b"inner")
    os.symlink("f", os.path.join(d, "lf"))
    os.symlink("dir", os.path.join(d, "ld"))
    os.symlink("nowhere", os.path.join(d, "dangling"))
    assert read_file(os.path.join(d, "lf")) == b"target data"
    assert os.stat(os.path.join(d, "lf")).st_size == 11
    assert os.stat(os.path.join(d, "lf")).st_ino == \
        os.stat(os.path.join(d, "f")).st_ino
    assert read_file(os.path.join(d, "ld", "inner")) == b"inner"
    assert sorted(os.listdir(os.path.join(d, "ld"))) == ["inner"]
    raises_errno(errno.ENOENT, os.stat, os.path.join(d, "dangling"))
    assert stat.S_ISLNK(os.lstat(os.path.join(d, "dangling")).st_mode)
    # writing through a dangling symlink creates its target
    write_file(os.path.join(d, "dangling"), b"made")
    assert read_file(os.path.join(d, "nowhere")) == b"made"


def test_symlink_readlink_errors(d):
    write_file(os.path.join(d, "f"), b"")
    os.symlink("f", os.path.join(d, "l"))
    raises_errno(errno.EEXIST, os.symlink, "x", os.path.join(d, "f"))
    raises_errno(errno.EEXIST, os.symlink, "x", os.path.join(d, "l"))
    raises_errno(errno.ENOENT, os.symlink, "x", os.path.join(d, "no", "l"))
    raises_errno(errno.EINVAL, os.readlink, os.path.join(d, "f"))
    raises_errno(errno.EINVAL, os.readlink, d)
    raises_errno(errno.ENOENT, os.readlink, os.path.join(d, "missing"))
    assert os.readlink(os.path.join(d, "l")) == "f"


def test_symlink_loop(d):
    os.symlink("b", os.path.join(d, "a"))
    os.symlink("a", os.path.join(d, "b"))
    raises_errno(errno.ELOOP, os.stat, os.path.join(d, "a"))
    raises_errno(errno.ELOOP, os.open, os.path.join(d, "a"), os.O_RDONLY)
    raises_errno(errno.ELOOP, os.open, os.path.join(d, "a"),
                 os.O_WRONLY | os.O_CREAT)


# --------------------------------------------------------------------------
# mknod: fifo, socket, devices, regular
# --------------------------------------------------------------------------

def test_mkfifo(d):
    p = os.path.join(d, "fifo")
    os.mkfifo(p, 0o640)
    st = os.stat(p)
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_size == 0
    raises_errno(errno.EEXIST, os.mkfifo, p)
    # a fifo on the mount is a working pipe
    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(w, b"through the pipe")
        assert os.read(r, 100) == b"through the pipe"
    finally:
        os.close(w)
        os.close(r)
    raises_errno(errno.ENXIO, os.open, p, os.O_WRONLY | os.O_NONBLOCK)
    os.unlink(p)
    assert os.listdir(d) == []


def test_unix_socket_bind(d):
    # sun_path holds 107 bytes: bind by a name relative to d
    old = os.getcwd()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chdir(d)
        s.bind("sock")
        with pytest.raises(OSError) as ei:
            s2.bind("sock")
        assert ei.value.errno == errno.EADDRINUSE
    finally:
        os.chdir(old)
        s.close()
        s2.close()
    st = os.lstat(os.path.join(d, "sock"))
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_nlink == 1
    os.unlink(os.path.join(d, "sock"))
    assert os.listdir(d) == []


@pytest.mark.parametrize("kind,major,minor", [
    (stat.S_IFCHR, 1, 3), (stat.S_IFBLK, 8, 1), (stat.S_IFCHR, 300, 70000)],
    ids=["chr-1-3", "blk-8-1", "chr-300-70000"])
def test_mknod_device(d, kind, major, minor):
    p = os.path.join(d, "dev")
    os.mknod(p, kind | 0o640, os.makedev(major, minor))
    st = os.lstat(p)
    assert stat.S_IFMT(st.st_mode) == kind
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    raises_errno(errno.EEXIST, os.mknod, p, kind | 0o600, os.makedev(1, 3))


def test_mknod_regular_and_errors(d):
    p = os.path.join(d, "reg")
    os.mknod(p, stat.S_IFREG | 0o600)
    st = os.stat(p)
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    assert stat.S_IMODE(st.st_mode) == 0o600
    raises_errno(errno.EEXIST, os.mknod, p, stat.S_IFREG | 0o600)
    raises_errno(errno.ENOENT, os.mknod, os.path.join(d, "no", "x"),
                 stat.S_IFIFO | 0o600)
    raises_errno(errno.ENOTDIR, os.mknod, os.path.join(p, "x"),
                 stat.S_IFIFO | 0o600)


# --------------------------------------------------------------------------
# mkdir / rmdir / unlink
# --------------------------------------------------------------------------

def test_mkdir_and_errors(d):
    a = os.path.join(d, "a")
    os.mkdir(a, 0o700)
    assert stat.S_IMODE(os.stat(a).st_mode) == 0o700
    assert os.listdir(a) == []
    os.mkdir(os.path.join(a, "b"))
    assert stat.S_IMODE(os.stat(os.path.join(a, "b")).st_mode) == 0o755
    raises_errno(errno.EEXIST, os.mkdir, a)
    write_file(os.path.join(d, "f"), b"")
    raises_errno(errno.EEXIST, os.mkdir, os.path.join(d, "f"))
    os.symlink("nowhere", os.path.join(d, "dangling"))
    raises_errno(errno.EEXIST, os.mkdir, os.path.join(d, "dangling"))
    raises_errno(errno.ENOENT, os.mkdir, os.path.join(d, "x", "y"))
    raises_errno(errno.ENOTDIR, os.mkdir, os.path.join(d, "f", "y"))
    assert not os.path.lexists(os.path.join(d, "nowhere"))


def test_rmdir_and_errors(d):
    a = os.path.join(d, "a")
    os.mkdir(a)
    write_file(os.path.join(a, "f"), b"")
    raises_errno(errno.ENOTEMPTY, os.rmdir, a)
    raises_errno(errno.ENOTDIR, os.rmdir, os.path.join(a, "f"))
    raises_errno(errno.ENOENT, os.rmdir, os.path.join(d, "missing"))
    raises_errno(errno.EINVAL, os.rmdir, os.path.join(a, "."))
    os.mkdir(os.path.join(d, "target"))
    os.symlink("target", os.path.join(d, "ldir"))
    raises_errno(errno.ENOTDIR, os.rmdir, os.path.join(d, "ldir"))
    assert os.path.isdir(a) and os.path.isdir(os.path.join(d, "target"))
    os.unlink(os.path.join(a, "f"))
    os.rmdir(a)
    raises_errno(errno.ENOENT, os.stat, a)
    assert sorted(os.listdir(d)) == ["ldir", "target"]


def test_unlink_and_errors(d):
    f = os.path.join(d, "f")
    write_file(f, b"x")
    os.symlink("f", os.path.join(d, "l"))
    os.mkdir(os.path.join(d, "dir"))
    os.unlink(os.path.join(d, "l"))                  # the link, not its target
    assert read_file(f) == b"x"
    raises_errno(errno.EISDIR, os.unlink, os.path.join(d, "dir"))
    raises_errno(errno.ENOENT, os.unlink, os.path.join(d, "missing"))
    raises_errno(errno.ENOTDIR, os.unlink, os.path.join(f, "x"))
    os.unlink(f)
    raises_errno(errno.ENOENT, os.stat, f)
    raises_errno(errno.ENOENT, os.unlink, f)
    assert os.listdir(d) == ["dir"]


# --------------------------------------------------------------------------
# link
# --------------------------------------------------------------------------

def test_hard_link_shares_inode_and_counts(d):
    f, g, h = (os.path.join(d, n) for n in ("f", "g", "h"))
    os.mkdir(os.path.join(d, "sub"))
    write_file(f, b"one")
    os.link(f, g)
    sf, sg = os.stat(f), os.stat(g)
    assert sf.st_ino == sg.st_ino
    assert sf.st_nlink == sg.st_nlink == 2
    os.link(g, os.path.join(d, "sub", "h2"))
    assert os.stat(f).st_nlink == 3
    write_file(g, b"two")                       # O_TRUNC through the other name
    assert read_file(f) == b"two"
    assert read_file(os.path.join(d, "sub", "h2")) == b"two"
    os.unlink(f)
    assert os.stat(g).st_nlink == 2
    os.link(g, h)
    assert os.stat(h).st_nlink == 3
    os.unlink(g)
    os.unlink(os.path.join(d, "sub", "h2"))
    st = os.stat(h)
    assert st.st_nlink == 1 and st.st_ino == sf.st_ino
    assert read_file(h) == b"two"


def test_link_errors(d):
    f = os.path.join(d, "f")
    write_file(f, b"x")
    write_file(os.path.join(d, "g"), b"y")
    os.mkdir(os.path.join(d, "dir"))
    raises_errno(errno.EPERM, os.link, os.path.join(d, "dir"),
                 os.path.join(d, "dirlink"))
    raises_errno(errno.EEXIST, os.link, f, os.path.join(d, "g"))
    raises_errno(errno.EEXIST, os.link, f, os.path.join(d, "dir"))
    raises_errno(errno.ENOENT, os.link, os.path.join(d, "missing"),
                 os.path.join(d, "new"))
    raises_errno(errno.ENOENT, os.link, f, os.path.join(d, "no", "new"))
    assert os.stat(f).st_nlink == 1
    assert read_file(os.path.join(d, "g")) == b"y"
    assert sorted(os.listdir(d)) == ["dir", "f", "g"]


def test_hard_link_to_symlink(d):
    os.symlink("target", os.path.join(d, "l"))
    os.link(os.path.join(d, "l"), os.path.join(d, "l2"), follow_symlinks=False)
    a, b = os.lstat(os.path.join(d, "l")), os.lstat(os.path.join(d, "l2"))
    assert stat.S_ISLNK(b.st_mode)
    assert a.st_ino == b.st_ino and b.st_nlink == 2
    assert os.readlink(os.path.join(d, "l2")) == "target"


# --------------------------------------------------------------------------
# rename
# --------------------------------------------------------------------------

def test_rename_file(d):
    f, g = os.path.join(d, "f"), os.path.join(d, "g")
    write_file(f, b"content")
    ino = os.stat(f).st_ino
    os.mkdir(os.path.join(d, "sub"))
    os.rename(f, g)
    assert os.listdir(d).count("g") == 1 and "f" not in os.listdir(d)
    assert os.stat(g).st_ino == ino and read_file(g) == b"content"
    os.rename(g, os.path.join(d, "sub", "h"))
    assert os.stat(os.path.join(d, "sub", "h")).st_ino == ino
    assert sorted(os.listdir(d)) == ["sub"]
    os.rename(os.path.join(d, "sub", "h"), os.path.join(d, "sub", "h"))
    assert os.listdir(os.path.join(d, "sub")) == ["h"]


def test_rename_file_over_existing_file(d):
    f, g = os.path.join(d, "f"), os.path.join(d, "g")
    write_file(f, b"new")
    write_file(g, b"old old")
    ino = os.stat(f).st_ino
    os.rename(f, g)
    st = os.stat(g)
    assert st.st_ino == ino and st.st_nlink == 1 and st.st_size == 3
    assert read_file(g) == b"new"
    assert os.listdir(d) == ["g"]


def test_rename_hard_links_of_same_inode_is_noop(d):
    f, g = os.path.join(d, "f"), os.path.join(d, "g")
    write_file(f, b"x")
    os.link(f, g)
    os.rename(f, g)              # POSIX: same file, do nothing
    assert sorted(os.listdir(d)) == ["f", "g"]
    assert os.stat(f).st_nlink == 2


def test_rename_dir_over_empty_dir(d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    os.mkdir(a)
    os.mkdir(b)
    write_file(os.path.join(a, "f"), b"in a")
    ino = os.stat(a).st_ino
    os.rename(a, b)
    assert os.listdir(d) == ["b"]
    assert os.stat(b).st_ino == ino
    assert read_file(os.path.join(b, "f")) == b"in a"
    assert os.stat(d).st_nlink == 3


def test_rename_dir_over_nonempty_dir_fails(d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    os.mkdir(a)
    os.mkdir(b)
    write_file(os.path.join(b, "keep"), b"keep")
    raises_errno((errno.ENOTEMPTY, errno.EEXIST), os.rename, a, b)
    assert sorted(os.listdir(d)) == ["a", "b"]
    assert os.listdir(b) == ["keep"] and read_file(os.path.join(b, "keep")) == b"keep"


def test_rename_type_mismatch_and_own_subdir(d):
    f = os.path.join(d, "f")
    a = os.path.join(d, "a")
    write_file(f, b"x")
    os.makedirs(os.path.join(a, "sub"))
    raises_errno(errno.EISDIR, os.rename, f, a)
    raises_errno(errno.ENOTDIR, os.rename, a, f)
    raises_errno(errno.EINVAL, os.rename, a, os.path.join(a, "sub", "a"))
    raises_errno(errno.EINVAL, os.rename, a, os.path.join(a, "x"))
    raises_errno(errno.ENOENT, os.rename, os.path.join(d, "missing"),
                 os.path.join(d, "y"))
    raises_errno(errno.ENOENT, os.rename, f, os.path.join(d, "no", "y"))
    raises_errno(errno.ENOTDIR, os.rename, f, os.path.join(f, "y"))
    raises_errno(errno.ENAMETOOLONG, os.rename, f, os.path.join(d, "n" * 256))
    assert sorted(os.listdir(d)) == ["a", "f"]
    assert os.listdir(a) == ["sub"]
    assert read_file(f) == b"x"


def test_rename_dir_moves_dotdot_and_link_counts(d):
    for n in ("a", "b"):
        os.mkdir(os.path.join(d, n))
    os.mkdir(os.path.join(d, "a", "sub"))
    assert os.stat(os.path.join(d, "a")).st_nlink == 3
    os.rename(os.path.join(d, "a", "sub"), os.path.join(d, "b", "sub"))
    assert os.stat(os.path.join(d, "a")).st_nlink == 2
    assert os.stat(os.path.join(d, "b")).st_nlink == 3
    assert os.stat(os.path.join(d, "b", "sub", "..")).st_ino == \
        os.stat(os.path.join(d, "b")).st_ino


def test_rename_symlink_keeps_target(d):
    os.symlink("some/where", os.path.join(d, "l"))
    os.mkdir(os.path.join(d, "sub"))
    os.rename(os.path.join(d, "l"), os.path.join(d, "sub", "m"))
    assert os.readlink(os.path.join(d, "sub", "m")) == "some/where"
    assert sorted(os.listdir(d)) == ["sub"]


def test_rename_directory_with_open_file_below(d):
    a = os.path.join(d, "a")
    os.mkdir(a)
    fd = os.open(os.path.join(a, "f"), os.O_CREAT | os.O_RDWR, 0o644)
    dfd = os.open(a, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.write(fd, b"before;")
        os.rename(a, os.path.join(d, "b"))
        os.write(fd, b"after")
        os.fsync(fd)
        assert os.fstat(fd).st_nlink == 1
        assert os.pread(fd, 100, 0) == b"before;after"
        # handle-relative operations through the moved directory
        assert os.listdir(dfd) == ["f"]
        g = os.open("g", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=dfd)
        os.close(g)
    finally:
        os.close(fd)
        os.close(dfd)
    assert os.listdir(d) == ["b"]
    assert sorted(os.listdir(os.path.join(d, "b"))) == ["f", "g"]
    assert read_file(os.path.join(d, "b", "f")) == b"before;after"


def test_rename_over_open_file(d):
    x, y = os.path.join(d, "x"), os.path.join(d, "y")
    write_file(x, b"old content")
    write_file(y, b"new")
    fr = os.open(x, os.O_RDONLY)
    fw = os.open(x, os.O_RDWR)
    try:
        os.rename(y, x)
        assert os.pread(fr, 100, 0) == b"old content"
        assert os.fstat(fr).st_nlink == 0
        os.pwrite(fw, b"OLD", 0)        # goes to the replaced file only
        assert os.pread(fr, 100, 0) == b"OLD content"
        assert read_file(x) == b"new"
        assert os.listdir(d) == ["x"]
    finally:
        os.close(fr)
        os.close(fw)
    assert os.listdir(d) == ["x"]
    assert read_file(x) == b"new"


# --------------------------------------------------------------------------
# open / create
# --------------------------------------------------------------------------

def test_create_exclusive(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.write(fd, b"first")
    os.close(fd)
    raises_errno(errno.EEXIST, os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    raises_errno(errno.EEXIST, os.open, d, os.O_CREAT | os.O_EXCL | os.O_RDONLY)
    os.symlink("target", os.path.join(d, "dangling"))
    raises_errno(errno.EEXIST, os.open, os.path.join(d, "dangling"),
                 os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    assert not os.path.lexists(os.path.join(d, "target"))
    assert read_file(p) == b"first"


def test_open_creat_existing_keeps_content_and_mode(d):
    p = os.path.join(d, "f")
    write_file(p, b"keep me", 0o600)
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o777)
    os.close(fd)
    assert read_file(p) == b"keep me"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_open_trunc(d):
    p = os.path.join(d, "f")
    write_file(p, b"x" * 5000)
    ino = os.stat(p).st_ino
    fd = os.open(p, os.O_RDWR | os.O_TRUNC)
    try:
        assert os.fstat(fd).st_size == 0
        assert os.read(fd, 10) == b""
        os.write(fd, b"short")
    finally:
        os.close(fd)
    assert read_file(p) == b"short" and os.stat(p).st_ino == ino


def test_open_append(d):
    p = os.path.join(d, "f")
    write_file(p, b"abc")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"def")
        assert os.lseek(fd, 0, os.SEEK_CUR) == 6
        os.pwrite(fd, b"ghi", 0)     # Linux: O_APPEND wins over the offset
    finally:
        os.close(fd)
    assert read_file(p) == b"abcdefghi"
    # an appender sees another writer's growth
    fa = os.open(p, os.O_WRONLY | os.O_APPEND)
    fb = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fb, b"0123456789", 9)
        os.write(fa, b"!")
    finally:
        os.close(fa)
        os.close(fb)
    assert read_file(p) == b"abcdefghi0123456789!"


def test_open_errors(d):
    f = os.path.join(d, "f")
    write_file(f, b"")
    raises_errno(errno.ENOENT, os.open, os.path.join(d, "missing"), os.O_RDONLY)
    raises_errno(errno.ENOENT, os.open, os.path.join(d, "no", "f"),
                 os.O_CREAT | os.O_WRONLY)
    raises_errno(errno.EISDIR, os.open, d, os.O_WRONLY)
    raises_errno(errno.EISDIR, os.open, d, os.O_RDWR)
    raises_errno(errno.EISDIR, os.open, d, os.O_CREAT | os.O_WRONLY)
    raises_errno(errno.ENOTDIR, os.open, f, os.O_RDONLY | os.O_DIRECTORY)
    raises_errno(errno.ENOTDIR, os.open, os.path.join(f, "x"), os.O_RDONLY)
    raises_errno(errno.ENAMETOOLONG, os.open, os.path.join(d, "n" * 256),
                 os.O_CREAT | os.O_WRONLY)
    assert os.listdir(d) == ["f"]


def test_umask_applies_to_create_and_mkdir(d):
    old = os.umask(0o027)
    try:
        fd = os.open(os.path.join(d, "f"), os.O_CREAT | os.O_WRONLY, 0o666)
        os.close(fd)
        os.mkdir(os.path.join(d, "dir"), 0o777)
        os.mkfifo(os.path.join(d, "fifo"), 0o666)
        os.umask(0)
        fd = os.open(os.path.join(d, "g"), os.O_CREAT | os.O_WRONLY, 0o666)
        os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(d, "f")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(os.path.join(d, "dir")).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(os.path.join(d, "fifo")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(os.path.join(d, "g")).st_mode) == 0o666


def test_create_in_setgid_directory_inherits_group(d):
    a = os.path.join(d, "shared")
    os.mkdir(a)
    os.chown(a, 0, 1000)
    os.chmod(a, 0o2775)
    write_file(os.path.join(a, "f"), b"")
    os.mkdir(os.path.join(a, "sub"))
    st_f, st_s = os.stat(os.path.join(a, "f")), os.stat(os.path.join(a, "sub"))
    assert (st_f.st_uid, st_f.st_gid) == (0, 1000)
    assert (st_s.st_uid, st_s.st_gid) == (0, 1000)
    assert st_s.st_mode & stat.S_ISGID


# --------------------------------------------------------------------------
# read / write / flush / fsync
# --------------------------------------------------------------------------

def test_pread_pwrite_at_offsets(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        assert os.pwrite(fd, b"AAAA", 0) == 4
        assert os.pwrite(fd, b"BBBB", 100) == 4
        assert os.pwrite(fd, b"CCCC", 5000) == 4
        assert os.fstat(fd).st_size == 5004
        assert os.stat(p).st_size == 5004      # visible before close
        assert os.pread(fd, 4, 100) == b"BBBB"
        assert os.pread(fd, 10, 5000) == b"CCCC"          # short at EOF
        assert os.pread(fd, 10, 5004) == b""
        assert os.pread(fd, 10, 1 << 40) == b""
        assert os.pread(fd, 96, 4) == bytes(96)
        assert os.pwrite(fd, b"xy", 2) == 2                # overlap
        assert os.pread(fd, 6, 0) == b"AAxy\0\0"
    finally:
        os.close(fd)
    expect = b"AAxy" + bytes(96) + b"BBBB" + bytes(4896) + b"CCCC"
    assert read_file(p) == expect


def test_sequential_write_read_and_seek(d):
    p = os.path.join(d, "f")
    data = pattern(300000)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        for i in range(0, len(data), 7001):          # unaligned pieces
            assert os.write(fd, data[i:i + 7001]) == len(data[i:i + 7001])
        assert os.lseek(fd, 0, os.SEEK_CUR) == len(data)
        assert os.lseek(fd, -10, os.SEEK_END) == len(data) - 10
        assert os.read(fd, 100) == data[-10:]
        os.lseek(fd, 12345, os.SEEK_SET)
        assert os.read(fd, 4321) == data[12345:12345 + 4321]
        os.lseek(fd, 1000, os.SEEK_SET)
        os.write(fd, b"#" * 3)
        assert os.pread(fd, 5, 999) == data[999:1000] + b"###" + data[1003:1004]
    finally:
        os.close(fd)
    assert read_file(p) == data[:1000] + b"###" + data[1003:]


def test_two_descriptors_are_coherent(d):
    p = os.path.join(d, "f")
    write_file(p, b"")
    a = os.open(p, os.O_RDWR)
    b = os.open(p, os.O_RDWR)
    try:
        os.pwrite(a, b"hello", 0)
        assert os.pread(b, 100, 0) == b"hello"
        assert os.fstat(b).st_size == 5
        os.pwrite(b, b"J", 0)
        assert os.pread(a, 100, 0) == b"Jello"
        os.ftruncate(b, 2)
        assert os.pread(a, 100, 0) == b"Je"
    finally:
        os.close(a)
        os.close(b)


def test_read_write_errors(d):
    p = os.path.join(d, "f")
    write_file(p, b"data")
    fd = os.open(p, os.O_RDONLY)
    try:
        raises_errno(errno.EBADF, os.write, fd, b"x")
    finally:
        os.close(fd)
    fd = os.open(p, os.O_WRONLY)
    try:
        raises_errno(errno.EBADF, os.read, fd, 1)
    finally:
        os.close(fd)
    fd = os.open(d, os.O_RDONLY)
    try:
        raises_errno(errno.EISDIR, os.read, fd, 1)
    finally:
        os.close(fd)
    assert read_file(p) == b"data"


def test_large_io_8mib_in_1mib_chunks(d):
    p = os.path.join(d, "big")
    chunks = [pattern(MiB, seed=i * 100000) for i in range(8)]
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        for c in chunks:
            assert os.write(fd, c) == MiB
    finally:
        os.close(fd)
    assert os.stat(p).st_size == 8 * MiB
    fd = os.open(p, os.O_RDONLY)
    try:
        for i, c in enumerate(chunks):
            got = os.pread(fd, MiB, i * MiB)
            assert len(got) == MiB and sha(got) == sha(c), "chunk %d" % i
        # unaligned read across chunk boundaries
        got = os.pread(fd, MiB + 4096, 3 * MiB - 2048)
        assert got == chunks[2][-2048:] + chunks[3] + chunks[4][:2048]
    finally:
        os.close(fd)
    assert sha(read_file(p)) == sha(b"".join(chunks))


def test_large_io_single_4mib_write(d):
    p = os.path.join(d, "big")
    data = pattern(4 * MiB, seed=7)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        assert os.write(fd, data) == 4 * MiB
        assert os.fstat(fd).st_size == 4 * MiB
        got = os.pread(fd, 4 * MiB, 0)
    finally:
        os.close(fd)
    assert len(got) == 4 * MiB and sha(got) == sha(data)
    assert sha(read_file(p)) == sha(data)


@pytest.mark.parametrize("size", [512 * 1024 - 1, 512 * 1024,
                                  512 * 1024 + 1, MiB - 4095, MiB + 1,
                                  3 * MiB + 12345])
def test_large_requests_across_part_boundaries_and_eof(d, size):
    """Requests of 512 KiB and more go out as parallel NFS calls
    (fs/parts.c): the bytes must come back in place whatever the split,
    and a read reaching past EOF must stop exactly at it."""
    p = os.path.join(d, "f")
    data = pattern(size, seed=size)
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        assert os.write(fd, data) == size
    finally:
        os.close(fd)
    fd = os.open(p, os.O_RDONLY)     # a new open: the kernel's cache goes
    try:
        for off in (0, 4096, max(0, size - 700 * 1024), size - 1, size):
            got = os.pread(fd, MiB, off)
            assert got == data[off:off + MiB], (size, off, len(got))
    finally:
        os.close(fd)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        return                      # a filesystem without O_DIRECT
    try:
        buf = mmap.mmap(-1, 2 * MiB)    # page-aligned, as O_DIRECT wants
        off = (size // 4096) * 4096 - MiB if size > MiB else 0
        n = os.preadv(fd, [buf], off)
        assert n == size - off, (size, off, n)
        assert buf[:n] == data[off:], (size, off)
    finally:
        os.close(fd)
    assert sha(read_file(p)) == sha(data)


def test_fsync_fdatasync_and_close(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        os.write(fd, b"+data")
        os.fdatasync(fd)
        assert os.fstat(fd).st_size == 12
    finally:
        os.close(fd)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)                 # allowed on a read-only descriptor
        os.fdatasync(fd)
        assert os.read(fd, 100) == b"durable+data"
    finally:
        os.close(fd)


def test_fsync_directory(d):
    write_file(os.path.join(d, "f"), b"x")
    os.mkdir(os.path.join(d, "sub"))
    for path in (d, os.path.join(d, "sub")):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
            os.fdatasync(fd)
        finally:
            os.close(fd)
    assert sorted(os.listdir(d)) == ["f", "sub"]


def test_dup_descriptors_flush_twice(d):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    fd2 = os.dup(fd)
    os.write(fd, b"first,")
    os.close(fd)                      # flush #1, file stays open
    os.write(fd2, b"second")
    assert os.fstat(fd2).st_size == 12
    os.close(fd2)                     # flush #2 + release
    assert read_file(p) == b"first,second"


# --------------------------------------------------------------------------
# readdir
# --------------------------------------------------------------------------

def test_readdir_empty(d):
    assert os.listdir(d) == []
    with os.scandir(d) as it:
        assert list(it) == []


def test_readdir_one_entry_types_and_inodes(d):
    write_file(os.path.join(d, "file"), b"x")
    assert os.listdir(d) == ["file"]
    os.mkdir(os.path.join(d, "dir"))
    os.symlink("file", os.path.join(d, "link"))
    os.mkfifo(os.path.join(d, "fifo"))
    seen = {}
    with os.scandir(d) as it:
        for e in it:
            seen[e.name] = (e.is_file(follow_symlinks=False),
                            e.is_dir(follow_symlinks=False),
                            e.is_symlink(), e.inode())
    assert set(seen) == {"file", "dir", "link", "fifo"}
    assert seen["file"][:3] == (True, False, False)
    assert seen["dir"][:3] == (False, True, False)
    assert seen["link"][:3] == (False, False, True)
    assert seen["fifo"][:3] == (False, False, False)
    for name, v in seen.items():
        assert v[3] == os.lstat(os.path.join(d, name)).st_ino, name


def test_readdir_1000_entries(d):
    names = set()
    for i in range(1000):
        name = "entry-%04d-%s" % (i, "x" * (i % 200))
        names.add(name)
        os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY, 0o644))
    first = os.listdir(d)
    assert len(first) == 1000 and set(first) == names
    with os.scandir(d) as it:
        second = [e.name for e in it]
    assert sorted(second) == sorted(first)


def test_readdir_while_unlinking_sees_every_entry_once(d):
    # the `rm -rf` pattern: remove entries while the directory stream is open
    n = 600
    for i in range(n):
        os.close(os.open(os.path.join(d, "f%04d" % i), os.O_CREAT | os.O_WRONLY))
    seen = []
    with os.scandir(d) as it:
        for e in it:
            seen.append(e.name)
            os.unlink(os.path.join(d, e.name))
    assert sorted(seen) == ["f%04d" % i for i in range(n)]
    assert os.listdir(d) == []


NAMES_OK = [
    "with space", " leading and trailing ", "ünïcødé ✓ 日本語", "emoji-😀",
    ".hidden", "...", "-dash", "semi;colon", "quote'\"", "back\\slash",
    "star*?<>|:", "new\nline", "tab\there", "%s" % ("n" * 255),
    "é" * 127 + "a",                       # 255 bytes of UTF-8
    "😀" * 63 + "abc",                     # 255 bytes of UTF-8
]


@pytest.mark.parametrize("name", NAMES_OK,
                         ids=lambda n: _safe_name(n)[:20] + "-%d" % len(n.encode()))
def test_names(d, name):
    p = os.path.join(d, name)
    write_file(p, name.encode())
    assert os.listdir(d) == [name]
    assert read_file(p) == name.encode()
    assert os.stat(p).st_size == len(name.encode())
    os.rename(p, os.path.join(d, "renamed"))
    assert os.listdir(d) == ["renamed"]
    os.rename(os.path.join(d, "renamed"), p)
    assert os.listdir(d) == [name]
    os.mkdir(os.path.join(d, "dir"))
    os.symlink(name, os.path.join(d, "dir", name))
    assert os.readlink(os.path.join(d, "dir", name)) == name
    assert sorted(os.listdir(d)) == sorted([name, "dir"])


def test_name_with_invalid_utf8_bytes(d):
    bd = os.fsencode(d)
    name = b"bad\xff\xfename"
    write_file(os.path.join(bd, name), b"raw")
    assert os.listdir(bd) == [name]
    assert read_file(os.path.join(bd, name)) == b"raw"


def test_name_too_long(d):
    long_ascii = "n" * 256
    long_utf8 = "é" * 128                   # 256 bytes
    write_file(os.path.join(d, "f"), b"")
    os.mkdir(os.path.join(d, "dir"))
    for name in (long_ascii, long_utf8):
        p = os.path.join(d, name)
        raises_errno(errno.ENAMETOOLONG, os.open, p, os.O_CREAT | os.O_WRONLY)
        raises_errno(errno.ENAMETOOLONG, os.stat, p)
        raises_errno(errno.ENAMETOOLONG, os.mkdir, p)
        raises_errno(errno.ENAMETOOLONG, os.symlink, "f", p)
        raises_errno(errno.ENAMETOOLONG, os.link, os.path.join(d, "f"), p)
        raises_errno(errno.ENAMETOOLONG, os.mkfifo, p)
        raises_errno(errno.ENAMETOOLONG, os.rename, os.path.join(d, "f"), p)
        raises_errno(errno.ENAMETOOLONG, os.rename, os.path.join(d, "dir"), p)
        raises_errno(errno.ENAMETOOLONG, os.unlink, p)
    assert sorted(os.listdir(d)) == ["dir", "f"]


# --------------------------------------------------------------------------
# statfs / access
# --------------------------------------------------------------------------

def test_statvfs_sane(d):
    s = os.statvfs(d)
    assert s.f_bsize > 0 and s.f_frsize > 0
    assert s.f_blocks > 0 and s.f_blocks * s.f_frsize >= 16 * MiB
    assert s.f_bfree <= s.f_blocks
    assert s.f_bavail <= s.f_bfree
    assert s.f_files > 0 and s.f_ffree <= s.f_files
    assert s.f_favail <= s.f_files
    assert s.f_namemax == NAME_MAX
    write_file(os.path.join(d, "f"), b"x")
    fd = os.open(os.path.join(d, "f"), os.O_RDONLY)
    try:
        fs = os.fstatvfs(fd)
    finally:
        os.close(fd)
    assert (fs.f_blocks, fs.f_frsize, fs.f_namemax) == \
        (s.f_blocks, s.f_frsize, s.f_namemax)


def test_access_as_root(d):
    f = os.path.join(d, "f")
    write_file(f, b"")
    os.chmod(f, 0o000)
    assert access_errno(f, os.F_OK) == 0
    assert access_errno(f, os.R_OK | os.W_OK) == 0       # root bypasses rw
    assert access_errno(f, os.X_OK) == errno.EACCES     # ... but not x
    os.chmod(f, 0o010)
    assert access_errno(f, os.X_OK) == 0                 # any x bit will do
    sub = os.path.join(d, "sub")
    os.mkdir(sub, 0o000)
    assert access_errno(sub, os.R_OK | os.W_OK | os.X_OK) == 0
    assert access_errno(os.path.join(d, "missing"), os.F_OK) == errno.ENOENT
    assert access_errno(os.path.join(f, "x"), os.F_OK) == errno.ENOTDIR
    # root reads and writes a mode-000 file
    fd = os.open(f, os.O_RDWR)
    try:
        os.write(fd, b"root")
    finally:
        os.close(fd)
    assert read_file(f) == b"root"


# --------------------------------------------------------------------------
# permissions and ownership for a non-root caller (uid/gid 65534)
# --------------------------------------------------------------------------

def _hardlink_denied():
    """link(2) to another user's file: fs.protected_hardlinks=1 refuses it
    (EPERM) before the directory's write permission is checked (EACCES)."""
    try:
        with open("/proc/sys/fs/protected_hardlinks") as f:
            return "EPERM" if f.read().strip() == "1" else "EACCES"
    except OSError:
        return "EACCES"


def test_nonroot_denied_on_root_owned_objects(d, nobody_ok):
    f = os.path.join(d, "rootfile")
    write_file(f, b"root data", 0o644)
    os.utime(f, ns=(OLD, OLD))
    r = as_nobody(r'''
R["open_w"] = t(os.open, V["f"], os.O_WRONLY)
R["open_rw"] = t(os.open, V["f"], os.O_RDWR)
R["open_trunc"] = t(os.open, V["f"], os.O_RDONLY | os.O_TRUNC)
R["read"] = t(read, V["f"])
R["truncate"] = t(os.truncate, V["f"], 0)
R["create"] = t(os.open, V["d"] + "/new", os.O_CREAT | os.O_WRONLY, 0o644)
R["mkdir"] = t(os.mkdir, V["d"] + "/newdir")
R["symlink"] = t(os.symlink, "x", V["d"] + "/newlink")
R["mkfifo"] = t(os.mkfifo, V["d"] + "/newfifo")
R["link"] = t(os.link, V["f"], V["d"] + "/newhard")
R["unlink"] = t(os.unlink, V["f"])
R["rename"] = t(os.rename, V["f"], V["d"] + "/moved")
R["chmod"] = t(os.chmod, V["f"], 0o666)
R["chown"] = t(os.chown, V["f"], 65534, 65534)
R["chgrp"] = t(os.chown, V["f"], -1, 65534)
R["utime_set"] = t(os.utime, V["f"], ns=(1, 1))
R["utime_now"] = t(os.utime, V["f"])
R["access_r"] = access(V["f"], os.R_OK)
R["access_w"] = access(V["f"], os.W_OK)
R["access_dir_w"] = access(V["d"], os.W_OK)
''', f=f, d=d)
    assert r == {
        "open_w": "EACCES", "open_rw": "EACCES", "open_trunc": "EACCES",
        "read": "root data", "truncate": "EACCES", "create": "EACCES",
        "mkdir": "EACCES", "symlink": "EACCES", "mkfifo": "EACCES",
        "link": _hardlink_denied(), "unlink": "EACCES", "rename": "EACCES",
        "chmod": "EPERM", "chown": "EPERM", "chgrp": "EPERM",
        "utime_set": "EPERM", "utime_now": "EACCES",
        "access_r": "ok", "access_w": "EACCES", "access_dir_w": "EACCES",
    }
    st = os.stat(f)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    assert st.st_mtime_ns == OLD
    assert read_file(f) == b"root data"
    assert os.listdir(d) == ["rootfile"]


def test_nonroot_creates_owned_by_caller_in_0777_dir(d, nobody_ok):
    pub = os.path.join(d, "pub")
    os.mkdir(pub)
    os.chmod(pub, 0o777)
    r = as_nobody(r'''
p = V["pub"]
R["create"] = t(os.open, p + "/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
R["write"] = t(write, p + "/f", "mine")
R["read"] = t(read, p + "/f")
R["mkdir"] = t(os.mkdir, p + "/d", 0o777)
R["symlink"] = t(os.symlink, "f", p + "/l")
R["mkfifo"] = t(os.mkfifo, p + "/fifo", 0o666)
R["chmod_own"] = t(os.chmod, p + "/f", 0o600)
R["utime_own"] = t(os.utime, p + "/f", ns=(1_000_000_000 * 10**9, 1_000_000_000 * 10**9))
R["chown_away"] = t(os.chown, p + "/f", 0, -1)
R["chgrp_foreign"] = t(os.chown, p + "/f", -1, 0)
R["rename_own"] = t(os.rename, p + "/fifo", p + "/fifo2")
R["stat_f"] = t(os.stat, p + "/f")
R["stat_d"] = t(os.stat, p + "/d")
R["stat_fifo"] = t(os.stat, p + "/fifo2")
R["lstat_l"] = t(os.lstat, p + "/l")
''', pub=pub)
    assert r == {
        "create": "ok", "write": "ok", "read": "mine", "mkdir": "ok",
        "symlink": "ok", "mkfifo": "ok", "chmod_own": "ok", "utime_own": "ok",
        "chown_away": "EPERM", "chgrp_foreign": "EPERM", "rename_own": "ok",
        "stat_f": [NOBODY, NOBODY, 0o600],
        "stat_d": [NOBODY, NOBODY, 0o755],
        "stat_fifo": [NOBODY, NOBODY, 0o644],
        "lstat_l": [NOBODY, NOBODY, 0o777],
    }
    for name in ("f", "d", "l", "fifo2"):
        st = os.lstat(os.path.join(pub, name))
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), name
    assert os.stat(os.path.join(pub, "f")).st_mtime_ns == OLD
    assert read_file(os.path.join(pub, "f")) == b"mine"


def test_nonroot_sticky_directory(d, nobody_ok):
    tmp = os.path.join(d, "tmp")
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)
    write_file(os.path.join(tmp, "roots"), b"shared")
    os.chmod(os.path.join(tmp, "roots"), 0o666)
    r = as_nobody(r'''
p = V["tmp"]
R["write_other"] = t(write, p + "/roots", "SHARED")
R["unlink_other"] = t(os.unlink, p + "/roots")
R["rename_other"] = t(os.rename, p + "/roots", p + "/mine")
R["create_own"] = t(os.open, p + "/own", os.O_CREAT | os.O_WRONLY, 0o644)
R["unlink_own"] = t(os.unlink, p + "/own")
''', tmp=tmp)
    assert r == {"write_other": "ok", "unlink_other": "EPERM",
                 "rename_other": "EPERM", "create_own": "ok",
                 "unlink_own": "ok"}
    assert os.listdir(tmp) == ["roots"]
    assert read_file(os.path.join(tmp, "roots")) == b"SHARED"


def test_nonroot_search_and_list_permission(d, nobody_ok):
    priv = os.path.join(d, "private")
    exe = os.path.join(d, "execonly")
    for p, mode in ((priv, 0o700), (exe, 0o711)):
        os.mkdir(p)
        os.chmod(p, mode)
        write_file(os.path.join(p, "f"), b"x", 0o644)
    r = as_nobody(r'''
R["priv_stat"] = t(os.stat, V["priv"] + "/f")
R["priv_list"] = t(os.listdir, V["priv"])
R["priv_access"] = access(V["priv"] + "/f", os.F_OK)
R["exe_stat"] = t(lambda p: os.stat(p).st_size, V["exe"] + "/f")
R["exe_read"] = t(read, V["exe"] + "/f")
R["exe_list"] = t(os.listdir, V["exe"])
''', priv=priv, exe=exe)
    assert r == {"priv_stat": "EACCES", "priv_list": "EACCES",
                 "priv_access": "EACCES", "exe_stat": 1, "exe_read": "x",
                 "exe_list": "EACCES"}


def test_nonroot_utime_now_needs_only_write_permission(d, nobody_ok):
    f = os.path.join(d, "f")
    write_file(f, b"x", 0o666)
    os.chmod(f, 0o666)
    os.utime(f, ns=(OLD, OLD))
    before = time.time_ns()
    r = as_nobody(r'''
R["now"] = t(os.utime, V["f"])
R["explicit"] = t(os.utime, V["f"], ns=(5, 5))
''', f=f)
    after = time.time_ns()
    assert r == {"now": "ok", "explicit": "EPERM"}
    st = os.stat(f)
    assert_now(st.st_mtime_ns, before, after, "mtime")
    assert_now(st.st_atime_ns, before, after, "atime")


# --------------------------------------------------------------------------
# concurrency: O_APPEND writers
# --------------------------------------------------------------------------

APPEND_WRITER = r'''
import os, sys
path, wid, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
sys.stdin.buffer.read(1)            # start together
for i in range(n):
    head = b"%02d:%06d:" % (wid, i)
    rec = head + bytes([65 + wid]) * (size - len(head) - 1) + b"\n"
    w = os.write(fd, rec)
    if w != size:
        sys.exit("short write %d" % w)
os.close(fd)
'''


def test_append_concurrent_writers_do_not_interleave(d):
    writers, records, size = 4, 250, 512
    p = os.path.join(d, "log")
    write_file(p, b"")
    procs = [subprocess.Popen(
        [CHILD_PY, "-c", APPEND_WRITER, p, str(w), str(records), str(size)],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        for w in range(writers)]
    for pr in procs:
        pr.stdin.write(b"g")
        pr.stdin.close()
    for pr in procs:
        assert pr.wait(timeout=300) == 0, pr.stderr.read()
        pr.stderr.close()
    data = read_file(p)
    assert len(data) == writers * records * size
    assert os.stat(p).st_size == len(data)
    next_seq = [0] * writers
    for off in range(0, len(data), size):
        rec = data[off:off + size]
        wid, seq = int(rec[0:2]), int(rec[3:9])
        head = b"%02d:%06d:" % (wid, seq)
        assert rec == head + bytes([65 + wid]) * (size - len(head) - 1) + b"\n", \
            "record at offset %d is damaged: %r" % (off, rec[:40])
        assert seq == next_seq[wid], "writer %d: record %d out of order" % (wid, seq)
        next_seq[wid] += 1
    assert next_seq == [records] * writers


# --------------------------------------------------------------------------
# sparse and large (> 4 GiB) files
# --------------------------------------------------------------------------

FIVE_GIB = 5 * GiB


def test_sparse_write_beyond_4gib(d):
    p = os.path.join(d, "sparse")
    data = pattern(4096, seed=3)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        assert os.pwrite(fd, data, FIVE_GIB) == 4096
        assert os.fstat(fd).st_size == FIVE_GIB + 4096
        assert os.lseek(fd, 0, os.SEEK_END) == FIVE_GIB + 4096
        assert os.pread(fd, 4096, FIVE_GIB) == data
        assert os.pread(fd, 4096, GiB) == bytes(4096)            # the hole
        assert os.pread(fd, 4096, 4 * GiB - 2048) == bytes(4096)
        assert os.pread(fd, 8192, FIVE_GIB - 4096) == bytes(4096) + data
        assert os.pread(fd, 100, FIVE_GIB + 4096) == b""
    finally:
        os.close(fd)
    assert os.stat(p).st_size == FIVE_GIB + 4096
    with open(p, "rb") as f:
        f.seek(FIVE_GIB + 100)
        assert f.read() == data[100:]


def _local_fs_is_sparse():
    fd, ref = tempfile.mkstemp(prefix="ofsrep-sparse-probe-")
    try:
        os.pwrite(fd, b"x" * 4096, FIVE_GIB)
        return os.fstat(fd).st_blocks * 512 < MiB
    finally:
        os.close(fd)
        os.unlink(ref)


def test_sparse_file_allocates_little(d):
    if not _local_fs_is_sparse():
        pytest.skip("the local filesystem under %s keeps no holes, so the "
                    "export's cannot be expected to" % tempfile.gettempdir())
    p = os.path.join(d, "sparse")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.pwrite(fd, b"y" * 4096, FIVE_GIB)
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(p)
    assert st.st_size == FIVE_GIB + 4096
    assert 0 < st.st_blocks * 512 < MiB, "st_blocks=%d" % st.st_blocks


def test_write_across_4gib_boundary(d):
    p = os.path.join(d, "f")
    data = pattern(8192, seed=9)
    off = 4 * GiB - 4096
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        assert os.pwrite(fd, data, off) == 8192
        assert os.pread(fd, 8192, off) == data
        assert os.pread(fd, 10, 4 * GiB) == data[4096:4106]
        assert os.pread(fd, 10, 0) == bytes(10)     # not wrapped to offset 0
        os.ftruncate(fd, 4 * GiB + 1)
        assert os.fstat(fd).st_size == 4 * GiB + 1
        assert os.pread(fd, 8192, off) == data[:4097]
        os.ftruncate(fd, 6 * GiB)
        assert os.pread(fd, 10, 6 * GiB - 10) == bytes(10)
        os.ftruncate(fd, 0)
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
    assert os.stat(p).st_size == 0


# --------------------------------------------------------------------------
# unlinked-but-open
# --------------------------------------------------------------------------

def test_unlinked_open_file_stays_usable(d):
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    p = os.path.join(sub, "f")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"hello")
        os.unlink(p)
        assert os.listdir(sub) == []
        raises_errno(errno.ENOENT, os.stat, p)
        assert os.pwrite(fd, b"world", 5) == 5
        assert os.pread(fd, 100, 0) == b"helloworld"
        st = os.fstat(fd)
        assert st.st_nlink == 0 and st.st_size == 10
        os.ftruncate(fd, 3)
        os.fsync(fd)
        assert os.pread(fd, 100, 0) == b"hel"
        os.fchmod(fd, 0o600)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
        # the name is free again and names a different file
        write_file(p, b"new")
        assert os.pread(fd, 100, 0) == b"hel"
        assert os.stat(p).st_ino != os.fstat(fd).st_ino
        assert os.listdir(sub) == ["f"]
        os.unlink(p)
        assert os.listdir(sub) == []
        os.rmdir(sub)                      # nothing hidden left behind
    finally:
        os.close(fd)
    assert os.listdir(d) == []


# --------------------------------------------------------------------------
# features NFSv3 cannot carry: correct, or a clean refusal that changes nothing
# --------------------------------------------------------------------------

def test_renameat2_noreplace(d):
    a, b, c = (os.path.join(d, n) for n in "abc")
    write_file(a, b"A")
    write_file(b, b"B")
    try:
        renameat2(a, c, RENAME_NOREPLACE)
    except OSError as e:
        assert e.errno in NOT_SUPPORTED, ename(e.errno)
        assert sorted(os.listdir(d)) == ["a", "b"]
        return
    assert sorted(os.listdir(d)) == ["b", "c"] and read_file(c) == b"A"
    raises_errno(errno.EEXIST, renameat2, c, b, RENAME_NOREPLACE)
    assert read_file(b) == b"B" and read_file(c) == b"A"


def test_renameat2_exchange(d):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    write_file(a, b"A")
    os.mkdir(b)
    ia, ib = os.stat(a).st_ino, os.stat(b).st_ino
    try:
        renameat2(a, b, RENAME_EXCHANGE)
    except OSError as e:
        assert e.errno in NOT_SUPPORTED, ename(e.errno)
        assert read_file(a) == b"A" and os.path.isdir(b)
        return
    assert os.stat(a).st_ino == ib and os.path.isdir(a)
    assert os.stat(b).st_ino == ia and read_file(b) == b"A"


def _getxattr_raw(path, name, size):
    """getxattr(2) with the caller's buffer size (os.getxattr retries with
    larger buffers itself, so ERANGE and the size query need libc)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    f = _libc.getxattr
    f.restype = ctypes.c_ssize_t
    rc = f(os.fsencode(path), name.encode(), buf if size else None,
           ctypes.c_size_t(size))
    if rc < 0:
        return errno.errorcode[ctypes.get_errno()]
    return rc


def test_xattr_set_get_list_remove(d):
    f = os.path.join(d, "f")
    write_file(f, b"x")
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    for p in (f, sub):
        os.setxattr(p, "user.one", b"1")
        os.setxattr(p, "user.two", b"\x00binary\xff" * 10)
        os.setxattr(p, "user.empty", b"")
        assert os.getxattr(p, "user.one") == b"1"
        assert os.getxattr(p, "user.two") == b"\x00binary\xff" * 10
        assert os.getxattr(p, "user.empty") == b""
        assert sorted(os.listxattr(p)) == ["user.empty", "user.one",
                                           "user.two"]
        os.setxattr(p, "user.one", b"changed")
        assert os.getxattr(p, "user.one") == b"changed"
        os.removexattr(p, "user.one")
        raises_errno(errno.ENODATA, os.getxattr, p, "user.one")
        assert sorted(os.listxattr(p)) == ["user.empty", "user.two"]
    assert read_file(f) == b"x"


def test_xattr_flags_and_errors(d):
    f = os.path.join(d, "f")
    write_file(f, b"x")
    raises_errno(errno.ENODATA, os.getxattr, f, "user.none")
    raises_errno(errno.ENODATA, os.removexattr, f, "user.none")
    raises_errno(errno.ENODATA, os.setxattr, f, "user.none", b"v",
                 os.XATTR_REPLACE)
    os.setxattr(f, "user.a", b"v", os.XATTR_CREATE)
    raises_errno(errno.EEXIST, os.setxattr, f, "user.a", b"w",
                 os.XATTR_CREATE)
    os.setxattr(f, "user.a", b"w", os.XATTR_REPLACE)
    assert os.getxattr(f, "user.a") == b"w"
    raises_errno(errno.ENOENT, os.getxattr, os.path.join(d, "missing"),
                 "user.a")
    raises_errno(errno.ENOENT, os.setxattr, os.path.join(d, "missing"),
                 "user.a", b"v")
    raises_errno(errno.EOPNOTSUPP, os.setxattr, f, "bogus.a", b"v")
    raises_errno(errno.ERANGE, os.setxattr, f, "user." + "n" * 251, b"v")
    raises_errno(errno.E2BIG, os.setxattr, f, "user.big", b"v" * 65537)
    # the size query and a buffer too small, as getxattr(2) defines them
    assert _getxattr_raw(f, "user.a", 0) == 1
    os.setxattr(f, "user.long", b"0123456789")
    assert _getxattr_raw(f, "user.long", 0) == 10
    assert _getxattr_raw(f, "user.long", 4) == "ERANGE"
    assert _getxattr_raw(f, "user.long", 10) == 10


def test_xattr_large_values_and_many_names(d):
    f = os.path.join(d, "f")
    write_file(f, b"x")
    big = pattern(65536, seed=9)
    try:
        os.setxattr(f, "user.big", big)
    except OSError as e:            # ext4 keeps values to one block
        assert e.errno in (errno.ENOSPC, errno.E2BIG), ename(e.errno)
        return
    assert os.getxattr(f, "user.big") == big
    names = ["user.n%03d" % i for i in range(100)]
    for n in names:
        os.setxattr(f, n, n.encode())
    assert sorted(os.listxattr(f)) == sorted(names + ["user.big"])
    for n in names:
        assert os.getxattr(f, n) == n.encode()


def test_xattr_follows_the_object_through_rename_and_links(d):
    a, b, c = (os.path.join(d, n) for n in "abc")
    write_file(a, b"x")
    os.setxattr(a, "user.k", b"v")
    os.link(a, b)
    assert os.getxattr(b, "user.k") == b"v"
    os.setxattr(b, "user.k2", b"v2")
    assert os.getxattr(a, "user.k2") == b"v2"
    os.rename(a, c)
    assert os.getxattr(c, "user.k") == b"v"
    os.unlink(b)
    assert sorted(os.listxattr(c)) == ["user.k", "user.k2"]
    # a new object under an old name starts with no attributes
    os.unlink(c)
    write_file(c, b"y")
    assert os.listxattr(c) == []


def test_xattr_user_namespace_only_on_files_and_dirs(d):
    link = os.path.join(d, "l")
    os.symlink("target", link)
    raises_errno(errno.EPERM, os.setxattr, link, "user.k", b"v",
                 follow_symlinks=False)
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    raises_errno(errno.EPERM, os.setxattr, fifo, "user.k", b"v")
    # trusted.* is root's, and root may use it on a symlink
    os.setxattr(link, "trusted.k", b"t", follow_symlinks=False)
    assert os.getxattr(link, "trusted.k", follow_symlinks=False) == b"t"


def test_nonroot_xattr_permissions(d, nobody_ok):
    f = os.path.join(d, "rootfile")
    write_file(f, b"x", 0o644)
    os.setxattr(f, "user.k", b"v")
    mine = os.path.join(d, "mine")
    write_file(mine, b"y", 0o644)
    os.chown(mine, NOBODY, NOBODY)
    r = as_nobody(r'''
R["get"] = t(os.getxattr, V["f"], "user.k")
R["set"] = t(os.setxattr, V["f"], "user.k", b"w")
R["remove"] = t(os.removexattr, V["f"], "user.k")
R["trusted"] = t(os.setxattr, V["mine"], "trusted.k", b"t")
R["own_set"] = t(os.setxattr, V["mine"], "user.k", b"mine")
R["own_get"] = t(os.getxattr, V["mine"], "user.k")
''', f=f, mine=mine)
    assert r == {"get": "v", "set": "EACCES", "remove": "EACCES",
                 "trusted": "EPERM", "own_set": "ok", "own_get": "mine"}, r
    assert os.getxattr(f, "user.k") == b"v"
    assert os.getxattr(mine, "user.k") == b"mine"


@pytest.mark.parametrize("mode", [0, FALLOC_FL_KEEP_SIZE,
                                  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  FALLOC_FL_ZERO_RANGE],
                         ids=["allocate", "keep-size", "punch-hole", "zero-range"])
def test_fallocate_modes(d, mode):
    p = os.path.join(d, "f")
    data = pattern(64 * KiB, seed=5)
    write_file(p, data)
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, mode, 16 * KiB, 96 * KiB)        # reaches past EOF
    except OSError as e:
        assert e.errno in NOT_SUPPORTED, ename(e.errno)
        assert os.fstat(fd).st_size == 64 * KiB
        assert os.pread(fd, 128 * KiB, 0) == data
        return
    finally:
        os.close(fd)
    got, size = read_file(p), os.stat(p).st_size
    if mode == 0 or mode == FALLOC_FL_ZERO_RANGE:
        assert size == 112 * KiB
    else:
        assert size == 64 * KiB
    if mode & FALLOC_FL_PUNCH_HOLE or mode == FALLOC_FL_ZERO_RANGE:
        assert got == data[:16 * KiB] + bytes(size - 16 * KiB)
    else:
        assert got == data + bytes(size - 64 * KiB)


def test_posix_fallocate_extends(d):
    # glibc emulates posix_fallocate by writing when fallocate(2) says
    # EOPNOTSUPP, so this one must work whatever the daemon supports
    p = os.path.join(d, "f")
    write_file(p, b"abc")
    fd = os.open(p, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 100 * KiB)
    finally:
        os.close(fd)
    assert os.stat(p).st_size == 100 * KiB
    assert read_file(p) == b"abc" + bytes(100 * KiB - 3)


def test_o_tmpfile(d):
    try:
        fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError as e:
        assert e.errno in NOT_SUPPORTED + (errno.EISDIR,), ename(e.errno)
        assert os.listdir(d) == []
        return
    try:
        os.write(fd, b"anon")
        assert os.listdir(d) == []
        assert os.fstat(fd).st_nlink == 0
        linkat_follow("/proc/self/fd/%d" % fd, os.path.join(d, "named"))
    finally:
        os.close(fd)
    assert os.listdir(d) == ["named"] and read_file(os.path.join(d, "named")) == b"anon"
