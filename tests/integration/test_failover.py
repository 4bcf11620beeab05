"""Losing the primary (NAS a): failover to the mirror on NAS b (real
ganesha, real FUSE mount, faults through `ofsrep-lab nas a ...`).

A verifying workload runs while NAS a is killed, hung (SIGSTOP) or cut
off; the mount must move to the mirror (fs/failover.c) with no error to
the application, and afterwards every acknowledged operation must be in
the live tree and in the mirror; the longest stall is printed.  Also:
open files and an unlinked-but-open file keep working across the switch;
a blip shorter than the failover window does not fail over; no failover
while NAS b is lost too (I/O waits instead); the returning primary is
not served before the failback settle time (no flapping).  Resync and
failback themselves: test_failback.py."""
import os
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin, parse_exports  # noqa: E402
from test_journal_mirror import mirror_dir  # noqa: E402
from test_journal_mode import mount_journal  # noqa: E402
from test_status import status, wait_health  # noqa: E402
from verifying import Workload  # noqa: E402

HEAL = {"kill": "start", "stop": "cont", "cut": "heal"}


def serving(mnt):
    rc, j, _ = status(mnt, json_out=True)
    return j["serving"] if j else None


def wait_serving(mnt, what, timeout=30):
    deadline = time.monotonic() + timeout
    while serving(mnt) != what:
        assert time.monotonic() < deadline, status(mnt)[2].stdout
        time.sleep(0.2)


def primary(j):
    return [e for e in j["exports"] if e["role"] == "primary"][0]


def stale_marker(lab):
    return lab.export_dir("b") / ".ofsrep/journal/1/primary-stale"


def refused_mount(lab):
    """Runs the daemon on the lab's pair; it must refuse with one line and
    mount nothing.  Returns the line(s)."""
    proc = subprocess.run(
        [ofsrep_bin(), lab.url("a"), str(lab.dir / "mnt"), "-o",
         "secondary=%s,spool=%s" % (lab.url("b"), lab.dir / "spool")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert not os.path.ismount(lab.dir / "mnt")
    return lines


@pytest.mark.parametrize("fault", ["kill", "stop", "cut"])
def test_primary_lost_fails_over_without_errors(lab, fault):
    mnt = mount_journal(lab)
    os.mkdir(os.path.join(mnt, "w"))
    wl = Workload(os.path.join(mnt, "w"), seed=hash(fault) & 0xffff)
    wl.start()
    try:
        time.sleep(1.5)
        lab.nas("a", fault)
        t_fault = time.monotonic()
        wait_serving(mnt, "mirror")
        switched = time.monotonic() - t_fault
        acked = wl.acked
        time.sleep(3.0)
        assert wl.acked > acked + 10, "no progress on the mirror"
    finally:
        wl.stop()
    assert not wl.errors, wl.errors
    n = wl.check(os.path.join(mnt, "w"))
    wl.check(mirror_dir(lab) / "w")
    rc, j, _ = status(mnt, json_out=True)
    assert rc == 1, j                       # degraded: one copy
    assert primary(j)["state"] == "stale", j
    assert j["last_failover"]["count"] == 1, j
    log = (lab.dir / "ofsrep.log").read_text()
    assert "failover: serving from the mirror" in log, log[-3000:]
    # The primary comes back: it is resynced, but not served before the
    # settle time (60 s by default): no flapping.
    lab.nas("a", HEAL[fault])
    time.sleep(3.0)
    assert serving(mnt) == "mirror"
    with open(os.path.join(mnt, "after-heal"), "wb") as f:
        f.write(b"still the mirror")
    assert (mirror_dir(lab) / "after-heal").read_bytes() == \
        b"still the mirror"
    print("\nNAS a %s: failover %.1f s after the fault (freeze %.1f s), "
          "%d ops acknowledged, %d entries verified in the mirror, longest "
          "stall %.2f s (%s)" % (fault, switched, j["last_failover"]
                                 ["freeze_s"], wl.acked, n, wl.longest,
                                 wl.longest_op))


def test_open_files_survive_the_switch(lab):
    mnt = mount_journal(lab)
    keep = os.path.join(mnt, "kept-open")
    hidden = os.path.join(mnt, "unlinked-open")
    fd = os.open(keep, os.O_RDWR | os.O_CREAT, 0o640)
    os.write(fd, b"before;")
    hfd = os.open(hidden, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(hfd, b"hidden before;")
    os.unlink(hidden)
    dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    ino_before = os.fstat(fd).st_ino
    lab.nas("a", "kill")
    # the next operations wait out the switch, then succeed
    os.write(fd, b"after;")
    os.fsync(fd)
    os.write(hfd, b"hidden after;")
    assert serving(mnt) == "mirror"
    assert os.pread(fd, 100, 0) == b"before;after;"
    assert os.pread(hfd, 100, 0) == b"hidden before;hidden after;"
    assert os.fstat(hfd).st_nlink == 0
    assert "kept-open" in os.listdir(dfd)
    assert os.fstat(fd).st_ino == ino_before   # Samba keys on st_ino
    os.close(fd)
    os.close(hfd)
    os.close(dfd)
    assert (mirror_dir(lab) / "kept-open").read_bytes() == b"before;after;"
    # the unlinked file's hidden name goes at its last close, as before
    deadline = time.monotonic() + 10
    while [n for n in os.listdir(mirror_dir(lab))
           if n.startswith(".ofsrep-unlinked-")]:
        assert time.monotonic() < deadline, os.listdir(mirror_dir(lab))
        time.sleep(0.2)
    assert sorted(os.listdir(mnt)) == ["kept-open"]


def test_a_short_blip_does_not_fail_over(lab):
    """NAS a hung for 1.5 s, less than failover_timeout: I/O waits and
    goes on with the primary."""
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"1")
    lab.nas("a", "stop")
    time.sleep(1.5)
    lab.nas("a", "cont")
    with open(os.path.join(mnt, "f"), "ab") as f:
        f.write(b"2")
    time.sleep(2.0)
    assert serving(mnt) == "primary"
    assert (lab.export_dir("a") / "f").read_bytes() == b"12"
    wait_health(mnt, 0)


def test_no_failover_while_the_secondary_is_lost_too(lab):
    """NAS b lost first (the journal is in the local spool), then NAS a:
    the mirror lacks what is spooled, so no failover; I/O waits for NAS a
    and status says broken.  Both back: service and replication resume."""
    mnt = mount_journal(lab)
    lab.nas("b", "kill")
    with open(os.path.join(mnt, "spooled"), "wb") as f:
        f.write(b"only in the spool and on NAS a")
    lab.nas("a", "kill")
    done = []
    t = threading.Thread(target=lambda: done.append(
        open(os.path.join(mnt, "waits"), "wb").close()), daemon=True)
    t.start()
    j = wait_health(mnt, 2, timeout=30)
    assert any("failover" in p for p in j["problems"]), j["problems"]
    time.sleep(2.0)
    assert serving(mnt) == "primary" and not done
    log = (lab.dir / "ofsrep.log").read_text()
    assert "no failover: the journal is not complete" in log, log[-2000:]
    lab.nas("a", "start")
    t.join(60)
    assert done, "I/O still waits after NAS a came back"
    lab.nas("b", "start")
    wait_health(mnt, 0, timeout=60)
    assert serving(mnt) == "primary"


def test_mount_while_the_primary_is_down_starts_on_the_mirror(lab):
    """Restart in degraded mode: NAS a down at mount time, the pair has a
    journal: the mount comes up on the mirror, with everything written
    before, and says so."""
    mnt = mount_journal(lab)
    os.mkdir(os.path.join(mnt, "dir"))
    with open(os.path.join(mnt, "dir/old"), "wb") as f:
        f.write(b"from before the restart")
    lab.umount()
    lab.nas("a", "kill")
    proc = lab.run("mount")
    lab.env.update(parse_exports(proc.stdout))
    log = (lab.dir / "ofsrep.log").read_text()
    assert "starting degraded, on the mirror" in log, log[-2000:]
    wait_serving(mnt, "mirror")
    assert open(os.path.join(mnt, "dir/old"), "rb").read() == \
        b"from before the restart"
    with open(os.path.join(mnt, "dir/new"), "wb") as f:
        f.write(b"written while degraded")
    rc, j, _ = status(mnt, json_out=True)
    assert rc == 1 and primary(j)["state"] == "stale", j
    assert (mirror_dir(lab) / "dir/new").read_bytes() == \
        b"written while degraded"
    # NAS a returns: resynced online, then (manually) served again
    lab.nas("a", "start")
    deadline = time.monotonic() + 60
    while status(mnt, json_out=True)[1]["failback"]["state"] != "in-sync":
        assert time.monotonic() < deadline, status(mnt)[2].stdout
        time.sleep(0.3)
    proc = subprocess.run([ofsrep_bin(), "failback", mnt],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_serving(mnt, "primary")
    assert (lab.export_dir("a") / "dir/new").read_bytes() == \
        b"written while degraded"
    wait_health(mnt, 0)


def test_fresh_pair_with_the_primary_down_is_refused(lab):
    """No journal yet: a primary that cannot be reached is an error (a
    typo in the URL must not look like a degraded start)."""
    (lab.dir / "mnt").mkdir(exist_ok=True)
    lab.nas("a", "kill")
    assert "no mirror to start on" in refused_mount(lab)[0]
