"""The primary data path under faults (real ganesha, real FUSE mount).

With failover off (-o failover=off; failover itself is
test_failover.py), losing the primary must look to applications like a
freeze, never like an error: requests wait for the
server and are re-sent on a fresh connection, and data written before a
server restart is re-sent when the server's write verifier changes.  Each
test runs a writer that records every acknowledged write and its longest
stall, injects a fault through ofsrep-lab, and then checks every
acknowledged byte.
"""
import hashlib
import os
import threading
import time

import pytest

CHUNK = 64 * 1024


@pytest.fixture
def mnt(mnt_nofailover):
    """failover=off: these tests are about the data path riding out a
    primary outage by itself (failover is tests/test_failover.py)."""
    return mnt_nofailover


class Writer(threading.Thread):
    """Appends CHUNK-sized blocks with known content until stopped; keeps
    what was acknowledged and the longest time one write() took."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.acked = 0
        self.errors = []
        self.longest_stall = 0.0
        self.stop_flag = threading.Event()

    @staticmethod
    def block(i):
        return hashlib.sha256(b"%d" % i).digest() * (CHUNK // 32)

    def run(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while not self.stop_flag.is_set():
                t0 = time.monotonic()
                try:
                    n = os.write(fd, self.block(self.acked))
                except OSError as e:
                    self.errors.append(e)
                    return
                self.longest_stall = max(self.longest_stall,
                                         time.monotonic() - t0)
                assert n == CHUNK
                self.acked += 1
                time.sleep(0.005)
            os.fsync(fd)
        except OSError as e:
            self.errors.append(e)
        finally:
            os.close(fd)

    def finish(self, timeout=60):
        self.stop_flag.set()
        self.join(timeout)
        assert not self.is_alive(), "writer still blocked %ds after the " \
            "fault was healed" % timeout

    def verify(self):
        with open(self.path, "rb") as f:
            data = f.read()
        assert len(data) == self.acked * CHUNK
        for i in range(self.acked):
            assert data[i * CHUNK:(i + 1) * CHUNK] == self.block(i), \
                "acknowledged block %d differs" % i


def run_fault(mnt, fault, heal, outage):
    w = Writer(os.path.join(mnt.path, "stream"))
    w.start()
    time.sleep(0.5)
    before = w.acked
    assert before > 0, "writer made no progress before the fault"
    mnt.nas("a", fault)
    time.sleep(outage)
    mnt.nas("a", heal)
    time.sleep(1.5)
    w.finish()
    assert not w.errors, "application saw %r during the outage" % w.errors
    assert w.acked > before, "writer made no progress after the fault"
    w.verify()
    print("\n%s/%s outage %.1fs: %d blocks acknowledged, longest stall "
          "%.2fs" % (fault, heal, outage, w.acked, w.longest_stall))
    return w


def test_killed_primary_freezes_then_continues(mnt):
    w = run_fault(mnt, "kill", "start", 2.0)
    assert w.longest_stall >= 1.0, "the outage should have been seen"


def test_hung_primary_freezes_then_continues(mnt):
    run_fault(mnt, "stop", "cont", 3.0)


def test_cut_network_freezes_then_continues(mnt):
    run_fault(mnt, "cut", "heal", 3.0)


def test_metadata_ops_survive_a_restart(mnt):
    """Creates, renames and removals around a killed server all succeed
    exactly once from the application's point of view."""
    base = os.path.join(mnt.path, "meta")
    os.mkdir(base)
    for i in range(50):
        with open(os.path.join(base, "f%d" % i), "wb") as f:
            f.write(b"x" * i)
    result = {}

    def churn():
        try:
            for i in range(50):
                os.rename(os.path.join(base, "f%d" % i),
                          os.path.join(base, "g%d" % i))
                if i % 2:
                    os.unlink(os.path.join(base, "g%d" % i))
                time.sleep(0.02)
            result["ok"] = True
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    time.sleep(0.2)
    mnt.nas("a", "kill")
    time.sleep(1.0)
    mnt.nas("a", "start")
    t.join(60)
    assert not t.is_alive()
    assert result.get("ok"), "application saw %r" % result.get("error")
    names = sorted(os.listdir(base))
    assert names == sorted("g%d" % i for i in range(0, 50, 2))
    for i in range(0, 50, 2):
        with open(os.path.join(base, "g%d" % i), "rb") as f:
            assert f.read() == b"x" * i


def test_uncommitted_writes_are_resent_after_a_server_restart(mnt):
    """Unstable writes acknowledged before a restart are re-sent when the
    COMMIT reports a new write verifier; fsync then succeeds and the data is
    on the export."""
    path = os.path.join(mnt.path, "unstable")
    data = os.urandom(3 * 1024 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert os.write(fd, data) == len(data)
        # ganesha's write verifier is its start time in whole seconds: a
        # restart within the same second would be invisible to any client.
        time.sleep(1.1)
        mnt.nas("a", "kill")
        mnt.nas("a", "start")
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(mnt.export_dir("a") / "unstable", "rb") as f:
        assert f.read() == data
    log = (mnt.dir / "ofsrep.log").read_text(errors="replace")
    assert "write verifier changed" in log, \
        "the daemon did not notice the restarted server's new verifier"


def test_resend_after_restart_never_undoes_a_newer_write(mnt):
    """A write lost by a server restart is re-sent together with every later
    write, in order: an older write of the same bytes must never land on top
    of a newer one that the application also saw succeed."""
    path = os.path.join(mnt.path, "order")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert os.pwrite(fd, b"A" * 8192, 0) == 8192
        time.sleep(1.1)         # a new verifier needs a new second
        mnt.nas("a", "kill")
        mnt.nas("a", "start")
        assert os.pwrite(fd, b"B" * 4096, 4096) == 4096
        os.fsync(fd)
    finally:
        os.close(fd)
    expect = b"A" * 4096 + b"B" * 4096
    with open(mnt.export_dir("a") / "order", "rb") as f:
        assert f.read() == expect
    with open(path, "rb") as f:
        assert f.read() == expect


def test_write_then_remove_while_commit_runs(mnt):
    """The background COMMIT after close races the unlink and the kernel's
    FORGET of the same file; the daemon must survive it (a use-after-free
    here is caught by the sanitizer run)."""
    base = os.path.join(mnt.path, "race")
    os.mkdir(base)
    for i in range(300):
        p = os.path.join(base, "f%d" % i)
        with open(p, "wb") as f:
            f.write(os.urandom(20000))
        os.unlink(p)
    assert os.listdir(base) == []
    with open(os.path.join(base, "alive"), "wb") as f:
        f.write(b"still serving")
    with open(os.path.join(base, "alive"), "rb") as f:
        assert f.read() == b"still serving"
