"""Tests of the two-NAS lab itself (tools/ofsrep-lab, ofsrep-rawnfs).

The other integration tests trust the lab to inject faults faithfully: a
killed, stopped or cut NAS must fail a raw NFS client within its timeout,
the other NAS must not notice, recovery must work, and `stop` must leave
nothing behind.
"""
import os
import re
import stat
import subprocess

import pytest

from conftest import (Lab, LAB_TOOL, assert_lab_gone, ofsrep_bin, run_lab)

TIMEOUT_MS = 1000
# a failed roundtrip must return within its timeout plus the watchdog slack
FAIL_WITHIN_S = TIMEOUT_MS / 1000 + 2.0
URL_RE = re.compile(r"^nfs://10\.99\.(\d+)\.(\d+)(/\S+)/([ab])/export"
                    r"\?nfsport=(\d+)&mountport=(\d+)$")
FAULTS = [("kill", "start"), ("stop", "cont"), ("cut", "heal")]


def assert_ok(lab, which):
    rc, secs, err = lab.roundtrip(which, TIMEOUT_MS)
    assert rc == 0, f"roundtrip to NAS {which} failed ({secs:.1f} s): {err}"


def assert_fails(lab, which):
    rc, secs, err = lab.roundtrip(which, TIMEOUT_MS)
    assert rc == 2, f"roundtrip to NAS {which} gave {rc}, expected 2: {err}"
    assert secs < FAIL_WITHIN_S, f"failure took {secs:.1f} s"
    assert lab.url(which) in err and len(err.strip().splitlines()) == 1, err
    return secs


def test_urls_env_and_status(lab):
    for which in "ab":
        m = URL_RE.match(lab.url(which))
        assert m, lab.url(which)
        assert int(m.group(1)) == lab.id and m.group(4) == which
        assert m.group(3) == str(lab.dir)
        assert (lab.dir / which / "export").is_dir()
    assert lab.env["OFSREP_LAB"] == str(lab.dir)
    assert lab.url("a") != lab.url("b")
    again = lab.run("env").stdout
    assert again.strip().splitlines() == [
        f"export OFSREP_LAB={lab.dir}",
        f"export OFSREP_PRIMARY_URL='{lab.url('a')}'",
        f"export OFSREP_SECONDARY_URL='{lab.url('b')}'",
    ]
    status = lab.status()
    for which in "ab":
        pid = (lab.dir / which / "ganesha.pid").read_text().strip()
        assert f"ganesha: {pid} state" in status
        assert lab.url(which) in status


def test_faults_on_each_nas_and_clean_stop(lab):
    assert_ok(lab, "a")
    assert_ok(lab, "b")
    for which, other in (("a", "b"), ("b", "a")):
        for fault, repair in FAULTS:
            lab.nas(which, fault)
            assert_fails(lab, which)
            assert_ok(lab, other)
            lab.nas(which, repair)
            assert_ok(lab, which)
            assert_ok(lab, other)
    lab.stop()
    assert_lab_gone(lab)


def test_fault_actions_take_effect(lab):
    pidfile = lab.dir / "a" / "ganesha.pid"
    pid = int(pidfile.read_text())
    lab.nas("a", "stop")
    assert proc_state(pid) == "T"
    lab.nas("a", "cont")
    assert proc_state(pid) in ("R", "S", "D")
    lab.nas("a", "kill")
    assert proc_state(pid) in ("Z", None)
    # a NAS that is not running cannot be stopped; a running one not started
    assert lab.nas("a", "stop", check=False).returncode == 1
    lab.nas("a", "start")
    new_pid = int(pidfile.read_text())
    assert new_pid != pid and proc_state(new_pid) in ("R", "S")
    assert lab.nas("a", "start", check=False).returncode == 1
    # rpcbind keeps running across a ganesha restart
    assert proc_state(int((lab.dir / "a" / "rpcbind.pid").read_text())) in ("R", "S")


def test_kill_while_stopped_and_heal_while_dead(lab):
    lab.nas("b", "stop")
    lab.nas("b", "kill")
    lab.nas("b", "cut")
    lab.nas("b", "heal")          # returns although nothing listens
    assert_fails(lab, "b")
    lab.nas("b", "start")
    assert_ok(lab, "b")


def test_two_labs_side_by_side(lab, tmp_path_factory):
    second = Lab(tmp_path_factory.mktemp("lab2"))
    try:
        second.start()
        assert second.id != lab.id
        assert {second.url("a"), second.url("b")}.isdisjoint({lab.url("a"), lab.url("b")})
        for which in "ab":
            assert_ok(lab, which)
            assert_ok(second, which)
        second.nas("a", "kill")
        assert_fails(second, "a")
        assert_ok(lab, "a")
        second.stop()
        assert_lab_gone(second)
        assert_ok(lab, "a")
        assert_ok(lab, "b")
    finally:
        second.stop(check=False)


def test_stop_twice_and_stop_unstarted(tmp_path_factory):
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    the_lab.start()
    the_lab.stop()
    assert the_lab.stop().returncode == 0
    assert_lab_gone(the_lab)
    fresh = tmp_path_factory.mktemp("never")
    assert run_lab("stop", lab_dir=fresh, check=False).returncode == 0


def test_failed_start_names_the_server_and_cleans_up(tmp_path_factory):
    """A ganesha that dies at start-up (NAS b): non-zero exit, the message
    names NAS b and shows its log, and nothing is left behind."""
    fake_bin = tmp_path_factory.mktemp("fakebin")
    fake = fake_bin / "ganesha.nfsd"
    real = subprocess.run(["sh", "-c", "command -v ganesha.nfsd"],
                          capture_output=True, text=True).stdout.strip()
    fake.write_text("#!/bin/sh\n"
                    "case \"$*\" in */b/ganesha.conf*)\n"
                    "  echo 'fake ganesha: refusing to start' >&2; exit 3;;\n"
                    "esac\n"
                    f"exec {real} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    env = {"PATH": f"{fake_bin}:{os.environ['PATH']}"}
    proc = the_lab.start(check=False, extra_env=env)
    try:
        assert proc.returncode == 1, proc.stderr
        assert "NAS b" in proc.stderr and "refusing to start" in proc.stderr
        assert "OFSREP_PRIMARY_URL" not in proc.stdout
        assert_lab_gone(the_lab)
    finally:
        the_lab.stop(check=False)


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["nas", "c", "kill"],
    ["nas", "a", "explode"],
    ["nas", "a"],
    ["start", "extra"],
    ["status", "--dir"],
    ["stop", "--bogus"],
    [],
])
def test_bad_arguments_exit_2_with_one_error_line(args):
    proc = subprocess.run([str(LAB_TOOL), *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ofsrep-lab:")]
    assert len(errors) == 1, proc.stderr
    assert "usage:" in proc.stderr
    assert proc.stdout == ""


def test_rawnfs_bad_arguments_exit_2():
    from conftest import rawnfs_bin
    for args in ([], ["roundtrip"], ["bench", "nfs://x/y"], ["roundtrip", "nfs://x/y", "--timeout-ms", "x"],
                 ["bench", "nfs://x/y", "nosuch"], ["whatever"]):
        proc = subprocess.run([rawnfs_bin(), *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 2, (args, proc)
        assert proc.stderr.splitlines()[0].startswith("ofsrep-rawnfs: "), proc.stderr
        assert "usage:" in proc.stderr


def test_rawnfs_bench_workloads(lab):
    import json
    from conftest import rawnfs_bin
    for workload in ("seqwrite", "seqread", "randwrite4k", "create", "stat", "unlink"):
        proc = subprocess.run([rawnfs_bin(), "bench", lab.url("b"), workload,
                               "--size", "4m", "--count", "50"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["workload"] == workload
        assert set(result) == {"workload", "seconds", "bytes", "ops", "mib_s", "ops_s"}
        assert result["ops"] == (4 if workload in ("seqwrite", "seqread") else 50)
    data = lab.export_dir("b") / "ofsrep-rawnfs-bench" / "data"
    assert data.stat().st_size == 4 << 20
    assert list((data.parent / "files").iterdir()) == []


@pytest.mark.skipif(not os.access(ofsrep_bin(), os.X_OK), reason="ofsrep not built yet")
def test_mount_and_umount(mnt):
    if mnt.local:
        pytest.skip("OFSREP_TEST_DIR is set")
    assert is_fuse_mount(mnt.path)
    mnt.umount()
    assert not is_fuse_mount(mnt.path)
    mnt.mount()
    assert is_fuse_mount(mnt.path)
    pid = int((mnt.dir / "ofsrep.pid").read_text())
    mnt.stop()
    assert proc_state(pid) in ("Z", None)
    assert_lab_gone(mnt)


def is_fuse_mount(path):
    for line in open("/proc/mounts"):
        fields = line.split()
        if fields[1] == str(path):
            return fields[2].startswith("fuse")
    return False


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
