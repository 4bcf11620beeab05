"""The CTDB event script (tools/ctdb/50.ofsrep.script) against a real
mount: `monitor` passes while the node can serve (healthy, one NAS lost,
failed over, NAS a hung) and fails, with one line saying why, when it
cannot (not mounted, daemon killed, both NAS lost, no mount point set)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin  # noqa: E402
from test_failover import wait_serving  # noqa: E402
from test_journal_mode import daemon_pid, mount_journal  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "tools/ctdb/50.ofsrep.script"


def event(lab, tmp_path, name="monitor", mnt=None, bound=4, timeout=60):
    env = dict(os.environ, CTDB_BASE=str(tmp_path),
               CTDB_SCRIPT_VARDIR=str(tmp_path),
               CTDB_OFSREP_BIN=ofsrep_bin(),
               CTDB_OFSREP_FREEZE_BOUND=str(bound))
    if mnt is not False:
        env["CTDB_OFSREP_MOUNTPOINT"] = str(mnt or lab.path)
    t0 = time.monotonic()
    proc = subprocess.run([str(SCRIPT), name], capture_output=True,
                          text=True, env=env, timeout=timeout)
    proc.seconds = time.monotonic() - t0
    return proc


def test_monitor_passes_while_the_node_can_serve(lab, tmp_path):
    mount_journal(lab)
    proc = event(lab, tmp_path)
    assert proc.returncode == 0 and "healthy" in proc.stdout, proc.stdout
    lab.nas("b", "kill")
    with open(os.path.join(lab.path, "f"), "wb") as f:
        f.write(b"written with NAS b lost")
    proc = event(lab, tmp_path)
    assert proc.returncode == 0 and "degraded, still serving" in \
        proc.stdout and "secondary lost" in proc.stdout, proc.stdout
    # the same state again is not logged again
    proc = event(lab, tmp_path)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout
    lab.nas("b", "start")
    lab.nas("a", "kill")
    os.stat(os.path.join(lab.path, "f"))
    wait_serving(lab.path, "mirror")
    proc = event(lab, tmp_path)
    assert proc.returncode == 0 and "failed over" in proc.stdout, \
        proc.stdout
    proc = event(lab, tmp_path, "startup")
    assert proc.returncode == 0, proc.stdout


def test_monitor_passes_through_a_hung_primary(lab, tmp_path):
    mount_journal(lab)
    lab.nas("a", "stop")            # SIGSTOP: hung, not refused
    try:
        proc = event(lab, tmp_path, bound=10)
        assert proc.returncode == 0, proc.stdout
        assert proc.seconds < 10 + 5, proc.seconds
    finally:
        lab.nas("a", "cont")


def test_monitor_fails_when_both_nas_are_lost(lab, tmp_path):
    mount_journal(lab)
    lab.nas("a", "kill")
    lab.nas("b", "kill")
    proc = event(lab, tmp_path, bound=3)
    assert proc.returncode == 1, proc.stdout
    assert "does not answer" in proc.stdout or "broken for over 3 s" in \
        proc.stdout, proc.stdout
    lab.nas("a", "start")
    lab.nas("b", "start")


def test_monitor_fails_when_the_daemon_is_gone(lab, tmp_path):
    mount_journal(lab)
    os.kill(daemon_pid(lab), signal.SIGKILL)
    proc = event(lab, tmp_path)
    assert proc.returncode == 1 and "does not answer" in proc.stdout and \
        "daemon dead or stuck" in proc.stdout, proc.stdout
    assert proc.stdout.count("\n") == 1, proc.stdout
    lab.umount(check=False)
    subprocess.run(["umount", "-l", str(lab.path)], capture_output=True)
    proc = event(lab, tmp_path)
    assert proc.returncode == 1 and "not mounted" in proc.stdout, \
        proc.stdout


def test_monitor_without_a_mount_point_says_what_to_set(lab, tmp_path):
    proc = event(lab, tmp_path, mnt=False)
    assert proc.returncode == 1 and "CTDB_OFSREP_MOUNTPOINT is not set" in \
        proc.stdout, proc.stdout
    proc = event(lab, tmp_path, mnt=tmp_path)
    assert proc.returncode == 1 and "not mounted" in proc.stdout, \
        proc.stdout
