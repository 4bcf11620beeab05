"""The mirror applier on a real secondary export: replica/applier.c through
`ofsrep-journal apply`, against ganesha (the lab's NAS b).

Journals are written with `ofsrep-journal append`: synthetic ones (cycles
of CREATE, WRITEs, SETATTR, SETXATTR per file, see syn_op() in the tool)
and scripted ones (`--script`, one record per line).  The mirror,
EXPORT/.ofsrep/mirror on this machine's disk, is then compared with what
the records must produce:
  - for synthetic journals, SynJournal computes the files the way the
    generator makes them;
  - for scripts, LocalModel runs the same lines with POSIX calls on a
    local directory (fids are O_PATH descriptors, so renames, hard links
    and writes to unlinked files behave as on the writer), and the two
    trees must be equal: names, types, modes, owners, sizes, contents,
    symlink targets, device numbers, hard links, and mtimes a SETATTR set.

Environment: OFSREP_JOURNAL (default: ofsrep-journal next to OFSREP_BIN,
else build/ofsrep-journal); OFSREP_LONG=1 adds seeds to the random and
kill tests.
"""
import ctypes
import json
import os
import random
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import journal_bin, journal_run

TIMEOUT_MS = 2000
SYN_CYCLE = 16
LONG = os.environ.get("OFSREP_LONG") == "1"    # more seeds, more kills
SEG_HDR = 64
REC_HDR = 56


def run(lab, cmd, node, *args, timeout=300):
    """ofsrep-journal CMD <NAS b URL> --node NODE ARGS."""
    return journal_run(lab, cmd, node, *args, timeout=timeout,
                       timeout_ms=TIMEOUT_MS)


def append(lab, node, count, *args):
    proc = run(lab, "append", node, "--count", count, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def append_script(lab, node, text, tmp_path, *args):
    path = tmp_path / f"script-{node}-{time.monotonic_ns()}.txt"
    path.write_text(text)
    proc = run(lab, "append", node, "--script", path, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def apply(lab, node, *args, expect=0):
    """`apply --json`: the report; asserts the exit status."""
    proc = run(lab, "apply", node, "--json", *args)
    assert proc.returncode == expect, (proc.returncode, proc.stderr, proc.stdout)
    assert proc.stdout, proc.stderr
    out = json.loads(proc.stdout)
    out["stderr"] = proc.stderr
    return out


def check(lab, node):
    proc = run(lab, "check", node, "--json")
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def mirror(lab):
    return lab.export_dir("b") / ".ofsrep" / "mirror"


def orphans(lab):
    return sorted(p.name for p in (lab.export_dir("b") / ".ofsrep" /
                                   "mirror-orphans").iterdir())


def jdir(lab, node):
    return lab.export_dir("b") / ".ofsrep" / "journal" / str(node)


def ckpt_on_disk(lab, node):
    """The seq of the newest valid-looking checkpoint slot (0 if none)."""
    path = jdir(lab, node) / "applied.ckpt"
    if not path.exists():
        return 0
    data = path.read_bytes()
    seqs = [struct.unpack_from("<Q", data, off + 24)[0]
            for off in (0, 64) if len(data) >= off + 64 and
            data[off + 8:off + 12] == b"OFSC"]
    return max(seqs, default=0)


# ------------------------------------------------------------ trees

def snapshot(root, mtimes_of=None):
    """{relative path: attributes} of a tree, plus its hard-link groups."""
    root = Path(root)
    mtimes_of = mtimes_of or {}
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            e = {"type": kind, "uid": st.st_uid, "gid": st.st_gid}
            if kind != stat.S_IFLNK:
                e["mode"] = oct(st.st_mode & 0o7777)
            if kind == stat.S_IFREG:
                e["size"] = st.st_size
                e["data"] = p.read_bytes()
                inodes.setdefault(st.st_ino, []).append(rel)
            elif kind == stat.S_IFLNK:
                e["target"] = os.readlink(p)
                inodes.setdefault(st.st_ino, []).append(rel)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            # only where the mtime is still the one a SETATTR set (inode
            # numbers of removed files come back for new ones)
            if mtimes_of.get(st.st_ino) == st.st_mtime_ns:
                e["mtime_ns"] = st.st_mtime_ns
            out[rel] = e
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out, links


def assert_same_tree(expected_root, actual_root, mtimes_of=None):
    exp, exp_links = snapshot(expected_root, mtimes_of)
    act, act_links = snapshot(actual_root)
    assert sorted(act) == sorted(exp), "names differ"
    for rel, e in exp.items():
        a = dict(act[rel])
        if "mtime_ns" in e:
            a["mtime_ns"] = os.lstat(Path(actual_root) / rel).st_mtime_ns
        if a != e:
            diff = {k: (e.get(k), a.get(k)) for k in set(e) | set(a)
                    if e.get(k) != a.get(k) and k != "data"}
            if e.get("data") != a.get("data"):
                diff["data"] = f"{len(e.get('data', b''))} vs " \
                               f"{len(a.get('data', b''))} bytes, differ"
            raise AssertionError(f"{rel}: expected vs mirror: {diff}")
    assert act_links == exp_links, "hard links differ"


# ------------------------------------------------------------ synthetic

class SynJournal:
    """What `ofsrep-journal append` writes (syn_op() in the tool): record
    seq s is in cycle c = s - (s-1) % 16 of file f<c>: a CREATE (0644),
    WRITEs of `payload` bytes at consecutive offsets (byte i of seq s is
    (s * 31 + i) mod 256), a SETATTR (mode 0640, mtime s) and a SETXATTR;
    the first record of a run that starts inside a cycle is a BIND
    instead."""

    def __init__(self):
        self.runs = []          # (first seq, count, payload)

    def add(self, first, count, payload=64):
        self.runs.append((first, count, payload))

    def ops(self):
        for first, count, payload in self.runs:
            for s in range(first, first + count):
                yield s, s == first, payload

    def files(self):
        """{name: (mode, bytes, mtime or None)} of the mirror's root."""
        files = {}
        for s, run_start, payload in self.ops():
            k = (s - 1) % SYN_CYCLE
            name = f"f{s - k}"
            if k == 0:
                files[name] = [0o644, bytearray(), None]
                continue
            if run_start:               # BIND: changes nothing
                continue
            f = files[name]
            if k == SYN_CYCLE - 2:
                f[0], f[2] = 0o640, s
            elif k < SYN_CYCLE - 2:
                off = (k - 1) * payload
                data = bytes((s * 31 + i) & 0xff for i in range(payload))
                if len(f[1]) < off:
                    f[1].extend(bytes(off - len(f[1])))
                f[1][off:off + payload] = data
        return {n: (m, bytes(d), t) for n, (m, d, t) in files.items()}

    def records(self):
        return sum(c for _, c, _ in self.runs)

    def write_rpcs(self, batch):
        """WRITE RPCs the applier sends for one run over all records with
        this batch size: each cycle's run of WRITEs is coalesced into one,
        cut where a batch ends."""
        rpcs, last = 0, None
        for i, (s, start, _) in enumerate(self.ops()):
            k = (s - 1) % SYN_CYCLE
            write = 1 <= k < SYN_CYCLE - 2 and not start
            if write and (last != s - k or i % batch == 0):
                rpcs += 1
            last = s - k if write else None
        return rpcs

    def writes(self):
        return sum(1 for s, start, _ in self.ops()
                   if 1 <= (s - 1) % SYN_CYCLE < SYN_CYCLE - 2 and not start)

    def xattrs(self):
        return sum(1 for s, start, _ in self.ops()
                   if (s - 1) % SYN_CYCLE == SYN_CYCLE - 1 and not start)


def assert_syn_mirror(lab, syn):
    want = syn.files()
    root = mirror(lab)
    assert sorted(p.name for p in root.iterdir()) == sorted(want)
    for name, (mode, data, mtime) in want.items():
        st = os.lstat(root / name)
        assert stat.S_ISREG(st.st_mode), name
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, 0, 0), name
        assert st.st_size == len(data), name
        assert (root / name).read_bytes() == data, name
        if mtime is not None:
            assert st.st_mtime_ns == mtime * 10**9, name


# ------------------------------------------------------------ scripts

libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(olddir, old, newdir, new, flags):
    if libc.renameat2(olddir, old.encode(), newdir, new.encode(), flags):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def unescape(token):
    """The tool's escapes: \\s a blank, \\\\ a backslash, \\xHH a byte."""
    out, i = bytearray(), 0
    while i < len(token):
        if token[i] != "\\":
            out += token[i].encode()
            i += 1
        elif token[i + 1] in "s\\":
            out += b" " if token[i + 1] == "s" else b"\\"
            i += 2
        else:
            out.append(int(token[i + 2:i + 4], 16))
            i += 4
    return bytes(out)


def script_data(token):
    """A write's DATA field: text, or @LEN[:SEED] as the tool makes it."""
    if not token.startswith("@"):
        return unescape(token)
    length, _, seed = token[1:].partition(":")
    mult = {"k": 1 << 10, "m": 1 << 20}.get(length[-1:], 1)
    n = int(length.rstrip("km")) * mult
    seed = int(seed or 0)
    return bytes((seed * 31 + i) & 0xff for i in range(n))


class LocalModel:
    """Runs script lines with POSIX calls on a local directory, as the
    writer did on the primary.  A fid is an O_PATH descriptor, so it
    follows renames and survives unlink, like the fid of the journal."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.fds = {}
        self.mtimes = {}        # inode -> the mtime a SETATTR set
        self.new_epoch()

    def new_epoch(self):
        """A new `append` run: fids of the last one mean nothing."""
        # closing the descriptors frees unlinked inodes, whose numbers
        # new files may get: keep only the mtimes of files in the tree
        live = {os.lstat(Path(d) / n).st_ino for d, ds, fs in
                os.walk(self.root) for n in ds + fs}
        self.mtimes = {i: t for i, t in self.mtimes.items() if i in live}
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {1: os.open(self.root, os.O_PATH | os.O_DIRECTORY)}

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}

    def p(self, fid):
        return f"/proc/self/fd/{self.fds[int(fid)]}"

    def d(self, fid):
        return self.fds[int(fid)]

    def bind(self, parent, fid, name):
        self.fds[int(fid)] = os.open(name, os.O_PATH | os.O_NOFOLLOW,
                                     dir_fd=self.d(parent))

    @staticmethod
    def owner(opts):
        kv = dict(o.split("=", 1) for o in opts)
        return int(kv.get("uid", 0)), int(kv.get("gid", 0)), kv

    def made(self, parent, fid, name, uid, gid, mode=None):
        os.chown(name, uid, gid, dir_fd=self.d(parent), follow_symlinks=False)
        if mode is not None:
            os.chmod(name, mode, dir_fd=self.d(parent))
        self.bind(parent, fid, name)

    def line(self, text):
        w = text.split()
        if not w or w[0].startswith("#"):
            return
        # names and targets may carry escapes (data is unescaped by
        # script_data)
        args = [a if w[0] == "write" else os.fsdecode(unescape(a))
                for a in w[1:]]
        getattr(self, "op_" + w[0])(*args)

    def op_bind(self, parent, fid, name):
        self.bind(parent, fid, name)

    def op_create(self, parent, fid, name, mode, *opts):
        uid, gid, _ = self.owner(opts)
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600,
                         dir_fd=self.d(parent)))
        self.made(parent, fid, name, uid, gid, int(mode, 8))

    def op_mkdir(self, parent, fid, name, mode, *opts):
        uid, gid, _ = self.owner(opts)
        os.mkdir(name, 0o700, dir_fd=self.d(parent))
        self.made(parent, fid, name, uid, gid, int(mode, 8))

    def op_mknod(self, parent, fid, name, kind, mode, *opts):
        uid, gid, kv = self.owner(opts)
        fmt = {"fifo": stat.S_IFIFO, "sock": stat.S_IFSOCK,
               "chr": stat.S_IFCHR, "blk": stat.S_IFBLK}[kind]
        maj, _, mi = kv.get("rdev", "0:0").partition(":")
        os.mknod(name, fmt | 0o600, os.makedev(int(maj), int(mi)),
                 dir_fd=self.d(parent))
        self.made(parent, fid, name, uid, gid, int(mode, 8))

    def op_symlink(self, parent, fid, name, target, *opts):
        uid, gid, _ = self.owner(opts)
        os.symlink(target, name, dir_fd=self.d(parent))
        self.made(parent, fid, name, uid, gid)

    def op_link(self, fid, parent, name):
        os.link(self.p(fid), name, dst_dir_fd=self.d(parent),
                follow_symlinks=True)

    def op_unlink(self, parent, name, fid=None):
        os.unlink(name, dir_fd=self.d(parent))

    def op_rmdir(self, parent, name, fid=None):
        os.rmdir(name, dir_fd=self.d(parent))

    def op_rename(self, parent, name, newparent, newname, *rest):
        flags = (RENAME_NOREPLACE if "noreplace" in rest else 0) | \
                (RENAME_EXCHANGE if "exchange" in rest else 0)
        renameat2(self.d(parent), name, self.d(newparent), newname, flags)

    def op_write(self, fid, offset, data):
        fd = os.open(self.p(fid), os.O_WRONLY)
        try:
            os.pwrite(fd, script_data(data), int(offset))
            self.mtimes.pop(os.fstat(fd).st_ino, None)
        finally:
            os.close(fd)

    def op_setattr(self, fid, *opts):
        kv = dict(o.split("=", 1) for o in opts)
        path = self.p(fid)
        if "uid" in kv or "gid" in kv:
            os.chown(path, int(kv.get("uid", -1)), int(kv.get("gid", -1)))
        if "mode" in kv:
            os.chmod(path, int(kv["mode"], 8))
        if "size" in kv:
            os.truncate(path, int(kv["size"]))
            self.mtimes.pop(os.stat(path).st_ino, None)
        if "atime" in kv or "mtime" in kv:
            st = os.stat(path)

            def ns(v):
                sec, _, nsec = v.partition(".")
                return int(sec) * 10**9 + int(nsec or 0)
            os.utime(path, ns=(ns(kv["atime"]) if "atime" in kv else st.st_atime_ns,
                               ns(kv["mtime"]) if "mtime" in kv else st.st_mtime_ns))
            if "mtime" in kv:
                self.mtimes[st.st_ino] = ns(kv["mtime"])

    def op_setxattr(self, *args):
        pass        # the mirror stores no xattrs yet: nothing to compare

    def op_removexattr(self, *args):
        pass

    def run(self, text):
        for line in text.splitlines():
            self.line(line)


def apply_script(lab, node, tmp_path, model, text, *args):
    """Append the script as one run (a new epoch), and play it locally."""
    model.new_epoch()
    model.run(text)
    return append_script(lab, node, text, tmp_path, *args)


# ------------------------------------------------------------ random scripts

class Gen:
    """Random but valid scripts over a small namespace, written the way the
    writer journals: objects keep their fid across epochs, a new epoch
    BINDs an object (from the root down) before the first record that
    uses it, and UNLINK/RENAME carry the fid only of bound objects.
    Unlinked files may still be written until the epoch ends (an open
    file), which the applier must keep as an orphan."""

    NAMES = "abcdefg"

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.next_fid = 2
        # fid -> {"kind": "d"|"f"|"l"|"p", "links": {(parent, name)}}
        self.obj = {1: {"kind": "d", "links": set()}}
        self.children = {1: {}}         # dir fid -> {name: fid}
        self.bound = {1}
        self.open_unlinked = set()
        self.out = []

    def epoch(self):
        self.bound = {1}
        self.open_unlinked = set()
        for fid in [f for f, o in self.obj.items()
                    if f != 1 and not o["links"]]:
            del self.obj[fid]

    def emit(self, line):
        self.out.append(line)

    def ensure_bound(self, fid):
        if fid in self.bound:
            return
        parent, name = sorted(self.obj[fid]["links"])[0]
        self.ensure_bound(parent)
        self.emit(f"bind {parent} {fid} {name}")
        self.bound.add(fid)

    def fid_if_bound(self, fid):
        return fid if fid in self.bound else 0

    def dirs(self):
        return [f for f, o in self.obj.items() if o["kind"] == "d"]

    def depth(self, fid):
        d = 0
        while fid != 1:
            fid = next(iter(self.obj[fid]["links"]))[0]
            d += 1
        return d

    def files(self, linked=True):
        fs = [f for f, o in self.obj.items() if o["kind"] == "f" and
              o["links"]]
        return fs + ([] if linked else sorted(self.open_unlinked))

    def entries(self, kinds="flp"):
        return [(d, n, f) for d in self.dirs() for n, f in
                sorted(self.children[d].items()) if self.obj[f]["kind"] in kinds]

    def free_name(self, d):
        names = [n for n in self.NAMES if n not in self.children[d]]
        return self.r.choice(names) if names else None

    def new(self, kind, parent, name):
        fid = self.next_fid
        self.next_fid += 1
        self.obj[fid] = {"kind": kind, "links": {(parent, name)}}
        self.children[parent][name] = fid
        if kind == "d":
            self.children[fid] = {}
        self.bound.add(fid)
        return fid

    def drop_link(self, parent, name):
        fid = self.children[parent].pop(name)
        self.obj[fid]["links"].discard((parent, name))
        return fid

    # -- ops; each returns False if it does not apply now
    def op_create(self):
        d = self.r.choice(self.dirs())
        name = self.free_name(d)
        if name is None:
            return False
        self.ensure_bound(d)
        mode = self.r.choice(["0644", "0600", "0640", "0755"])
        uid = self.r.choice([0, 1000, 4242])
        fid = self.new("f", d, name)
        self.emit(f"create {d} {fid} {name} {mode} uid={uid} gid={uid}")
        return True

    def op_mkdir(self):
        d = self.r.choice([x for x in self.dirs() if self.depth(x) < 3])
        name = self.free_name(d)
        if name is None:
            return False
        self.ensure_bound(d)
        fid = self.new("d", d, name)
        self.emit(f"mkdir {d} {fid} {name} {self.r.choice(['0755', '0700'])}")
        return True

    def op_symlink(self):
        d = self.r.choice(self.dirs())
        name = self.free_name(d)
        if name is None:
            return False
        self.ensure_bound(d)
        fid = self.new("l", d, name)
        self.emit(f"symlink {d} {fid} {name} ../t{self.r.randrange(100)}")
        return True

    def op_mkfifo(self):
        d = self.r.choice(self.dirs())
        name = self.free_name(d)
        if name is None:
            return False
        self.ensure_bound(d)
        fid = self.new("p", d, name)
        self.emit(f"mknod {d} {fid} {name} fifo 0640")
        return True

    def op_write(self):
        fs = self.files(linked=False)
        if not fs:
            return False
        fid = self.r.choice(fs)
        if fid not in self.open_unlinked:
            self.ensure_bound(fid)
        off = self.r.randrange(0, 20000)
        if self.r.random() < 0.05:
            data = f"@{self.r.randrange(100000, 600000)}:{self.r.randrange(1000)}"
        elif self.r.random() < 0.5:
            data = f"@{self.r.randrange(1, 5000)}:{self.r.randrange(1000)}"
        else:
            data = "".join(self.r.choice("xyz012") for _ in
                           range(self.r.randrange(1, 40)))
        self.emit(f"write {fid} {off} {data}")
        # sometimes a run of sequential writes (coalescing)
        for _ in range(self.r.choice([0, 0, 3, 10])):
            off += len(script_data(data))
            data = f"@{self.r.randrange(1, 3000)}:{self.r.randrange(1000)}"
            self.emit(f"write {fid} {off} {data}")
        return True

    def op_setattr(self):
        fs = self.files(linked=False)
        if not fs:
            return False
        fid = self.r.choice(fs)
        if fid not in self.open_unlinked:
            self.ensure_bound(fid)
        what = self.r.choice(["mode", "size", "mtime", "owner", "both"])
        opts = {
            "mode": f"mode={self.r.choice(['0600', '0644', '0444', '0750'])}",
            "size": f"size={self.r.randrange(0, 30000)}",
            "mtime": f"mtime={self.r.randrange(10**9, 2 * 10**9)}."
                     f"{self.r.randrange(10**9)}",
            "owner": f"uid={self.r.choice([0, 7, 1000])} gid=5",
            "both": f"size={self.r.randrange(0, 9000)} "
                    f"mtime={self.r.randrange(10**9, 2 * 10**9)}",
        }[what]
        self.emit(f"setattr {fid} {opts}")
        return True

    def op_link(self):
        fs = self.files()
        if not fs:
            return False
        fid = self.r.choice(fs)
        d = self.r.choice(self.dirs())
        name = self.free_name(d)
        if name is None:
            return False
        self.ensure_bound(fid)
        self.ensure_bound(d)
        self.children[d][name] = fid
        self.obj[fid]["links"].add((d, name))
        self.emit(f"link {fid} {d} {name}")
        return True

    def op_unlink(self):
        ents = self.entries("flp")
        if not ents:
            return False
        d, name, fid = self.r.choice(ents)
        self.ensure_bound(d)
        self.drop_link(d, name)
        self.emit(f"unlink {d} {name} {self.fid_if_bound(fid)}")
        o = self.obj[fid]
        if not o["links"] and o["kind"] == "f" and fid in self.bound and \
                self.r.random() < 0.5:
            self.open_unlinked.add(fid)     # still open on the writer
        return True

    def op_rmdir(self):
        empty = [(d, n, f) for d, n, f in self.entries("d")
                 if not self.children[f]]
        if not empty:
            return False
        d, name, fid = self.r.choice(empty)
        self.ensure_bound(d)
        self.drop_link(d, name)
        del self.children[fid]
        del self.obj[fid]
        self.bound.discard(fid)
        self.emit(f"rmdir {d} {name} {self.fid_if_bound(fid)}")
        return True

    def op_rename(self):
        ents = self.entries("flpd")
        if not ents:
            return False
        d, name, fid = self.r.choice(ents)
        if self.obj[fid]["kind"] == "d":
            nd = d          # directories move within their parent only
        else:
            nd = self.r.choice(self.dirs())
        nn = self.r.choice(self.NAMES)
        tgt = self.children[nd].get(nn)
        if tgt == fid or (tgt and (self.obj[tgt]["kind"] == "d" or
                                   self.obj[fid]["kind"] == "d")):
            return False
        flags = "noreplace" if tgt is None and self.r.random() < 0.3 else ""
        self.ensure_bound(d)
        self.ensure_bound(nd)
        if tgt is not None:
            self.drop_link(nd, nn)
            if not self.obj[tgt]["links"] and tgt in self.bound and \
                    self.obj[tgt]["kind"] == "f" and self.r.random() < 0.5:
                self.open_unlinked.add(tgt)
        self.drop_link(d, name)
        self.children[nd][nn] = fid
        self.obj[fid]["links"].add((nd, nn))
        self.emit(f"rename {d} {name} {nd} {nn} {self.fid_if_bound(fid)} {flags}")
        return True

    def op_exchange(self):
        ents = self.entries("fl")
        if len(ents) < 2:
            return False
        (d1, n1, f1), (d2, n2, f2) = self.r.sample(ents, 2)
        if f1 == f2:
            return False
        self.ensure_bound(d1)
        self.ensure_bound(d2)
        self.drop_link(d1, n1)
        self.drop_link(d2, n2)
        self.children[d1][n1], self.children[d2][n2] = f2, f1
        self.obj[f2]["links"].add((d1, n1))
        self.obj[f1]["links"].add((d2, n2))
        self.emit(f"rename {d1} {n1} {d2} {n2} {self.fid_if_bound(f1)} exchange")
        return True

    WEIGHTS = {"create": 12, "mkdir": 4, "symlink": 2, "mkfifo": 1,
               "write": 25, "setattr": 8, "link": 5, "unlink": 10,
               "rmdir": 3, "rename": 12, "exchange": 3}

    def chunk(self, n):
        """n random operations (plus the BINDs they need) as one script."""
        self.epoch()
        self.out = []
        ops, weights = zip(*self.WEIGHTS.items())
        done = 0
        while done < n:
            done += getattr(self, "op_" + self.r.choices(ops, weights)[0])()
        return "\n".join(self.out) + "\n"


# ------------------------------------------------------------ synthetic journals

def test_apply_synthetic_journal_then_again_applies_nothing(lab):
    syn = SynJournal()
    out = append(lab, 7, 1000, "--group", 16)
    syn.add(1, 1000)
    first = apply(lab, 7, "--batch", 100)
    assert first["error"] is None
    assert (first["records"], first["first_seq"], first["last_seq"]) == (1000, 1, 1000)
    # every 16th record is a SETXATTR: stored in the mirror's xattr store
    assert first["skipped"] == first["skipped_xattr"] == 0
    assert first["xattr_sets"] == syn.xattrs() == 62
    assert first["applied"] == 1000
    assert len(list((lab.export_dir("b") / ".ofsrep/xattr").glob("*/*"))) \
        == 62
    assert first["checkpoint"]["seq"] == 1000
    assert first["checkpoint"]["epoch"] == out["epoch"]
    assert first["batches"] == 10
    # the 13 WRITEs of 64 bytes of a file go out as one WRITE RPC
    # (coalesced), unless a batch ends among them
    assert first["write_rpcs"] == syn.write_rpcs(100) == 70
    assert first["coalesced"] == syn.writes() - 70
    assert first["end"].startswith("clean end")
    assert_syn_mirror(lab, syn)
    # the checkpoint fits the journal: nothing pending
    rc, rep = check(lab, 7)
    assert rc == 0 and rep["checkpoint"]["consistent"]
    assert rep["checkpoint"]["pending"] == 0 and rep["checkpoint"]["seq"] == 1000
    # a second run finds nothing to do and changes nothing
    before = snapshot(mirror(lab))
    again = apply(lab, 7)
    assert (again["records"], again["batches"], again["write_rpcs"]) == (0, 0, 0)
    assert again["checkpoint"]["seq"] == 1000
    assert snapshot(mirror(lab)) == before
    # the layout: the mirror, the orphans, the xattr store, the fid log
    # beside the checkpoint
    ofsrep = lab.export_dir("b") / ".ofsrep"
    assert sorted(p.name for p in ofsrep.iterdir()) == \
        ["journal", "mirror", "mirror-orphans", "xattr"]
    assert (jdir(lab, 7) / f"applied-{out['epoch']}.fids").exists()
    assert orphans(lab) == []


def test_apply_is_incremental_across_epochs_and_segments(lab):
    syn = SynJournal()
    a = append(lab, 3, 300, "--group", 8, "--seg-limit", 4096)
    syn.add(1, 300)
    first = apply(lab, 3, "--batch", 37)
    assert first["checkpoint"]["seq"] == 300 and first["records"] == 300
    assert_syn_mirror(lab, syn)
    # a new epoch continues inside a file's cycle: it BINDs the file first,
    # and the applier must find the file applied by the run before
    b = append(lab, 3, 205, "--group", 8, "--seg-limit", 4096, "--payload", 100)
    syn.add(301, 205, 100)
    assert b["epoch"] > a["epoch"] and b["first_seq"] == 301
    second = apply(lab, 3, "--batch", 50)
    assert (second["records"], second["first_seq"], second["last_seq"]) == (205, 301, 505)
    assert second["start_seq"] == 300 and second["checkpoint"]["seq"] == 505
    assert second["checkpoint"]["epoch"] == b["epoch"]
    assert_syn_mirror(lab, syn)
    # the old epoch's fid log is gone once the checkpoint moved past it
    logs = sorted(p.name for p in jdir(lab, 3).glob("applied-*.fids"))
    assert logs == [f"applied-{b['epoch']}.fids"]
    rc, rep = check(lab, 3)
    assert rc == 0 and rep["checkpoint"]["pending"] == 0


def test_big_writes_go_straight_from_the_segment(lab):
    syn = SynJournal()
    append(lab, 4, 40, "--group", 2, "--payload", "1m")
    syn.add(1, 40, 1 << 20)
    out = apply(lab, 4, "--batch", 16)
    assert out["records"] == 40 and out["coalesced"] == 0
    # 33 WRITE records of 1 MiB: one RPC each (ganesha's wtmax is 1 MiB)
    assert syn.writes() == 33
    assert out["write_rpcs"] == 33 and out["bytes"] == 33 << 20
    assert_syn_mirror(lab, syn)


# ------------------------------------------------------------ scripts

NAMESPACE_SCRIPT = """\
# directories, owners, data
mkdir 1 2 dir 0755
create 2 3 f 0644 uid=1000 gid=100
write 3 0 hello
write 3 5 ,\\sworld
mkdir 2 4 sub 0700 uid=7 gid=8
rename 2 f 4 g 3
# a hard link, a symlink, a fifo, a device
link 3 1 hard
symlink 1 5 sl ../target uid=1000 gid=1000
mknod 1 6 fifo fifo 0600
mknod 1 7 null chr 0666 rdev=1:3
# unlinked while open: later writes still land (an orphan)
create 1 8 tmp 0600
write 8 0 @100000:7
unlink 1 tmp 8
write 8 100000 more
# attributes, set-id bits, concrete times
create 1 9 x 0644
setattr 9 mode=04755
setattr 9 size=10 mtime=1700000000.5 atime=1600000000
# made and removed again
create 1 10 gone 0644
unlink 1 gone 10
mkdir 1 11 d2 0755
rmdir 1 d2 11
# a rename over a file, an exchange, a no-replace
create 1 12 over 0644
write 12 0 old
create 1 13 new 0644
write 13 0 new
rename 1 new 1 over 13
create 1 14 left 0644
write 14 0 L
create 1 15 right 0644
write 15 0 R
rename 1 left 1 right 14 exchange
rename 1 hard 1 hard2 0 noreplace
setxattr 3 user.a b
removexattr 3 user.a
"""


def test_script_namespace_records_match_a_local_replay(lab, tmp_path):
    model = LocalModel(tmp_path / "expected")
    out = apply_script(lab, 20, tmp_path, model, NAMESPACE_SCRIPT, "--group", 4)
    rep = apply(lab, 20)
    assert rep["records"] == out["records"] == rep["applied"]
    assert rep["skipped"] == 0 and rep["xattr_sets"] == 2
    st = os.lstat(mirror(lab) / "x")    # before reading it moves atime
    assert st.st_atime == 1600000000
    assert st.st_mode & 0o7777 == 0o4755 and st.st_mtime_ns == 1700000000 * 10**9 + 5
    assert_same_tree(model.root, mirror(lab), model.mtimes)
    assert os.lstat(mirror(lab) / "dir" / "sub" / "g").st_nlink == 2
    # fid 8 was written after its last name went: kept as an orphan;
    # fid 10 (gone) and the object "over" replaced (fid 12) were not
    assert orphans(lab) == [f"20-{out['epoch']}-8"]
    orphan = lab.export_dir("b") / ".ofsrep" / "mirror-orphans" / orphans(lab)[0]
    assert orphan.read_bytes() == script_data("@100000:7") + b"more"
    assert rep["orphaned"] == 3 and rep["reaped"] == 2
    model.close()


def test_orphans_live_until_a_run_does_not_write_them(lab, tmp_path):
    model = LocalModel(tmp_path / "expected")
    out = apply_script(lab, 21, tmp_path, model,
                       "create 1 2 log 0644\nwrite 2 0 a\n"
                       "create 1 3 other 0644\nunlink 1 log 2\nwrite 2 1 b\n")
    # written after its name went, in this run: kept
    first = apply(lab, 21)
    assert (first["orphaned"], first["reaped"]) == (1, 0)
    orphan = f"21-{out['epoch']}-2"
    assert orphans(lab) == [orphan]
    assert (lab.export_dir("b") / ".ofsrep" / "mirror-orphans" /
            orphan).read_bytes() == b"ab"
    # a run that does not write it lets it go
    second = apply(lab, 21)
    assert second["records"] == 0 and second["reaped"] == 1
    assert orphans(lab) == []
    assert_same_tree(model.root, mirror(lab))
    model.close()


def test_write_to_a_reaped_orphan_is_ignored(lab, tmp_path):
    """A file unlinked while open and not written during a whole run is
    removed; a WRITE that comes later meets NFS3ERR_STALE and is ignored
    (counted as stale): the object has no name left."""
    model = LocalModel(tmp_path / "expected")
    apply_script(lab, 22, tmp_path, model,
                 "create 1 2 log 0644\nwrite 2 0 a\nunlink 1 log 2\n"
                 "create 1 3 f 0644\nwrite 2 1 late\nsetattr 2 mode=0600\n"
                 "write 3 0 ok\n")
    first = apply(lab, 22, "--to", 4)
    assert first["stopped"] and first["checkpoint"]["seq"] == 4
    assert (first["orphaned"], first["reaped"]) == (1, 1)
    second = apply(lab, 22)
    assert second["first_seq"] == 5 and second["checkpoint"]["seq"] == 7
    # the WRITE, the SETATTR and the batch's COMMIT of fid 2
    assert second["stale"] == 3 and second["error"] is None
    assert orphans(lab) == []
    assert_same_tree(model.root, mirror(lab))
    model.close()


def random_chunks(seed, chunks, ops):
    gen = Gen(seed)
    return [gen.chunk(ops) for _ in range(chunks)]


@pytest.mark.parametrize("seed", [1, 2, 3] + (list(range(100, 120)) if LONG else []))
def test_random_scripts_match_a_local_replay(lab, tmp_path, seed):
    model = LocalModel(tmp_path / "expected")
    node = 30 + seed
    for i, text in enumerate(random_chunks(seed, 3, 150)):
        apply_script(lab, node, tmp_path, model, text, "--group", 7)
        rep = apply(lab, node, "--batch", 23)
        assert rep["error"] is None
        assert_same_tree(model.root, mirror(lab), model.mtimes)
    # a run with nothing new removes every orphan: the epoch's writes are
    # over for them
    apply(lab, node)
    assert orphans(lab) == []
    model.close()


# ------------------------------------------------------------ NAS b dies

def wait_for_ckpt(lab, node, above, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        seq = ckpt_on_disk(lab, node)
        if seq > above:
            return seq
        time.sleep(0.002)
    return None


def kill_during_apply(lab, node, above, *args, victim="nas"):
    """Start `apply`, kill NAS b (or, victim="applier", the apply process
    itself, SIGKILL) once the checkpoint passed `above`, and return (exit
    status, seconds it took to fail after the kill, stderr)."""
    cmd = [journal_bin(), "apply", lab.url("b"), "--node", str(node),
           "--timeout-ms", str(TIMEOUT_MS), *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for_ckpt(lab, node, above, proc)
        if victim == "nas":
            lab.nas("b", "kill")
        else:
            proc.kill()
        t_kill = time.monotonic()
        _, err = proc.communicate(timeout=TIMEOUT_MS / 1000 + 10)
        took = time.monotonic() - t_kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if victim == "nas":
        lab.nas("b", "start")
    return proc.returncode, took, err


def test_nas_b_killed_during_apply_then_reapplied(lab):
    syn = SynJournal()
    append(lab, 11, 6000, "--group", 64, "--payload", "8k")
    syn.add(1, 6000, 8192)
    rc, took, err = kill_during_apply(lab, 11, 500, "--batch", 64)
    if rc == 0:
        pytest.skip("apply finished before the kill")
    assert rc == 8, err
    assert took < TIMEOUT_MS / 1000 + 3, f"apply took {took:.1f} s to fail"
    assert err.count("\n") == 1 and lab.url("b") in err, err
    stopped = ckpt_on_disk(lab, 11)
    assert 500 < stopped < 6000
    # the next run starts from the checkpoint and re-applies the batch the
    # kill cut short
    rep = apply(lab, 11, "--batch", 64)
    assert rep["start_seq"] == stopped and rep["first_seq"] == stopped + 1
    assert rep["checkpoint"]["seq"] == 6000
    assert_syn_mirror(lab, syn)


@pytest.mark.parametrize("victim", ["nas", "applier"])
@pytest.mark.parametrize("seed", [11, 12] + (list(range(200, 230)) if LONG else []))
def test_kills_during_apply_of_random_scripts_give_the_same_tree(lab, tmp_path, seed,
                                                                 victim):
    """Renames, links, unlinks and orphans applied twice after a kill (of
    NAS b, or of the applier with RPCs in flight) must end in the tree a
    clean replay gives (the REPLAY ZONE of applier.c)."""
    model = LocalModel(tmp_path / "expected")
    node = 40 + seed
    for text in random_chunks(seed, 2, 2500):
        apply_script(lab, node, tmp_path, model, text, "--group", 16)
    r = random.Random(seed)
    start = ckpt_on_disk(lab, node)
    kills = []
    for _ in range(4):
        at = start + r.randrange(1, 1500)
        rc, _, err = kill_during_apply(lab, node, at, "--batch", 40,
                                       victim=victim)
        if rc == 0:
            break
        assert rc == (8 if victim == "nas" else -9), err
        start = ckpt_on_disk(lab, node)
        kills.append(start)
    rep = apply(lab, node, "--batch", 40)
    assert rep["error"] is None
    print(f"seed {seed}, {victim}: killed with the checkpoint at {kills}, last run "
          f"{rep['records']} records, {rep['replayed']} found applied before")
    assert_same_tree(model.root, mirror(lab), model.mtimes)
    model.close()


# ------------------------------------------------------------ damage

def records(path):
    """(offset, reclen, seq, gidx) of each whole record in a segment file."""
    data = path.read_bytes()
    out, off = [], SEG_HDR
    while off + REC_HDR <= len(data):
        paylen, gidx = struct.unpack_from("<II", data, off + 16)
        (seq,) = struct.unpack_from("<Q", data, off + 32)
        reclen = REC_HDR + (paylen + 7) // 8 * 8
        if off + reclen > len(data):
            break
        out.append((off, reclen, seq, gidx))
        off += reclen
    return out


def test_damaged_journal_stops_apply_before_the_damage(lab):
    syn = SynJournal()
    append(lab, 5, 400, "--group", 10)
    seg = sorted(jdir(lab, 5).glob("*.seg"))[0]
    off, _, seq, _ = next(r for r in records(seg) if r[2] == 255)
    with open(seg, "r+b") as f:         # flip a payload bit of seq 255
        f.seek(off + REC_HDR + 4)
        b = f.read(1)[0]
        f.seek(off + REC_HDR + 4)
        f.write(bytes([b ^ 8]))
    rep = apply(lab, 5, "--batch", 100, expect=4)
    assert rep["exit"] == 4 and "damaged" in rep["error"]
    assert "expected seq 255" in rep["error"] and lab.url("b") in rep["error"]
    assert rep["stderr"].count("\n") == 1
    # every record before the damage is applied and checkpointed, none after
    assert rep["last_seq"] == 254 and rep["checkpoint"]["seq"] == 254
    assert ckpt_on_disk(lab, 5) == 254
    syn.add(1, 254)
    assert_syn_mirror(lab, syn)
    # and it stays there
    again = apply(lab, 5, expect=4)
    assert again["records"] == 0 and ckpt_on_disk(lab, 5) == 254


def test_mirror_that_does_not_fit_the_journal_is_damage(lab, tmp_path):
    # seq 4 BINDs a name the mirror does not have
    append_script(lab, 6, "create 1 2 a 0644\nwrite 2 0 x\ncreate 1 3 b 0644\n"
                  "bind 1 4 nosuch\nwrite 4 0 y\n", tmp_path)
    rep = apply(lab, 6, expect=4)
    err = rep["error"]
    assert "seq 4 bind" in err and "'nosuch'" in err and "fid 1" in err
    assert "No such file or directory" in err and "damage" in err
    assert rep["checkpoint"]["seq"] == 3 and ckpt_on_disk(lab, 6) == 3
    assert sorted(p.name for p in mirror(lab).iterdir()) == ["a", "b"]
    # a fid used before anything introduced it (writer rule W6)
    append_script(lab, 8, "create 1 2 c 0644\nwrite 9 0 z\n", tmp_path)
    rep = apply(lab, 8, expect=4)
    assert "seq 2 write" in rep["error"] and "fid 9" in rep["error"]
    assert "W6" in rep["error"] and ckpt_on_disk(lab, 8) == 1
    # a name holding another kind of object than the record makes
    (mirror(lab) / "d").write_text("in the way")
    append_script(lab, 9, "mkdir 1 2 d 0755\n", tmp_path)
    rep = apply(lab, 9, expect=4)
    assert "seq 1 mkdir" in rep["error"] and "another kind" in rep["error"]
    assert ckpt_on_disk(lab, 9) == 0


def test_unreachable_export_is_an_operational_error(lab):
    append(lab, 10, 10)
    lab.nas("b", "kill")
    try:
        t0 = time.monotonic()
        proc = run(lab, "apply", 10)
        assert proc.returncode == 8 and proc.stderr.count("\n") == 1, proc.stderr
        assert time.monotonic() - t0 < TIMEOUT_MS / 1000 + 3
    finally:
        lab.nas("b", "start")


# ------------------------------------------------------------ bad input

def test_bad_apply_and_script_input_is_one_usage_line(tmp_path):
    # nothing may be sent anywhere: if a bug let a case connect, it would
    # meet a closed port on the loopback, not some other lab's server
    url = "nfs://127.0.0.1/x?nfsport=1&mountport=1"
    bad = tmp_path / "bad.txt"
    bad.write_text("create 1 2 f 0644\nfrobnicate 1 2\n")
    cases = [
        ["apply", url],
        ["apply", url, "--node", "1", "--batch", "0"],
        ["apply", url, "--node", "1", "--count", "3"],
        ["apply", url, "--node", "1", "--seq", "3"],
        ["append", url, "--node", "1", "--script", str(bad), "--count", "2"],
        ["append", url, "--node", "1", "--script", str(bad)],
    ]
    for args in cases:
        proc = subprocess.run([journal_bin(), *args], capture_output=True,
                              text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert proc.returncode == 16, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and not proc.stdout, (args, proc.stderr)
    proc = subprocess.run([journal_bin(), "append", url, "--node", "1",
                           "--script", str(bad)], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)
    assert f"{bad}:2: unknown record 'frobnicate'" in proc.stderr
