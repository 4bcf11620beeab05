#!/usr/bin/env python3
"""randomops: a seeded random-operation verifier for a filesystem under test.

What it does: applies the same seeded random mix of operations (create,
write at random offsets, O_APPEND writes, truncate up and down, rename of
files and directories including over existing names, unlink, mkdir, rmdir,
link, symlink, mkfifo, chmod, chown, utime, fsync, reads, readdir, and
operations through long-lived descriptors that survive renames and unlinks)
to a directory on the filesystem under test ("mount") and to a directory on
a local filesystem ("ref"), and checks that both behave the same:

  * after every step: the same outcome (success with the same value, or the
    same errno), and the same lstat of the paths the step named;
  * every --check-every steps and at the end: the whole trees (names, types,
    mode bits, owner, size, content hash, nlink, which names are hard links
    of one another, symlink targets, mtime where it was set by utime and not
    changed since), and every open descriptor's size and content.

What it does not do: judge timestamps the filesystem sets itself (only
explicitly set mtimes are compared), atime, ctime, directory sizes, or
st_blocks; it never follows a path out of its work directory (symlink
targets have no "..") and never creates device nodes.

The operation stream depends only on the seed and on the reference tree, so
a seed reproduces the same run; on the first divergence the verifier prints
the seed, the step, the operation, both sides' results or states, the last
operations, and a one-line command that replays the run up to that step.

Bounds: at most --max-names names (60), 4 levels, files of at most 2 MiB,
4 open descriptor pairs.

CLI:   python3 tests/integration/randomops.py --mount DIR --ref DIR --seed N --ops N
       exit 0 when both sides agreed, 1 on a divergence, 2 on usage errors.
Module: run(mount_dir, ref_dir, seed, ops, ...) raises Divergence.

Only the standard library.
"""

import argparse
import errno
import hashlib
import os
import random
import shlex
import shutil
import stat
import sys
import tempfile

MAX_NAMES = 60
MAX_DEPTH = 4
MAX_FILE = 2 << 20
MAX_FDS = 4
CHECK_EVERY = 50
HISTORY = 12

# A small pool so that names collide often (EEXIST, rename over existing).
NAMES = ["a", "b", "c", "d", "e", "f", "g", "sp ace", "ünï", "L" * 60]

# Errnos POSIX lets differ for the same condition (rename/rmdir of a
# non-empty directory).
EQUIVALENT = {"EEXIST": "ENOTEMPTY"}
EQUIVALENT_FOR = {"rename", "rmdir"}

OPEN_FLAGS = [
    ("RDONLY", os.O_RDONLY),
    ("WRONLY", os.O_WRONLY),
    ("RDWR", os.O_RDWR),
    ("RDWR|APPEND", os.O_RDWR | os.O_APPEND),
    ("WRONLY|APPEND", os.O_WRONLY | os.O_APPEND),
    ("RDWR|CREAT", os.O_RDWR | os.O_CREAT),
    ("RDWR|TRUNC", os.O_RDWR | os.O_TRUNC),
]

# op kind -> weight
WEIGHTS = {
    "create": 10, "write": 14, "append": 5, "truncate": 5, "read": 6,
    "rename": 10, "unlink": 6, "mkdir": 5, "rmdir": 4, "link": 4,
    "symlink": 4, "readlink": 2, "chmod": 3, "chown": 2, "utime": 4,
    "fsync": 2, "mkfifo": 1, "listdir": 3, "stat": 3,
    "open": 4, "fwrite": 6, "fread": 4, "ftruncate": 2, "fsyncfd": 1,
    "fstat": 2, "close": 3,
}
CREATING = {"create", "mkdir", "link", "symlink", "mkfifo", "open"}
FD_OPS = {"fwrite", "fread", "ftruncate", "fsyncfd", "fstat", "close"}
ALL_OPS = sorted(WEIGHTS)


class Divergence(AssertionError):
    """The filesystem under test and the reference disagreed."""


class Data:
    """Bytes to write, shown by length and hash in op descriptions."""

    def __init__(self, b):
        self.b = b

    def __repr__(self):
        return "<%d bytes %s>" % (len(self.b), hashlib.sha1(self.b).hexdigest()[:10])


def errname(e):
    return errno.errorcode.get(e, str(e))


def digest(b):
    return hashlib.sha1(b).hexdigest()[:16]


def tell(fd):
    """The file offset, or None for a pipe (a fifo opened by path)."""
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError as e:
        if e.errno != errno.ESPIPE:
            raise
        return None


# --------------------------------------------------------------------------
# one side (mount or ref): executes operations, lists its tree
# --------------------------------------------------------------------------

class Side:
    def __init__(self, label, root):
        self.label = label
        self.root = root
        self.fds = {}            # fd id -> os fd

    def p(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def close_all(self):
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()

    def do(self, op):
        """Run op; return ("ok", value) or ("err", errno name)."""
        try:
            return ("ok", getattr(self, "op_" + op[0])(*op[1:]))
        except OSError as e:
            return ("err", errname(e.errno))

    # -- path operations ---------------------------------------------------
    def op_create(self, rel, flags, mode, data):
        fl = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK
        fl |= (os.O_EXCL if "EXCL" in flags else 0)
        fl |= (os.O_TRUNC if "TRUNC" in flags else 0)
        fd = os.open(self.p(rel), fl, mode)
        try:
            return os.write(fd, data.b) if data.b else 0
        finally:
            os.close(fd)

    def op_write(self, rel, offset, data):
        fd = os.open(self.p(rel), os.O_WRONLY | os.O_NONBLOCK)
        try:
            return os.pwrite(fd, data.b, offset)
        finally:
            os.close(fd)

    def op_append(self, rel, data):
        fd = os.open(self.p(rel), os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        try:
            n = os.write(fd, data.b)
            return (n, tell(fd))
        finally:
            os.close(fd)

    def op_truncate(self, rel, size):
        os.truncate(self.p(rel), size)

    def op_read(self, rel, offset, length):
        fd = os.open(self.p(rel), os.O_RDONLY | os.O_NONBLOCK)
        try:
            if length is None:
                chunks = []
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    chunks.append(b)
                b = b"".join(chunks)
            else:
                b = os.pread(fd, length, offset)
            return (len(b), digest(b))
        finally:
            os.close(fd)

    def op_rename(self, src, dst):
        os.rename(self.p(src), self.p(dst))

    def op_unlink(self, rel):
        os.unlink(self.p(rel))

    def op_mkdir(self, rel, mode):
        os.mkdir(self.p(rel), mode)

    def op_rmdir(self, rel):
        os.rmdir(self.p(rel))

    def op_link(self, src, dst):
        os.link(self.p(src), self.p(dst), follow_symlinks=False)

    def op_symlink(self, target, rel):
        os.symlink(target, self.p(rel))

    def op_readlink(self, rel):
        return os.readlink(self.p(rel))

    def op_mkfifo(self, rel, mode):
        os.mkfifo(self.p(rel), mode)

    def op_chmod(self, rel, mode):
        os.chmod(self.p(rel), mode)

    def op_chown(self, rel, uid, gid):
        os.chown(self.p(rel), uid, gid)

    def op_utime(self, rel, ns):
        if ns is None:
            os.utime(self.p(rel))
        else:
            os.utime(self.p(rel), ns=ns)

    def op_fsync(self, rel, data_only):
        fd = os.open(self.p(rel), os.O_RDONLY | os.O_NONBLOCK)
        try:
            (os.fdatasync if data_only else os.fsync)(fd)
        finally:
            os.close(fd)

    def op_listdir(self, rel):
        return sorted(os.listdir(self.p(rel)))

    def op_stat(self, rel):
        return summary(os.stat(self.p(rel)))

    # -- descriptor operations -------------------------------------------
    def op_open(self, fid, rel, flags_name):
        fl = dict(OPEN_FLAGS)[flags_name] | os.O_NONBLOCK
        self.fds[fid] = os.open(self.p(rel), fl, 0o644)

    def op_fwrite(self, fid, offset, data):
        fd = self.fds[fid]
        if offset is None:
            n = os.write(fd, data.b)
            return (n, tell(fd))
        return os.pwrite(fd, data.b, offset)

    def op_fread(self, fid, offset, length):
        fd = self.fds[fid]
        if offset is None:
            b = os.read(fd, length)
            return (len(b), digest(b), tell(fd))
        b = os.pread(fd, length, offset)
        return (len(b), digest(b))

    def op_ftruncate(self, fid, size):
        os.ftruncate(self.fds[fid], size)

    def op_fsyncfd(self, fid):
        os.fsync(self.fds[fid])

    def op_fstat(self, fid):
        return summary(os.fstat(self.fds[fid]))

    def op_close(self, fid):
        fd = self.fds.pop(fid)
        os.close(fd)

    # -- state -------------------------------------------------------------
    def lstat_summary(self, rel):
        try:
            return summary(os.lstat(self.p(rel)))
        except OSError as e:
            return errname(e.errno)

    def tree(self):
        """relpath -> (lstat, extra) for everything under root."""
        out = {}

        def walk(rel):
            with os.scandir(self.p(rel)) as it:
                entries = sorted(e.name for e in it)
            for name in entries:
                r = os.path.join(rel, name) if rel else name
                st = os.lstat(self.p(r))
                extra = None
                if stat.S_ISREG(st.st_mode):
                    extra = hash_file(self.p(r))
                elif stat.S_ISLNK(st.st_mode):
                    extra = os.readlink(self.p(r))
                out[r] = (st, extra)
                if stat.S_ISDIR(st.st_mode):
                    walk(r)
        walk("")
        return out

    def fd_stat(self, fid):
        try:
            return summary(os.fstat(self.fds[fid]))
        except OSError as e:
            return errname(e.errno)

    def fd_state(self, fid):
        """fstat summary and content of a descriptor (checkpoints)."""
        fd = self.fds[fid]
        try:
            st = os.fstat(fd)
        except OSError as e:
            return errname(e.errno)
        s = summary(st)
        if stat.S_ISREG(st.st_mode):
            try:
                content = os.pread(fd, st.st_size + 1, 0)
            except OSError as e:            # a write-only descriptor
                content = errname(e.errno)
            else:
                content = (len(content), digest(content))
            return (s, content)
        return (s, None)


def summary(st):
    """The lstat fields both sides must agree on (no times, no dir size)."""
    kind = stat.S_IFMT(st.st_mode)
    size = None if stat.S_ISDIR(st.st_mode) else st.st_size
    return (stat.filemode(st.st_mode), oct(stat.S_IMODE(st.st_mode)), kind,
            size, st.st_nlink, st.st_uid, st.st_gid)


def hash_file(path):
    h = hashlib.sha1()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    finally:
        os.close(fd)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------

class Engine:
    def __init__(self, mount_dir, ref_dir, seed, ops, check_every=CHECK_EVERY,
                 max_names=MAX_NAMES, disabled=(), on_step=None, log=None,
                 script=None):
        self.seed = seed
        self.ops = ops
        self.check_every = check_every
        self.max_names = max_names
        self.weights = {k: w for k, w in WEIGHTS.items() if k not in disabled}
        self.disabled = sorted(disabled)
        self.on_step = on_step
        self.log = log
        self.rng = random.Random(seed)
        self.mount_base = os.fspath(mount_dir)
        self.ref_base = os.fspath(ref_dir)
        self.script = script or os.path.abspath(__file__)
        tag = "randomops-s%d-%d-" % (seed, os.getpid())
        self.mount = Side("mount", tempfile.mkdtemp(prefix=tag, dir=self.mount_base))
        self.ref = Side("ref", tempfile.mkdtemp(prefix=tag, dir=self.ref_base))
        for s in (self.mount, self.ref):
            os.chmod(s.root, 0o755)
        self.history = []
        self.step = 0
        self.next_fid = 1
        self.set_mtimes = set()     # ns values utime set explicitly
        self.checks = 0
        self.last_check_step = 0
        self.op_counts = {}

    # -- reference-tree view used to choose operations --------------------
    def scan(self):
        """Entries of the ref tree: rel -> (kind, depth, height)."""
        ents = {}

        def walk(rel, depth):
            height = 0
            with os.scandir(self.ref.p(rel)) as it:
                names = sorted(e.name for e in it)
            for n in names:
                r = os.path.join(rel, n) if rel else n
                st = os.lstat(self.ref.p(r))
                if stat.S_ISDIR(st.st_mode):
                    h = walk(r, depth + 1) + 1
                    ents[r] = ("dir", depth + 1, h)
                else:
                    h = 1
                    kind = "file" if stat.S_ISREG(st.st_mode) else \
                        "link" if stat.S_ISLNK(st.st_mode) else "other"
                    ents[r] = (kind, depth + 1, h)
                height = max(height, h)
            return height
        walk("", 0)
        return ents

    def ref_depth_of_dir(self, rel):
        """Depth of the directory rel names in the ref tree after following
        symlinks, or None when it is not a directory inside the tree."""
        real = os.path.realpath(self.ref.p(rel))
        root = os.path.realpath(self.ref.root)
        if real == root:
            return 0
        if not real.startswith(root + os.sep) or not os.path.isdir(real):
            return None
        return len(os.path.relpath(real, root).split(os.sep))

    def ref_size(self, rel):
        try:
            return os.stat(self.ref.p(rel)).st_size
        except OSError:
            return 0

    # -- choosing ------------------------------------------------------------
    def pick_existing(self, ents, kinds=None, allow_root=False, missing=0.08):
        r = self.rng
        pool = sorted(k for k, v in ents.items() if kinds is None or v[0] in kinds)
        if allow_root:
            pool = [""] + pool
        if not pool or r.random() < missing:
            return self.pick_new(ents)
        return r.choice(pool)

    def pick_new(self, ents, extra_height=1):
        """A path to create: an existing directory (rarely a symlink or a
        file, for ENOTDIR/ENOENT cases) plus a name from the pool."""
        r = self.rng
        dirs = [""] + sorted(k for k, v in ents.items() if v[0] == "dir")
        odd = sorted(k for k, v in ents.items() if v[0] in ("link", "file"))
        for _ in range(8):
            parent = r.choice(odd) if odd and r.random() < 0.05 else r.choice(dirs)
            depth = self.ref_depth_of_dir(parent)
            if depth is not None and depth + extra_height > MAX_DEPTH:
                continue
            name = r.choice(NAMES)
            return os.path.join(parent, name) if parent else name
        return r.choice(NAMES)

    def data(self, limit):
        r = self.rng
        x = r.random()
        n = r.randint(0, 4096) if x < 0.7 else \
            r.randint(4097, 65536) if x < 0.95 else r.randint(65537, 512 << 10)
        return Data(r.randbytes(max(0, min(n, limit))))

    def gen(self, ents):
        """The next operation, a tuple (kind, args...)."""
        r = self.rng
        full = len(ents) >= self.max_names
        kinds = [k for k in self.weights
                 if not (full and k in CREATING)
                 and not (k in FD_OPS and not self.ref.fds)
                 and not (k == "open" and len(self.ref.fds) >= MAX_FDS)]
        kind = r.choices(kinds, [self.weights[k] for k in kinds])[0]
        g = getattr(self, "gen_" + kind)
        return g(ents)

    def gen_create(self, ents):
        r = self.rng
        flags = r.choice(["", "EXCL", "TRUNC", "EXCL", ""])
        mode = r.choice([0o644, 0o600, 0o755, 0o666])
        return ("create", self.pick_new(ents), flags, mode,
                self.data(MAX_FILE) if r.random() < 0.7 else Data(b""))

    def gen_write(self, ents):
        r = self.rng
        rel = self.pick_existing(ents, {"file", "link"})
        size = self.ref_size(rel)
        off = r.choices([0, size, r.randint(0, max(size, 1)),
                         r.randint(0, MAX_FILE - 1)], [3, 3, 3, 1])[0]
        off = min(off, MAX_FILE - 1)
        return ("write", rel, off, self.data(MAX_FILE - off))

    def gen_append(self, ents):
        rel = self.pick_existing(ents, {"file", "link"})
        return ("append", rel, self.data(MAX_FILE - self.ref_size(rel)))

    def gen_truncate(self, ents):
        r = self.rng
        rel = self.pick_existing(ents, {"file", "link"})
        size = self.ref_size(rel)
        return ("truncate", rel, r.choice([0, size // 2, size + r.randint(1, 70000),
                                           r.randint(0, MAX_FILE)]))

    def gen_read(self, ents):
        r = self.rng
        rel = self.pick_existing(ents, {"file", "link"})
        if r.random() < 0.5:
            return ("read", rel, None, None)
        size = self.ref_size(rel)
        return ("read", rel, r.randint(0, size + 10), r.randint(1, 200000))

    def gen_rename(self, ents):
        r = self.rng
        src = self.pick_existing(ents)
        height = ents[src][2] if src in ents else 1
        if r.random() < 0.4 and ents:
            dst = self.pick_existing(ents, missing=0)        # over existing
            kind_dst = ents.get(dst, ("dir", 0, 0))
            parent = os.path.dirname(dst)
            pd = self.ref_depth_of_dir(parent)
            if pd is not None and pd + height > MAX_DEPTH \
                    and kind_dst[0] == "dir":
                dst = self.pick_new(ents, height)
        else:
            dst = self.pick_new(ents, height)
        return ("rename", src, dst)

    def gen_unlink(self, ents):
        return ("unlink", self.pick_existing(ents, {"file", "link", "other"}))

    def gen_mkdir(self, ents):
        return ("mkdir", self.pick_new(ents), self.rng.choice([0o755, 0o700, 0o777]))

    def gen_rmdir(self, ents):
        return ("rmdir", self.pick_existing(ents, {"dir"}))

    def gen_link(self, ents):
        return ("link", self.pick_existing(ents, {"file", "link", "other", "dir"}),
                self.pick_new(ents))

    def gen_symlink(self, ents):
        r = self.rng
        rel = self.pick_new(ents)
        parent = os.path.dirname(rel)
        # targets never contain "..", so a symlink moved anywhere still
        # resolves inside the work directory
        below = sorted(k for k in ents if parent == "" or k.startswith(parent + "/"))
        if below and r.random() < 0.8:
            target = os.path.relpath(r.choice(below), parent or ".")
        else:
            target = r.choice(NAMES)
        return ("symlink", target, rel)

    def gen_readlink(self, ents):
        return ("readlink", self.pick_existing(ents, {"link", "file"}))

    def gen_mkfifo(self, ents):
        return ("mkfifo", self.pick_new(ents), 0o644)

    def gen_chmod(self, ents):
        r = self.rng
        mode = r.choice([0o644, 0o600, 0o755, 0o700, 0o000, 0o777, 0o4755,
                         0o2755, 0o1777, 0o6750, 0o444])
        return ("chmod", self.pick_existing(ents), mode)

    def gen_chown(self, ents):
        r = self.rng
        ids = [0, 1000, 65534, -1]
        return ("chown", self.pick_existing(ents), r.choice(ids), r.choice(ids))

    def gen_utime(self, ents):
        r = self.rng
        rel = self.pick_existing(ents)
        if r.random() < 0.2:
            return ("utime", rel, None)
        a = r.randint(10**9, 2 * 10**9) * 10**9 + r.randint(0, 10**9 - 1)
        m = r.randint(10**9, 2 * 10**9) * 10**9 + r.randint(0, 10**9 - 1)
        return ("utime", rel, (a, m))

    def gen_fsync(self, ents):
        return ("fsync", self.pick_existing(ents, allow_root=True),
                self.rng.random() < 0.3)

    def gen_listdir(self, ents):
        return ("listdir", self.pick_existing(ents, {"dir", "link"}, allow_root=True))

    def gen_stat(self, ents):
        return ("stat", self.pick_existing(ents))

    def gen_open(self, ents):
        r = self.rng
        fid = self.next_fid
        self.next_fid += 1
        name = r.choice([f for f, _ in OPEN_FLAGS])
        rel = self.pick_existing(ents, {"file", "link", "dir"}) \
            if "CREAT" not in name else self.pick_new(ents)
        return ("open", fid, rel, name)

    def pick_fid(self):
        return self.rng.choice(sorted(self.ref.fds))

    def fd_size(self, fid):
        try:
            return os.fstat(self.ref.fds[fid]).st_size
        except OSError:
            return 0

    def gen_fwrite(self, ents):
        r = self.rng
        fid = self.pick_fid()
        size = self.fd_size(fid)
        if r.random() < 0.4:
            pos = tell(self.ref.fds[fid]) or 0
            return ("fwrite", fid, None, self.data(MAX_FILE - max(size, pos)))
        off = min(r.choice([0, size, r.randint(0, max(size, 1))]), MAX_FILE - 1)
        return ("fwrite", fid, off, self.data(MAX_FILE - off))

    def gen_fread(self, ents):
        r = self.rng
        fid = self.pick_fid()
        off = None if r.random() < 0.4 else r.randint(0, self.fd_size(fid) + 10)
        return ("fread", fid, off, r.randint(1, 300000))

    def gen_ftruncate(self, ents):
        r = self.rng
        fid = self.pick_fid()
        size = self.fd_size(fid)
        return ("ftruncate", fid, r.choice([0, size // 3, min(MAX_FILE, size + 5000)]))

    def gen_fsyncfd(self, ents):
        return ("fsyncfd", self.pick_fid())

    def gen_fstat(self, ents):
        return ("fstat", self.pick_fid())

    def gen_close(self, ents):
        return ("close", self.pick_fid())

    # -- checking ------------------------------------------------------------
    def fail(self, what, detail, window=None):
        lines = ["randomops: DIVERGENCE: %s" % what,
                 "  seed %d, step %d of %d" % (self.seed, self.step, self.ops)]
        if window:
            lines.append("  (caused by one of steps %d..%d: add --check-every 1 "
                         "to stop at the first)" % window)
        lines += ["  " + l for l in detail]
        lines.append("  last operations (step: op):")
        lines += ["    %d: %s" % (n, describe(o)) for n, o in self.history[-HISTORY:]]
        lines.append("  work dirs kept: mount %s, ref %s" % (self.mount.root, self.ref.root))
        extra = "".join(" --disable %s" % k for k in self.disabled)
        if self.check_every != CHECK_EVERY:
            extra += " --check-every %d" % self.check_every
        if self.max_names != MAX_NAMES:
            extra += " --max-names %d" % self.max_names
        lines.append("  reproduce: python3 %s --mount %s --ref %s --seed %d --ops %d%s" % (
            self.script, shq(self.mount_base), shq(self.ref_base), self.seed,
            self.step, extra))
        raise Divergence("\n".join(lines))

    def compare_outcome(self, op, m, r):
        if op[0] in EQUIVALENT_FOR:
            m = (m[0], EQUIVALENT.get(m[1], m[1])) if m[0] == "err" else m
            r = (r[0], EQUIVALENT.get(r[1], r[1])) if r[0] == "err" else r
        if m != r:
            self.fail("operation outcome differs", [
                "op:    " + describe(op),
                "mount: %s %r" % m, "ref:   %s %r" % r])

    def compare_paths(self, op):
        for rel in op_paths(op):
            m, r = self.mount.lstat_summary(rel), self.ref.lstat_summary(rel)
            if m != r:
                self.fail("state of %r after the operation differs" % rel, [
                    "op:    " + describe(op),
                    "mount: %r" % (m,), "ref:   %r" % (r,)])
        fid = op[1] if op[0] == "open" or op[0] in FD_OPS else None
        if fid in self.ref.fds and fid in self.mount.fds:
            m, r = self.mount.fd_stat(fid), self.ref.fd_stat(fid)
            if m != r:
                self.fail("fstat of descriptor %d differs" % fid, [
                    "op:    " + describe(op), "mount: %r" % (m,), "ref:   %r" % (r,)])

    def check_trees(self):
        self.checks += 1
        mt, rt = self.mount.tree(), self.ref.tree()
        diffs = []
        only_m = sorted(set(mt) - set(rt))
        only_r = sorted(set(rt) - set(mt))
        if only_m:
            diffs.append("only on mount: %r" % only_m)
        if only_r:
            diffs.append("only on ref:   %r" % only_r)
        for rel in sorted(set(mt) & set(rt)):
            (ms, mx), (rs, rx) = mt[rel], rt[rel]
            a, b = summary(ms), summary(rs)
            if a != b:
                diffs.append("%r: lstat mount %r ref %r" % (rel, a, b))
            if mx != rx:
                what = "content" if stat.S_ISREG(rs.st_mode) else "symlink target"
                diffs.append("%r: %s mount %r ref %r" % (rel, what, mx, rx))
            if rs.st_mtime_ns in self.set_mtimes and ms.st_mtime_ns != rs.st_mtime_ns \
                    and not stat.S_ISLNK(rs.st_mode):
                diffs.append("%r: mtime set by utime: mount %d ref %d" % (
                    rel, ms.st_mtime_ns, rs.st_mtime_ns))
        # which names are links of one inode
        def groups(t):
            by = {}
            for rel, (st, _) in t.items():
                if not stat.S_ISDIR(st.st_mode):
                    by.setdefault(st.st_ino, []).append(rel)
            return sorted(sorted(g) for g in by.values() if len(g) > 1)
        gm, gr = groups(mt), groups(rt)
        if gm != gr:
            diffs.append("hard-link groups: mount %r ref %r" % (gm, gr))
        for fid in sorted(self.ref.fds):
            if fid in self.mount.fds:
                m, r = self.mount.fd_state(fid), self.ref.fd_state(fid)
                if m != r:
                    diffs.append("descriptor %d: mount %r ref %r" % (fid, m, r))
        if diffs:
            first = self.last_check_step + 1
            self.fail("trees differ at checkpoint %d" % self.checks, diffs[:30],
                      window=(first, self.step) if first < self.step else None)
        self.last_check_step = self.step

    # -- running -------------------------------------------------------------
    def one_step(self):
        ents = self.scan()
        op = self.gen(ents)
        self.step += 1
        self.history.append((self.step, op))
        if self.log:
            self.log("%d: %s" % (self.step, describe(op)))
        if op[0] == "utime" and op[2] is not None:
            self.set_mtimes.add(op[2][1])
        m = self.mount.do(op)
        r = self.ref.do(op)
        self.op_counts[op[0]] = self.op_counts.get(op[0], 0) + 1
        self.compare_outcome(op, m, r)
        self.compare_paths(op)
        if self.on_step:
            self.on_step(self)
        if self.step % self.check_every == 0 or self.step == self.ops:
            self.check_trees()

    def run(self):
        old = os.umask(0o022)
        try:
            while self.step < self.ops:
                self.one_step()
            if self.step == 0:
                self.check_trees()
        finally:
            os.umask(old)
            self.mount.close_all()
            self.ref.close_all()

    def cleanup(self):
        for s in (self.mount, self.ref):
            shutil.rmtree(s.root)


def op_paths(op):
    """The paths an operation names (for the per-step lstat check)."""
    k = op[0]
    if k in ("rename", "link"):
        return [op[1], op[2]]
    if k == "symlink":
        return [op[2]]
    if k == "open":
        return [op[2]]
    if k in FD_OPS:
        return []
    return [op[1]] if op[1] else []


def describe(op):
    return "%s(%s)" % (op[0], ", ".join(repr(a) for a in op[1:]))


def shq(s):
    return shlex.quote(s)


class Result:
    def __init__(self, engine):
        self.seed = engine.seed
        self.steps = engine.step
        self.checks = engine.checks
        self.op_counts = dict(engine.op_counts)
        self.history = [describe(o) for _, o in engine.history]


def run(mount_dir, ref_dir, seed, ops, check_every=CHECK_EVERY,
        max_names=MAX_NAMES, disabled=(), on_step=None, log=None,
        keep=False, keep_history=False):
    """Run the verifier; return a Result, or raise Divergence (work
    directories are then kept for inspection)."""
    eng = Engine(mount_dir, ref_dir, seed, ops, check_every=check_every,
                 max_names=max_names, disabled=disabled, on_step=on_step, log=log)
    eng.run()
    res = Result(eng)
    if not keep_history:
        res.history = None
    if not keep:
        eng.cleanup()
    return res


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Apply a seeded random mix of filesystem operations to "
                    "a directory on the filesystem under test and to a local "
                    "reference directory, and report the first divergence.")
    ap.add_argument("--mount", required=True,
                    help="directory on the filesystem under test")
    ap.add_argument("--ref", default=None,
                    help="directory on a local filesystem (default: a new "
                         "temporary directory)")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: random, printed)")
    ap.add_argument("--ops", type=int, default=2000, help="number of operations")
    ap.add_argument("--check-every", type=int, default=CHECK_EVERY,
                    help="compare whole trees every N steps (default %d)" % CHECK_EVERY)
    ap.add_argument("--max-names", type=int, default=MAX_NAMES)
    ap.add_argument("--disable", action="append", default=[], choices=ALL_OPS,
                    metavar="OP", help="leave out an operation kind (repeatable): "
                    + " ".join(ALL_OPS))
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directories after a clean run")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every operation")
    ap.add_argument("--self-test-corrupt-at", type=int, default=None,
                    metavar="STEP", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.ops < 0 or a.check_every < 1 or a.max_names < 1:
        ap.error("--ops must be >= 0, --check-every and --max-names >= 1")
    if not os.path.isdir(a.mount):
        ap.error("--mount %s is not a directory" % a.mount)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    ref = a.ref
    made_ref = False
    if ref is None:
        ref = tempfile.mkdtemp(prefix="randomops-ref-")
        made_ref = True
    elif not os.path.isdir(ref):
        ap.error("--ref %s is not a directory" % ref)
    on_step = None
    if a.self_test_corrupt_at is not None:
        on_step = _corrupter(a.self_test_corrupt_at)
    print("randomops: seed %d, %d operations, mount %s, ref %s" % (seed, a.ops, a.mount, ref),
          flush=True)
    try:
        res = run(a.mount, ref, seed, a.ops, check_every=a.check_every,
                  max_names=a.max_names, disabled=a.disable, on_step=on_step,
                  log=(lambda s: print(s, flush=True)) if a.verbose else None,
                  keep=a.keep)
    except Divergence as e:
        print(str(e), flush=True)
        return 1
    if made_ref and not a.keep:
        os.rmdir(ref)
    print("randomops: seed %d: %d operations, %d tree checks, no divergence" % (
        seed, res.steps, res.checks))
    return 0


def _corrupter(at):
    """Self-test: at step `at`, change one byte of a file on the mount side
    only (or create a stray file), to prove that divergences are caught."""
    def hook(eng):
        if eng.step != at:
            return
        for rel, (kind, _, _) in sorted(eng.scan().items()):
            if kind == "file" and os.path.getsize(eng.mount.p(rel)) > 0:
                with open(eng.mount.p(rel), "r+b") as f:
                    b = f.read(1)
                    f.seek(0)
                    f.write(bytes([b[0] ^ 0xFF]))
                return
        with open(eng.mount.p("stray"), "wb"):
            pass
    return hook


if __name__ == "__main__":
    sys.exit(main())
