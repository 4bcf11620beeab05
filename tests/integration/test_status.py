"""`ofsrep status [MOUNTPOINT] [--json]` against a real lab: the human
table and the JSON schema of fs/status.c, the exit code (0 healthy,
1 degraded, 2 broken or not answering, 64 usage), and how each NAS fault
shows up and clears.  The control socket (fs/ctl.c) is gone after the
unmount."""
import json
import os
import subprocess
import threading
import time

from conftest import ofsrep_bin, parse_exports


def status(mnt=None, json_out=False, timeout=30):
    cmd = [ofsrep_bin(), "status"]
    if mnt:
        cmd.append(str(mnt))
    if json_out:
        cmd.append("--json")
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if json_out and proc.returncode in (0, 1, 2) and proc.stdout:
        return proc.returncode, json.loads(proc.stdout.splitlines()[0]), proc
    return proc.returncode, None, proc


def wait_health(mnt, code, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        rc, j, proc = status(mnt, json_out=True)
        if rc == code:
            return j
        assert time.monotonic() < deadline, (rc, proc.stdout, proc.stderr)
        time.sleep(0.3)


def test_healthy_mount_table_and_json(mnt):
    lab = mnt
    mnt = lab.path
    for i in range(20):
        with open(os.path.join(mnt, "f%d" % i), "wb") as f:
            f.write(b"x" * 10000)
    rc, _, proc = status(mnt)
    assert rc == 0, proc.stdout + proc.stderr
    assert "healthy" in proc.stdout.splitlines()[0]
    assert "primary" in proc.stdout and "secondary" in proc.stdout
    j = wait_health(mnt, 0)
    assert j["version"] == 1 and j["health"] == "healthy"
    assert j["mountpoint"] == os.path.realpath(mnt)
    assert j["mode"] == "journal" and j["node"] == 1 and not j["problems"]
    roles = {e["role"]: e for e in j["exports"]}
    assert roles["primary"]["state"] == "up"
    assert roles["primary"]["connections_up"] == roles["primary"]["connections"]
    assert roles["primary"]["url"] == lab.url("a")
    assert roles["secondary"]["state"] == "up"
    assert roles["secondary"]["url"] == lab.url("b")
    assert roles["primary"]["health"] == roles["secondary"]["health"] == "up"
    assert j["journal"]["route"] == "direct"
    assert j["journal"]["appended"] >= 40          # creates and writes
    assert j["journal"]["journal_max_bytes"] == 1024 << 20
    # the mirror catches up: lag drops to 0
    deadline = time.monotonic() + 30
    while j["mirror"]["lag_records"] and time.monotonic() < deadline:
        time.sleep(0.3)
        j = status(mnt, json_out=True)[1]
    assert j["mirror"]["lag_records"] == 0, j["mirror"]
    assert j["mirror"]["applied_seq"] == j["journal"]["durable_seq"]
    for key in ("last_failover", "resync"):
        assert key in j and j[key] is None
    fb = j["failback"]
    assert fb["policy"] == "auto" and fb["settle_s"] == 60, fb
    assert fb["state"] == "off" and fb["count"] == 0, fb
    # every mount: ours is among them
    rc, _, proc = status()
    assert rc in (0, 1, 2) and os.path.realpath(mnt) in proc.stdout


def test_secondary_fault_is_degraded_then_clears(mnt):
    """NAS b killed: mutations go on into the local spool and status says
    degraded, naming the lost export and why; once it is back and the
    spool is in its journal, healthy again."""
    lab = mnt
    mnt = lab.path
    lab.nas("b", "kill")
    with open(os.path.join(mnt, "w"), "wb") as f:
        f.write(b"during the outage")
    j = wait_health(mnt, 1)
    sec = [e for e in j["exports"] if e["role"] == "secondary"][0]
    assert sec["state"] == "lost" and sec["lost_for_s"] is not None, sec
    assert j["journal"]["route"] == "spooling", j["journal"]
    assert lab.url("b").split("?")[0] in sec["lost_because"] or \
        "heartbeat" in sec["lost_because"], sec
    assert any("secondary lost" in p for p in j["problems"])
    rc, _, proc = status(mnt)
    assert rc == 1 and "secondary  lost" in proc.stdout, proc.stdout
    assert "spool" in proc.stdout
    lab.nas("b", "start")
    j = wait_health(mnt, 0)
    sec = [e for e in j["exports"] if e["role"] == "secondary"][0]
    assert sec["state"] == "up" and sec["outages"] >= 1, sec


def test_secondary_fault_without_spool_is_broken_then_clears(lab):
    """spool_max=0: a mutation waits for NAS b, and status says broken."""
    proc = lab.run("mount", extra_env={"OFSREP_MOUNT_OPTS":
                                       "-o spool_max=0"})
    lab.env.update(parse_exports(proc.stdout))
    mnt = lab.path
    lab.nas("b", "kill")
    # a mutation waits for NAS b; status must still answer meanwhile
    t = threading.Thread(target=lambda: open(os.path.join(mnt, "w"),
                                             "wb").close(), daemon=True)
    t.start()
    j = wait_health(mnt, 2)
    sec = [e for e in j["exports"] if e["role"] == "secondary"][0]
    assert sec["state"] == "failing" and sec["failed_writes"] >= 1
    assert lab.url("b").split("?")[0] in sec["last_error"]
    assert any("secondary" in p for p in j["problems"])
    lab.nas("b", "start")
    t.join(30)
    assert not t.is_alive()
    j = wait_health(mnt, 0)
    sec = [e for e in j["exports"] if e["role"] == "secondary"][0]
    assert sec["state"] == "up" and sec["last_error_age_s"] is not None


def test_primary_fault_is_broken_then_clears(mnt_nofailover):
    lab = mnt_nofailover
    mnt = lab.path
    lab.nas("a", "kill")
    t = threading.Thread(target=lambda: os.listdir(mnt), daemon=True)
    t.start()
    j = wait_health(mnt, 2)
    pri = [e for e in j["exports"] if e["role"] == "primary"][0]
    assert pri["state"] == "down" and pri["connections_up"] == 0
    assert pri["last_error"] and pri["down_for_s"] is not None
    rc, _, proc = status(mnt)
    assert "I/O waits for it" in proc.stdout
    lab.nas("a", "start")
    t.join(30)
    assert not t.is_alive()
    wait_health(mnt, 0)


def test_primary_only_is_degraded(lab):
    proc = lab.run("mount", extra_env={"OFSREP_MOUNT_OPTS": "-o primary_only"})
    assert proc.returncode == 0
    mnt = lab.dir / "mnt"
    rc, j, proc = status(mnt, json_out=True)
    assert rc == 1, proc.stdout + proc.stderr
    assert j["mode"] == "none" and j["journal"] is None
    assert any("primary_only" in p for p in j["problems"])
    lab.umount()


def test_not_a_mount_and_bad_usage(tmp_path):
    rc, _, proc = status(tmp_path)
    assert rc == 2 and "not an ofsrep mount" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    rc, _, proc = status(tmp_path / "missing")
    assert rc == 2 and "No such file" in proc.stderr
    proc = subprocess.run([ofsrep_bin(), "status", "--bogus"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 64 and "unexpected argument" in proc.stderr


def test_socket_removed_at_unmount(lab):
    proc = lab.run("mount")
    mnt = lab.dir / "mnt"
    assert status(mnt)[0] == 0
    before = set(os.listdir("/run/ofsrep"))
    lab.umount()
    after = set(os.listdir("/run/ofsrep"))
    assert len(before - after) == 1, (before, after)
    rc, _, proc = status(mnt)
    assert rc == 2 and "not an ofsrep mount" in proc.stderr


def test_lease_taken_over_is_broken(mnt):
    """Another holder's live lease appears under a running mount (a second
    file server given the same node id): the mount stops applying and
    `ofsrep status` says broken, naming the lease."""
    lab = mnt
    lease = lab.export_dir("b") / ".ofsrep" / "journal" / "1" / "lease"
    assert "holder=ofsrep " in lease.read_text()
    fake = ("OFSLEASE 1 holder=ofsrep host=elsewhere pid=1 expires=%d "
            "mount=/x" % (time.time() + 300)).ljust(255) + "\n"
    lease.write_text(fake)
    lab.nas("b", "kill")                # ganesha caches the file
    lab.nas("b", "start")
    j = wait_health(lab.path, 2, timeout=40)
    assert any("lease" in p for p in j["problems"]), j["problems"]
    assert j["mirror"]["state"] == "lease-lost"
    assert lease.read_text() == fake     # never taken back silently


def test_hung_primary_is_noticed_while_idle(mnt_nofailover):
    """NAS a stopped (SIGSTOP) while nothing is in flight: the heartbeat
    (NFS NULL, replica/export.c) times out and `ofsrep status` says the
    primary does not answer, without any application I/O; after SIGCONT
    it is healthy again (failover=off: with failover the mount would
    move to the mirror, tests/test_failover.py)."""
    lab = mnt_nofailover
    wait_health(lab.path, 0)
    lab.nas("a", "stop")
    try:
        t0 = time.monotonic()
        j = wait_health(lab.path, 2, timeout=30)
        noticed = time.monotonic() - t0
        pri = [e for e in j["exports"] if e["role"] == "primary"][0]
        assert pri["state"] in ("unresponsive", "down"), pri
    finally:
        lab.nas("a", "cont")
    wait_health(lab.path, 0, timeout=30)
    # rpc_timeout 5 s + heartbeat 1 s + status slack 2 s
    print("\nhung primary noticed after %.1f s with no I/O" % noticed)
