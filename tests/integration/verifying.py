"""A verifying workload for fault tests: one thread mutates a directory
through the mount (creates with known content, overwrites, appends,
renames, unlinks, mkdirs, fsyncs) and records, after each operation
returned success, what the tree must now hold.  Afterwards `check(root)`
compares any copy of the tree (the live mount, the primary's export, the
mirror) with that record: every acknowledged operation must be there,
nothing removed may come back.  Each operation's duration is measured;
`longest` is the longest stall an application saw."""
import hashlib
import os
import random
import threading
import time


def content(tag, size):
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Workload(threading.Thread):
    def __init__(self, root, seed=1, pause=0.01, fsync_every=4,
                 expected=None, first_n=0, max_files=None):
        """@expected and @first_n continue an earlier workload's tree
        (a new mount of the same directory)."""
        super().__init__(daemon=True)
        self.root = root
        self.rng = random.Random(seed)
        self.pause = pause
        self.fsync_every = fsync_every
        # relative path -> bytes, or None: a directory
        self.expected = dict(expected or {})
        self.errors = []
        self.acked = 0
        self.longest = 0.0
        self.longest_op = None
        self.stop_flag = threading.Event()
        self.n = first_n
        self.max_files = max_files  # beyond it, shrink the tree
        self.stalls = []            # (start monotonic, duration) > 0.5 s

    def _p(self, rel):
        return os.path.join(self.root, rel)

    def _files(self):
        return [p for p, v in self.expected.items() if v is not None]

    def _op(self):
        self.n += 1
        n, files = self.n, self._files()
        kind = self.rng.choice(["create"] * 4 + ["overwrite", "append",
                               "rename", "unlink", "mkdir"])
        if kind != "create" and kind != "mkdir" and not files:
            kind = "create"
        if self.max_files and len(files) >= self.max_files:
            kind = self.rng.choice(["unlink", "unlink", "rename",
                                    "overwrite", "append"])
        dirs = [""] + [p for p, v in self.expected.items() if v is None]
        if kind == "create":
            rel = os.path.join(self.rng.choice(dirs), "f%d" % n)
            data = content(rel + str(n), self.rng.choice([0, 100, 4096,
                                                          65536, 200000]))
            with open(self._p(rel), "xb") as f:
                f.write(data)
                if n % self.fsync_every == 0:
                    f.flush()
                    os.fsync(f.fileno())
            return kind, lambda: self.expected.__setitem__(rel, data)
        if kind == "mkdir":
            rel = os.path.join(self.rng.choice(dirs), "d%d" % n)
            os.mkdir(self._p(rel))
            return kind, lambda: self.expected.__setitem__(rel, None)
        rel = self.rng.choice(files)
        if kind == "overwrite":
            data = content(rel + str(n), self.rng.choice([10, 70000]))
            with open(self._p(rel), "r+b") as f:
                f.truncate(0)
                f.write(data)
            return kind, lambda: self.expected.__setitem__(rel, data)
        if kind == "append":
            more = content(rel + "+" + str(n), 3000)
            with open(self._p(rel), "ab") as f:
                f.write(more)
                if n % self.fsync_every == 0:
                    f.flush()
                    os.fsync(f.fileno())
            old = self.expected[rel]
            return kind, lambda: self.expected.__setitem__(rel, old + more)
        if kind == "rename":
            new = os.path.join(self.rng.choice(dirs), "r%d" % n)
            os.rename(self._p(rel), self._p(new))

            def moved():
                self.expected[new] = self.expected.pop(rel)
            return kind, moved
        os.unlink(self._p(rel))
        return kind, lambda: self.expected.pop(rel)

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                kind, commit = self._op()
            except OSError as e:
                self.errors.append("op %d: %r" % (self.n, e))
                return
            took = time.monotonic() - t0
            commit()
            self.acked += 1
            if took > 0.5:
                self.stalls.append((t0, took))
            if took > self.longest:
                self.longest, self.longest_op = took, kind
            time.sleep(self.pause)

    def stop(self, timeout=120):
        self.stop_flag.set()
        self.join(timeout)
        assert not self.is_alive(), "the workload hangs"

    def longest_in(self, start, end):
        """The longest stall of an operation that was running at some
        moment of [start, end] (seconds, monotonic)."""
        return max([d for t0, d in self.stalls
                    if t0 <= end and t0 + d >= start] + [0.0])

    def differences(self, root):
        """(missing, not expected, wrong content) paths of the tree at
        @root against what was acknowledged."""
        seen = {}
        for dirpath, dirs, files in os.walk(root):
            for name in dirs:
                seen[os.path.relpath(os.path.join(dirpath, name), root)] = \
                    None
            for name in files:
                p = os.path.join(dirpath, name)
                with open(p, "rb") as f:
                    seen[os.path.relpath(p, root)] = f.read()
        missing = sorted(set(self.expected) - set(seen))
        extra = sorted(set(seen) - set(self.expected))
        wrong = sorted(p for p in self.expected if p in seen and
                       seen[p] != self.expected[p])
        return missing, extra, wrong, len(seen)

    def check(self, root):
        """Every acknowledged operation is in the tree at @root (the
        workload's directory as another view shows it); returns the number
        of entries checked."""
        missing, extra, wrong, n = self.differences(root)
        assert not (missing or extra or wrong), (
            "in %s: missing %s, not expected %s, wrong content %s" % (
                root, missing[:8], extra[:8], wrong[:8]))
        return n
