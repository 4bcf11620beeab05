"""Journal mode (-o journal) on a real lab: every mutation the application
saw succeed is a record in this node's journal on NAS b, durable before the
reply; the journal survives a SIGKILL of the daemon and an outage of NAS b.
The journal is inspected with `ofsrep-journal check --json`."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import journal_bin, journal_run, ofsrep_bin, parse_exports

JOURNAL_TOOL = journal_bin()
# The journal as written, left alone: no in-daemon applier, no trimming.
NOAPPLY_OPTS = {"OFSREP_MOUNT_OPTS": "-o journal,noapply"}


def mount_journal(lab, opts=None):
    """Mount in the mode under test: journal (the default) unless
    OFSREP_MOUNT_OPTS names another (mode=async, mode=full)."""
    proc = lab.run("mount", extra_env=opts)
    lab.env.update(parse_exports(proc.stdout))
    return lab.path


def check(lab, node=1):
    proc = subprocess.run([JOURNAL_TOOL, "check", lab.url("b"), "--node",
                           str(node), "--json"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode in (0, 4), proc.stderr
    return json.loads(proc.stdout)


def daemon_pid(lab):
    return int((lab.dir / "ofsrep.pid").read_text().split()[0])


def test_every_mutation_becomes_one_record(lab):
    mnt = mount_journal(lab)
    d = os.path.join(mnt, "d")
    os.mkdir(d)
    for i in range(5):
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(b"x" * 1000)
    os.link(os.path.join(d, "f0"), os.path.join(d, "hard"))
    os.symlink("f1", os.path.join(d, "sym"))
    os.rename(os.path.join(d, "f2"), os.path.join(d, "g2"))
    os.chmod(os.path.join(d, "f3"), 0o600)
    os.truncate(os.path.join(d, "f4"), 10)
    os.unlink(os.path.join(d, "hard"))
    os.mkfifo(os.path.join(d, "fifo"))
    os.mkdir(os.path.join(d, "e"))
    os.rmdir(os.path.join(d, "e"))
    lab.umount()            # the last closes' mtime records are durable
    j = check(lab)
    assert j["status"] == "clean", j
    t = j["types"]
    assert t.get("mkdir") == 2 and t.get("rmdir") == 1
    assert t.get("create") == 5 and t.get("write") == 5
    assert t.get("link") == 1 and t.get("symlink") == 1
    assert t.get("rename") == 1 and t.get("unlink") == 1
    assert t.get("mknod") == 1
    # chmod, truncate, and one mtime per written file at its last close;
    # then the mtime of a directory after each change in it (fs/journal.c,
    # not the root's): d's own when made, 5 creates, link, symlink, rename,
    # unlink, mkfifo, mkdir e (d's and e's own), rmdir e
    assert t.get("setattr") == 2 + 5 + (1 + 5 + 1 + 1 + 1 + 1 + 1 + 2 + 1)
    assert j["epochs"] == 1


class Writer(threading.Thread):
    """Appends 64 KiB blocks (one FUSE WRITE each) until told to stop."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.acked, self.errors = path, 0, []
        self.longest = 0.0
        self.stop_flag = threading.Event()

    def run(self):
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            self.errors.append(e)
            return
        try:
            while not self.stop_flag.is_set():
                t0 = time.monotonic()
                os.write(fd, b"w" * 65536)
                self.longest = max(self.longest, time.monotonic() - t0)
                self.acked += 1
                time.sleep(0.005)
        except OSError as e:
            self.errors.append(e)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass


def test_secondary_outage_without_spool_freezes_acks_then_continues(lab):
    """spool_max=0: no local spool, so a lost secondary holds every
    acknowledgement until it is back (the spool is tested in
    test_faults_secondary.py)."""
    mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o spool_max=0"})
    w = Writer(os.path.join(mnt, "stream"))
    w.start()
    time.sleep(0.5)
    lab.nas("b", "kill")
    before = w.acked        # NAS b is dead from here on
    time.sleep(2.0)
    during = w.acked
    lab.nas("b", "start")
    time.sleep(2.0)
    w.stop_flag.set()
    w.join(60)
    assert not w.errors, w.errors
    # Nothing can be acknowledged while the journal cannot be written
    # (at most a group that was already durable when b died).
    assert during - before <= 1, (before, during)
    assert w.acked > during + 5, "no progress after NAS b came back"
    j = check(lab)
    assert j["status"] == "clean", j
    assert j["types"]["write"] >= w.acked
    print("\nNAS b down 2 s: %d writes acknowledged, longest stall %.2f s"
          % (w.acked, w.longest))


def test_journal_continues_after_daemon_sigkill(lab):
    # The journal itself is inspected: no applier trimming it meanwhile.
    mnt = mount_journal(lab, NOAPPLY_OPTS)
    w = Writer(os.path.join(mnt, "stream"))
    w.start()
    time.sleep(1.0)
    os.kill(daemon_pid(lab), signal.SIGKILL)
    w.join(30)
    acked_first = w.acked
    assert acked_first > 10
    subprocess.run(["fusermount3", "-uz", mnt], check=False)
    mount_journal(lab, NOAPPLY_OPTS)
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"second epoch")
    j = check(lab)
    assert j["status"] in ("clean", "torn tail"), j
    assert j["epochs"] == 2, j
    # Every write acknowledged before the kill is in the journal.
    assert j["types"]["write"] >= acked_first + 1, (j["types"], acked_first)


def test_damaged_journal_refuses_to_mount(lab):
    # Damage past the applier's checkpoint: noapply keeps everything there.
    mnt = mount_journal(lab, NOAPPLY_OPTS)
    for i in range(40):
        with open(os.path.join(mnt, "f%d" % i), "wb") as f:
            f.write(os.urandom(3000))
    lab.umount()
    seg = sorted((lab.export_dir("b") / ".ofsrep" / "journal" / "1").glob(
        "*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[len(data) // 3] ^= 0x40            # a bit flip with records after it
    seg.write_bytes(bytes(data))
    lab.nas("b", "kill")                    # ganesha caches; start afresh
    lab.nas("b", "start")
    proc = lab.run("mount", check=False, extra_env=NOAPPLY_OPTS)
    assert proc.returncode != 0
    log = (lab.dir / "ofsrep.log").read_text(errors="replace")
    assert "cannot be continued" in log and "ofsrep-journal check" in log
    assert not os.path.ismount(mnt)


def test_journal_lease_keeps_one_owner(lab, tmp_path):
    """replica/lease.c: a mount owns its node's journal; a second mount of
    the same node, or ofsrep-journal apply, is refused while it runs; a
    lease of a live holder on another host refuses the mount until it has
    expired; a clean unmount drops the lease."""
    mnt = mount_journal(lab)
    jdir = lab.export_dir("b") / ".ofsrep" / "journal" / "1"
    lease = (jdir / "lease").read_text()
    assert lease.startswith("OFSLEASE 1 holder=ofsrep ") and len(lease) == 256
    assert "mount=%s" % os.path.realpath(mnt) in lease
    # a second daemon with the same node id, elsewhere
    other = tmp_path / "other"
    other.mkdir()
    proc = subprocess.run([ofsrep_bin(), lab.url("a"), str(other), "-o",
                           "secondary=" + lab.url("b")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "in use by ofsrep pid" in proc.stderr and "node=1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not os.path.ismount(other)
    # the offline applier keeps off a live mount's journal
    proc = journal_run(lab, "apply", 1)
    assert proc.returncode == 8 and "unmount it first" in proc.stderr
    lab.umount()
    assert not (jdir / "lease").exists()
    # a holder on another host whose lease has not expired
    fake = ("OFSLEASE 1 holder=ofsrep host=elsewhere pid=1 expires=%d "
            "mount=/x" % (time.time() + 100)).ljust(255) + "\n"
    (jdir / "lease").write_text(fake)
    lab.nas("b", "kill")                    # ganesha caches; start afresh
    lab.nas("b", "start")
    proc = lab.run("mount", check=False)
    assert proc.returncode != 0
    log = (lab.dir / "ofsrep.log").read_text(errors="replace")
    assert "in use by ofsrep pid 1 on host elsewhere" in log
    # ... and once it has expired (beyond the clock skew allowed)
    (jdir / "lease").write_text(fake.replace(
        "expires=%d" % int(fake.split("expires=")[1].split()[0]),
        "expires=%d" % (time.time() - 60)))
    lab.nas("b", "kill")
    lab.nas("b", "start")
    mount_journal(lab)
    assert os.path.ismount(mnt)
    lab.umount()
    # a noapply mount leaves applying to the tool, beside it
    mount_journal(lab, NOAPPLY_OPTS)
    assert "holder=ofsrep-noapply " in (jdir / "lease").read_text()
    (lab.dir / "mnt" / "y").write_bytes(b"y")
    proc = journal_run(lab, "apply", 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lab.umount()
