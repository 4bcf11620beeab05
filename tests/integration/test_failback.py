"""After a failover: the primary (NAS a) is brought up to date from the
mirror online, while applications keep writing, and served again
(fs/failback.c).  Real ganesha, real FUSE mount, faults through
`ofsrep-lab nas a ...`.

Each test checks, after the failback, that every acknowledged operation
of a verifying workload is on NAS a's tree and in the mirror, and that
the two trees are equal (ofsrep-fsck --verify, after unmount)."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin, parse_exports  # noqa: E402
from test_failover import HEAL, primary, serving, stale_marker, \
    wait_serving  # noqa: E402
from test_journal_mirror import mirror_dir  # noqa: E402
from test_status import status, wait_health  # noqa: E402
from verifying import Workload  # noqa: E402

FSCK = os.path.join(os.path.dirname(ofsrep_bin()), "ofsrep-fsck")


def mount(lab, opts):
    env = {"OFSREP_MOUNT_OPTS":
           (os.environ.get("OFSREP_MOUNT_OPTS", "") + " " + opts).strip()}
    proc = lab.run("mount", extra_env=env)
    lab.env.update(parse_exports(proc.stdout))
    return lab.path


def failback_state(mnt):
    rc, j, _ = status(mnt, json_out=True)
    return j["failback"]["state"] if j else None


def wait_failback_state(mnt, what, timeout=60):
    deadline = time.monotonic() + timeout
    while failback_state(mnt) != what:
        assert time.monotonic() < deadline, status(mnt)[2].stdout
        time.sleep(0.2)


def ask_failback(mnt):
    return subprocess.run([ofsrep_bin(), "failback", str(mnt)],
                          capture_output=True, text=True, timeout=30)


def verify_pair(lab):
    """The trees of NAS a and the mirror are equal (after unmount)."""
    proc = subprocess.run([FSCK, "-n", "--verify", lab.url("b"),
                           lab.url("a")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manual_failback_after_a_kill_keeps_everything(lab):
    mnt = mount(lab, "-o failback=manual")
    os.mkdir(os.path.join(mnt, "w"))
    wl = Workload(os.path.join(mnt, "w"), seed=7)
    wl.start()
    try:
        time.sleep(1.5)
        lab.nas("a", "kill")
        wait_serving(mnt, "mirror")
        time.sleep(2.0)
        # not in sync (not even up): asking is refused with the reason
        proc = ask_failback(mnt)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "not in sync" in proc.stdout, proc.stdout
        lab.nas("a", "start")
        wait_failback_state(mnt, "in-sync")
        time.sleep(1.0)
        assert serving(mnt) == "mirror"     # manual: it waits
        acked = wl.acked
        proc = ask_failback(mnt)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_serving(mnt, "primary")
        time.sleep(2.0)
        assert wl.acked > acked + 10, "no progress after the failback"
    finally:
        wl.stop()
    assert not wl.errors, wl.errors
    n = wl.check(os.path.join(mnt, "w"))
    j = wait_health(mnt, 0, timeout=30)
    assert primary(j)["state"] == "up", j
    assert j["failback"]["count"] == 1, j
    assert not stale_marker(lab).exists()
    log = (lab.dir / "ofsrep.log").read_text()
    assert "failback: serving from the primary" in log, log[-3000:]
    # everything is on NAS a itself, and journaled to the mirror again
    with open(os.path.join(mnt, "after-failback"), "wb") as f:
        f.write(b"on both")
    lab.umount()
    wl.check(lab.export_dir("a") / "w")
    wl.check(mirror_dir(lab) / "w")
    assert (lab.export_dir("a") / "after-failback").read_bytes() == \
        b"on both"
    assert (mirror_dir(lab) / "after-failback").read_bytes() == b"on both"
    verify_pair(lab)
    print("\nmanual failback: %d entries verified on NAS a and the mirror, "
          "failback froze %.2f s, longest stall %.2f s (%s)" %
          (n, j["failback"]["last_freeze_s"], wl.longest, wl.longest_op))


def test_writes_the_mirror_held_unstable_are_committed_before_the_switch(
        lab):
    """A file written while the mirror served, kept open across the
    failback and closed after it: its writes were answered UNSTABLE by
    the mirror's NAS.  They must be committed there during the freeze;
    left to the close, their COMMIT would meet NAS a's verifier and
    re-send them to NAS a unjournaled, moving its mtime away from the
    mirror's (a CI run saw exactly that)."""
    mnt = mount(lab, "-o failback=manual")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "warm"), "wb") as f:
        f.write(b"x")           # the failover happens on this one
    wait_serving(mnt, "mirror")
    path = os.path.join(mnt, "held-open")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for i in range(8):
            os.pwrite(fd, bytes([65 + i]) * 65536, i * 65536)
        written = os.fstat(fd).st_mtime_ns
        lab.nas("a", "start")
        wait_failback_state(mnt, "in-sync")
        time.sleep(1.2)         # a re-send now would show in the mtime
        proc = ask_failback(mnt)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_serving(mnt, "primary")
        assert os.fstat(fd).st_mtime_ns == written
    finally:
        os.close(fd)
    lab.umount()
    want = b"".join(bytes([65 + i]) * 65536 for i in range(8))
    assert (lab.export_dir("a") / "held-open").read_bytes() == want
    assert (mirror_dir(lab) / "held-open").read_bytes() == want
    a = os.stat(lab.export_dir("a") / "held-open").st_mtime_ns
    m = os.stat(mirror_dir(lab) / "held-open").st_mtime_ns
    assert a == m == written, (a, m, written)
    verify_pair(lab)


@pytest.mark.parametrize("fault", ["stop", "cut"])
def test_auto_failback_waits_for_the_settle_time(lab, fault):
    mnt = mount(lab, "-o failback=auto,failback_settle=4")
    os.mkdir(os.path.join(mnt, "w"))
    keep = os.path.join(mnt, "kept-open")
    fd = os.open(keep, os.O_RDWR | os.O_CREAT, 0o640)
    os.write(fd, b"before;")
    ino = os.fstat(fd).st_ino
    wl = Workload(os.path.join(mnt, "w"), seed=11)
    wl.start()
    try:
        time.sleep(1.0)
        lab.nas("a", fault)
        wait_serving(mnt, "mirror")
        os.write(fd, b"on the mirror;")
        lab.nas("a", HEAL[fault])
        wait_failback_state(mnt, "in-sync")
        t_sync = time.monotonic()
        wait_serving(mnt, "primary", timeout=60)
        waited = time.monotonic() - t_sync
        os.write(fd, b"back on the primary;")
        time.sleep(1.5)
    finally:
        wl.stop()
    assert not wl.errors, wl.errors
    assert waited > 2.0, "failed back %.1f s after in-sync" % waited
    assert os.pread(fd, 100, 0) == \
        b"before;on the mirror;back on the primary;"
    assert os.fstat(fd).st_ino == ino
    os.close(fd)
    wl.check(os.path.join(mnt, "w"))
    j = wait_health(mnt, 0, timeout=30)
    lab.umount()
    assert (lab.export_dir("a") / "kept-open").read_bytes() == \
        b"before;on the mirror;back on the primary;"
    assert (mirror_dir(lab) / "kept-open").read_bytes() == \
        b"before;on the mirror;back on the primary;"
    wl.check(lab.export_dir("a") / "w")
    wl.check(mirror_dir(lab) / "w")
    verify_pair(lab)
    print("\nNAS a %s, auto failback: froze %.2f s, longest stall %.2f s"
          % (fault, j["failback"]["last_freeze_s"], wl.longest))


def test_restart_with_a_stale_primary_resyncs_it(lab):
    """A mount that failed over is unmounted; the next mount finds the
    split-brain marker: it starts on the mirror even though NAS a
    answers, brings NAS a up to date and fails back."""
    mnt = mount(lab, "-o failback=auto,failback_settle=1")
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"x")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "g"), "wb") as f:
        f.write(b"written on the mirror only")
    assert serving(mnt) == "mirror"
    lab.umount()
    lab.nas("a", "start")
    assert stale_marker(lab).exists()
    assert not (lab.export_dir("a") / "g").exists()
    mnt = mount(lab, "-o failback=auto,failback_settle=1")
    log = (lab.dir / "ofsrep.log").read_text()
    assert "is stale" in log, log[-2000:]
    wait_serving(mnt, "primary", timeout=60)
    assert not stale_marker(lab).exists()
    assert (lab.export_dir("a") / "g").read_bytes() == \
        b"written on the mirror only"
    with open(os.path.join(mnt, "h"), "wb") as f:
        f.write(b"journaled again")
    lab.umount()
    assert (mirror_dir(lab) / "h").read_bytes() == b"journaled again"
    verify_pair(lab)


def test_stale_primary_with_failover_off_is_refused(lab):
    mnt = mount(lab, "")
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"x")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "g"), "wb") as f:
        f.write(b"y")
    lab.umount()
    lab.nas("a", "start")
    proc = subprocess.run(
        [ofsrep_bin(), lab.url("a"), str(lab.dir / "mnt"), "-o",
         "secondary=%s,spool=%s,failover=off" % (lab.url("b"),
                                                 lab.dir / "spool")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "split-brain guard" in lines[0], proc.stderr
    assert not os.path.ismount(lab.dir / "mnt")


def test_split_brain_is_refused_and_nothing_is_merged(lab):
    """After a failover NAS a is written on its own (a primary_only
    mount: it gives NAS a a new generation, fs/split.c): both sides hold
    writes the other lacks.  The next mount refuses with one line naming
    the choice; ofsrep-fsck --keep=secondary makes it; nothing of the
    mirror was lost meanwhile."""
    mnt = mount(lab, "-o failback=manual")
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"before")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "g"), "wb") as f:
        f.write(b"on the mirror only")
    lab.umount()
    lab.nas("a", "start")
    mnt = mount(lab, "-o primary_only")
    with open(os.path.join(mnt, "rogue"), "wb") as f:
        f.write(b"on NAS a only")
    lab.umount()
    proc = subprocess.run(
        [ofsrep_bin(), lab.url("a"), str(lab.dir / "mnt"), "-o",
         "secondary=%s,spool=%s" % (lab.url("b"), lab.dir / "spool")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "split brain" in lines[0], proc.stderr
    assert "--keep=secondary" in lines[0], lines[0]
    assert not os.path.ismount(lab.dir / "mnt")
    # nothing merged: each side still has only its own write
    assert (lab.export_dir("a") / "rogue").exists()
    assert not (lab.export_dir("a") / "g").exists()
    assert (mirror_dir(lab) / "g").read_bytes() == b"on the mirror only"
    proc = subprocess.run([FSCK, "-y", "--keep=secondary", lab.url("b"),
                           lab.url("a")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    mnt = mount(lab, "")
    assert serving(mnt) == "primary"
    assert open(os.path.join(mnt, "g"), "rb").read() == \
        b"on the mirror only"
    assert not os.path.exists(os.path.join(mnt, "rogue"))


def test_the_primary_generation_is_kept_out_of_sight(lab):
    """The primary's generation lives in .ofsrep at NAS a's root, which
    the mount neither shows nor lets anyone create (it is ofsrep's own,
    as on the secondary); elsewhere the name is an ordinary one."""
    mnt = mount(lab, "")
    assert (lab.export_dir("a") / ".ofsrep/journal/1/primary-gen").exists()
    assert ".ofsrep" not in os.listdir(mnt)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt, ".ofsrep"))
    with pytest.raises(PermissionError):
        os.mkdir(os.path.join(mnt, ".ofsrep"))
    os.mkdir(os.path.join(mnt, "sub"))
    os.mkdir(os.path.join(mnt, "sub", ".ofsrep"))
    assert os.listdir(os.path.join(mnt, "sub")) == [".ofsrep"]
