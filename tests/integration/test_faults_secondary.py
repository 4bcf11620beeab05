"""Losing the secondary (NAS b) under a verifying workload (real ganesha,
real FUSE mount, faults through `ofsrep-lab nas b ...`).

While NAS b is dead, hung or cut off, journal groups go to the local spool
(journal/spool.c, replica/jw_io.c) and applications go on: no error, and
no stall as long as the outage (the longest stall is printed).  When NAS b
is back the spool is written to its journal, the mirror catches up and
must equal the primary, and every acknowledged operation is in the live
tree, on the primary and in the mirror.  Also: the daemon killed while
spooling (the next mount writes the spool to the journal first), a full
spool (the journal is detached and the mirror marked stale, also across a
remount), a local disk that fills up under the spool, and the idle
heartbeat that notices a lost NAS b with no I/O at all."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin  # noqa: E402
from test_journal_mirror import assert_mirror_equals_primary, mirror_dir, \
    wait_mirror_equal  # noqa: E402
from test_journal_mode import daemon_pid, mount_journal  # noqa: E402
from test_status import status, wait_health  # noqa: E402
from verifying import Workload  # noqa: E402

OUTAGE_S = 8.0
HEAL = {"kill": "start", "stop": "cont", "cut": "heal"}


def secondary(j):
    return [e for e in j["exports"] if e["role"] == "secondary"][0]


def wait_secondary_state(mnt, state, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        rc, j, proc = status(mnt, json_out=True)
        if j and secondary(j)["state"] == state:
            return rc, j
        assert time.monotonic() < deadline, (rc, proc.stdout, proc.stderr)
        time.sleep(0.2)


def run_outage(lab, mnt, fault, seed):
    rng = random.Random(seed)
    os.mkdir(os.path.join(mnt, "w"))
    wl = Workload(os.path.join(mnt, "w"), seed=seed)
    wl.start()
    try:
        time.sleep(rng.uniform(0.5, 1.5))
        lab.nas("b", fault)
        t_fault = time.monotonic()
        rc, j = wait_secondary_state(mnt, "lost", timeout=OUTAGE_S)
        assert rc == 1, j                       # degraded, not broken
        acked_at_loss = wl.acked
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_fault)))
        during = wl.acked - acked_at_loss
        sec = secondary(status(mnt, json_out=True)[1])
        assert sec["spool"]["bytes"] > 0, sec
        lab.nas("b", HEAL[fault])
        time.sleep(2.0)
    finally:
        wl.stop()
    assert not wl.errors, wl.errors
    assert during > 10, "service did not go on while NAS b was lost"
    return wl, during


@pytest.mark.parametrize("fault", ["kill", "stop", "cut"])
def test_secondary_lost_service_goes_on_and_mirror_catches_up(lab, fault):
    mnt = mount_journal(lab)
    wl, during = run_outage(lab, mnt, fault, seed=hash(fault) & 0xffff)
    # Service went on: no operation waited for the whole outage.
    assert wl.longest < OUTAGE_S, (wl.longest, wl.longest_op)
    wl.check(os.path.join(mnt, "w"))
    wl.check(lab.export_dir("a") / "w")
    wait_mirror_equal(lab, timeout=90)
    n = wl.check(mirror_dir(lab) / "w")
    j = wait_health(mnt, 0, timeout=60)
    sec = secondary(j)
    assert sec["state"] == "up" and sec["outages"] >= 1, sec
    assert sec["spool"]["bytes"] == 0 and sec["spool"]["groups_spooled"] > 0
    log = (lab.dir / "ofsrep.log").read_text()
    assert "lost:" in log and "in sync again" in log, log[-2000:]
    print("\nNAS b %s for %.0f s: %d ops acknowledged (%d during the "
          "outage), %d entries verified in the mirror, longest stall "
          "%.2f s (%s)" % (fault, OUTAGE_S, wl.acked, during, n,
                           wl.longest, wl.longest_op))


def test_daemon_killed_while_spooling_loses_nothing(lab):
    mnt = mount_journal(lab)
    os.mkdir(os.path.join(mnt, "w"))
    wl = Workload(os.path.join(mnt, "w"), seed=7)
    wl.start()
    time.sleep(1.0)
    lab.nas("b", "kill")
    wait_secondary_state(mnt, "lost")
    time.sleep(2.0)
    wl.stop()
    assert not wl.errors, wl.errors
    spool = secondary(status(mnt, json_out=True)[1])["spool"]
    assert spool["bytes"] > 0, spool
    os.kill(daemon_pid(lab), signal.SIGKILL)
    lab.nas("b", "start")
    # The next mount writes the spool to the journal before reading it.
    mount_journal(lab)
    assert os.path.getsize(spool["path"]) == 64    # header only: drained
    wait_mirror_equal(lab, timeout=90)
    n = wl.check(mirror_dir(lab) / "w")
    wl.check(os.path.join(mnt, "w"))
    log = (lab.dir / "ofsrep.log").read_text()
    assert "an earlier mount spooled" in log, log[-2000:]
    print("\n%d ops acknowledged; the daemon was killed with %d spooled "
          "bytes; %d entries verified in the mirror after the remount"
          % (wl.acked, spool["bytes"], n))


def overflow(lab, mnt):
    """NAS b killed, 3 MiB written with spool_max=1: the spool overflows,
    nothing is replicated any more, writers never fail."""
    lab.nas("b", "kill")
    data = os.urandom(64 * 1024)
    with open(os.path.join(mnt, "big"), "wb") as f:
        for _ in range(48):                   # 3 MiB
            f.write(data)
    rc, j = wait_secondary_state(mnt, "stale")
    assert rc == 1, j
    assert secondary(j)["spool"]["overflowed"] is True
    assert any("resynced from the primary" in p for p in j["problems"]), \
        j["problems"]
    assert os.path.getsize(lab.export_dir("a") / "big") == 48 * 65536


def resynced_online(lab, mnt):
    """NAS b is back: the mirror is resynced from the primary while a
    workload runs, and the journal attached again (fs/reattach.c)."""
    os.makedirs(os.path.join(mnt, "w"), exist_ok=True)
    wl = Workload(os.path.join(mnt, "w"), seed=13)
    wl.start()
    try:
        j = wait_health(mnt, 0, timeout=120)
        time.sleep(1.0)
    finally:
        wl.stop()
    assert not wl.errors, wl.errors
    assert j["resync"] is None and j["journal"]["route"] == "direct", j
    assert secondary(j)["spool"]["overflowed"] is False, j
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"journaled again")
    wl.check(os.path.join(mnt, "w"))
    lab.umount()
    log = (lab.dir / "ofsrep.log").read_text()
    assert "journal attached again" in log, log[-3000:]
    assert (mirror_dir(lab) / "after").read_bytes() == b"journaled again"
    n = wl.check(mirror_dir(lab) / "w")
    assert_mirror_equals_primary(lab)
    proc = subprocess.run([os.path.join(os.path.dirname(ofsrep_bin()),
                                        "ofsrep-journal"), "check",
                           lab.url("b"), "--node", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return n, wl


def test_spool_overflow_then_the_mirror_is_resynced_online(lab):
    mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o spool_max=1"})
    overflow(lab, mnt)
    lab.nas("b", "start")
    n, wl = resynced_online(lab, mnt)
    print("\nspool overflow, NAS b back: mirror resynced online under a "
          "workload (%d ops acknowledged, %d entries verified in the "
          "mirror)" % (wl.acked, n))


def test_spool_overflow_is_remembered_and_resynced_at_the_next_mount(lab):
    """The overflow flag is in the spool's header: a mount after it (NAS
    b back) starts detached and resyncs the mirror online."""
    mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o spool_max=1"})
    overflow(lab, mnt)
    lab.umount()
    lab.nas("b", "start")
    mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o spool_max=1"})
    log = (lab.dir / "ofsrep.log").read_text()
    assert "overflowed in an earlier mount" in log, log[-2000:]
    resynced_online(lab, mnt)


def test_local_disk_full_under_the_spool_holds_acks_then_recovers(lab):
    """The spool's own disk fills up (a 2 MiB tmpfs): acknowledgements
    wait (status: broken, naming the spool) instead of being given
    without a second copy; when NAS b is back everything drains and the
    mirror equals the primary."""
    spool = lab.dir / "tinyspool"
    spool.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                    str(spool)], check=True)
    try:
        mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS":
                                  "-o spool=%s" % spool})
        lab.nas("b", "kill")
        data = os.urandom(64 * 1024)
        done = []

        def fill():
            with open(os.path.join(mnt, "big"), "wb") as f:
                for _ in range(64):             # 4 MiB > the tmpfs
                    f.write(data)
            done.append(True)
        import threading
        t = threading.Thread(target=fill, daemon=True)
        t.start()
        j = wait_health(mnt, 2, timeout=30)
        assert any("spool" in p for p in j["problems"]), j["problems"]
        assert not done
        lab.nas("b", "start")
        t.join(90)
        assert done, "writer still held after NAS b came back"
        wait_mirror_equal(lab, timeout=90)
        wait_health(mnt, 0, timeout=60)
    finally:
        lab.umount(check=False)
        subprocess.run(["umount", str(spool)], check=False)


def test_idle_mount_notices_a_lost_secondary(lab):
    """No I/O at all: the secondary's heartbeat notices NAS b stopped,
    status says so, and the next mutation goes to the spool at once
    instead of waiting failover_timeout for the journal write."""
    mnt = mount_journal(lab)
    wait_health(mnt, 0)
    lab.nas("b", "stop")
    try:
        t0 = time.monotonic()
        wait_secondary_state(mnt, "lost", timeout=30)
        noticed = time.monotonic() - t0
        t1 = time.monotonic()
        with open(os.path.join(mnt, "f"), "wb") as f:
            f.write(b"y" * 5000)
        took = time.monotonic() - t1
    finally:
        lab.nas("b", "cont")
    wait_health(mnt, 0, timeout=60)
    wait_mirror_equal(lab, timeout=60)
    print("\nhung NAS b noticed after %.1f s with no I/O; the next "
          "create+write+close took %.2f s" % (noticed, took))


def run_daemon(lab):
    """The daemon on the lab's pair, as the lab mounts it; returns the
    CompletedProcess (it daemonizes once mounted)."""
    return subprocess.run(
        [ofsrep_bin(), lab.url("a"), str(lab.dir / "mnt"), "-o",
         "secondary=%s,spool=%s" % (lab.url("b"), lab.dir / "spool")],
        capture_output=True, text=True, timeout=90)


def test_restart_while_the_secondary_is_down_spools_from_the_start(lab):
    """A clean unmount leaves the journal's end locally (journal/tail.c):
    a mount while NAS b is down serves, spooling every group; so does a
    second one; when NAS b is back the spool drains and the mirror has
    everything."""
    mnt = mount_journal(lab)
    os.mkdir(os.path.join(mnt, "w"))
    with open(os.path.join(mnt, "before"), "wb") as f:
        f.write(b"before the restart")
    lab.umount()
    lab.nas("b", "kill")
    mnt = mount_journal(lab)
    rc, j = wait_secondary_state(mnt, "lost")
    assert rc == 1 and j["journal"]["route"] == "spooling", j
    assert "unreachable at mount" in secondary(j)["lost_because"], j
    wl = Workload(os.path.join(mnt, "w"), seed=5)
    wl.start()
    time.sleep(3.0)
    wl.stop()
    assert not wl.errors, wl.errors
    assert wl.acked > 20, wl.acked
    lab.umount()
    # again without NAS b: continues from the tail the last mount left
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "second"), "wb") as f:
        f.write(b"second restart")
    lab.nas("b", "start")
    wait_health(mnt, 0, timeout=90)
    wait_mirror_equal(lab, timeout=90)
    n = wl.check(mirror_dir(lab) / "w")
    assert (mirror_dir(lab) / "before").read_bytes() == b"before the restart"
    assert (mirror_dir(lab) / "second").read_bytes() == b"second restart"
    lab.umount()
    proc = subprocess.run([os.path.join(os.path.dirname(ofsrep_bin()),
                                        "ofsrep-journal"), "check",
                           lab.url("b"), "--node", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print("\ntwo restarts without NAS b: %d ops acknowledged into the "
          "spool, %d entries verified in the mirror after it returned"
          % (wl.acked, n))


def test_restart_without_the_secondary_after_a_crash_is_refused(lab):
    """The tail is valid only after a clean unmount (rule T2): after a
    crash, the journal's end is on NAS b alone, so the mount refuses with
    one line rather than guess."""
    mount_journal(lab)
    lab.umount()                            # a clean one: a valid tail
    mnt = mount_journal(lab)                # which this mount clears
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"x")
    os.kill(daemon_pid(lab), signal.SIGKILL)
    lab.umount(check=False)
    lab.nas("b", "kill")
    proc = run_daemon(lab)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "did not unmount cleanly" in lines[0], lines
    assert not os.path.ismount(lab.dir / "mnt")
    # NAS b back: the mount works and nothing was lost
    lab.nas("b", "start")
    mnt = mount_journal(lab)
    assert open(os.path.join(mnt, "f"), "rb").read() == b"x"
    deadline = time.monotonic() + 60
    while not (mirror_dir(lab) / "f").exists():
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert (mirror_dir(lab) / "f").read_bytes() == b"x"


def test_restart_without_the_secondary_after_a_failover_is_refused(lab):
    """The last mount served the mirror: the primary is stale, and the
    mirror cannot be reached: refused (rule T4)."""
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"x")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "g"), "wb") as f:
        f.write(b"on the mirror only")
    lab.umount()
    lab.nas("a", "start")
    lab.nas("b", "kill")
    proc = run_daemon(lab)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "split-brain guard" in lines[0], proc.stderr
    assert not os.path.ismount(lab.dir / "mnt")


def test_a_tail_behind_the_journal_is_caught_before_draining(lab):
    """A tail record older than the journal (here: an earlier one put
    back, as a restore from backup would): the mount without NAS b
    spools from it, but before writing NAS b's journal it checks where
    the journal ends, finds another end, writes nothing there, and
    resyncs the mirror from the primary instead."""
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "first"), "wb") as f:
        f.write(b"1")
    lab.umount()
    spool_dir = lab.dir / "spool"
    tail = [p for p in spool_dir.iterdir() if p.name.endswith(".tail")]
    assert len(tail) == 1, list(spool_dir.iterdir())
    old = tail[0].read_bytes()
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "second"), "wb") as f:
        f.write(b"2")
    lab.umount()
    tail[0].write_bytes(old)                # behind the journal now
    lab.nas("b", "kill")
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "third"), "wb") as f:
        f.write(b"3")
    lab.nas("b", "start")
    j = wait_health(mnt, 0, timeout=120)
    log = (lab.dir / "ofsrep.log").read_text()
    assert "not where this node's last clean unmount left it" in log, \
        log[-3000:]
    assert "journal attached again" in log, log[-3000:]
    assert j["journal"]["route"] == "direct", j
    lab.umount()
    for name, data in (("first", b"1"), ("second", b"2"), ("third", b"3")):
        assert (mirror_dir(lab) / name).read_bytes() == data, name
    assert_mirror_equals_primary(lab)
    proc = subprocess.run([os.path.join(os.path.dirname(ofsrep_bin()),
                                        "ofsrep-journal"), "check",
                           lab.url("b"), "--node", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
