"""The mount interface: ofsrep's command line, mount(8) with type fuse.ofsrep
(tools/mount.fuse.ofsrep), an fstab line, and the man page.

Bad input: exactly one line on stderr naming what is wrong (the option, the
URL, the export, the mount point), the documented exit status (fs/main.c: 1
bad usage or option, 2 an export not reached or not mounted), nothing
mounted on the mount point and no ofsrep process left.  A dead, hung or cut
NAS fails the mount within about probe_timeout.

Good paths: foreground (-f) and daemonized mounts, each unmounted with
fusermount3 -u, umount(8) or SIGTERM, after which the daemon must exit;
`mount -t fuse.ofsrep` and `mount -T FSTAB` through /sbin/mount.fuse.ofsrep
and mount.fuse3.  mount(8) removes PATH from its helpers' environment, so a
build tree cannot be put first in PATH: the helper runs $OFSREP_BIN instead
(see the helper's header).  When /sbin/mount.fuse.ofsrep does not exist the
tests install it as a symlink to tools/mount.fuse.ofsrep and remove it
afterwards (under a lock, so parallel runs do not race).

Every process these tests look for is found by its argv holding this test's
own (unique) mount point and its executable being ofsrep, and only those
are ever signalled.  Needs root, /dev/fuse and the lab.
"""
import fcntl
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, Lab, ofsrep_bin

OFSREP = os.path.abspath(ofsrep_bin())
HELPER = REPO / "tools" / "mount.fuse.ofsrep"
SYS_HELPER = Path("/sbin/mount.fuse.ofsrep")
HELPER_LOCK = Path("/run/lock/ofsrep-test-mount-helper.lock")
MAN_PAGE = REPO / "docs" / "ofsrep.8"
OPTS_C = REPO / "fs" / "opts.c"
MAIN_C = REPO / "fs" / "main.c"

PROBE_MS = 1500
FAIL_WITHIN_S = PROBE_MS / 1000 + 1.5   # a NAS that does not answer
FAST_S = 1.0                            # refused connection, parse errors
MOUNT_WAIT_S = 10
EXIT_WAIT_S = 5

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (FUSE mounts, the lab)"),
    pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse"),
    pytest.mark.skipif(not os.access(OFSREP, os.X_OK), reason=f"{OFSREP} not built"),
]


# ---------------------------------------------------------------- helpers

def wait_until(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def mount_type(mp):
    """The file system type mounted on exactly @mp (last one wins), or None."""
    mp = os.path.realpath(mp)
    fstype = None
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1].replace("\\040", " ") == mp:
            fstype = fields[2]
    return fstype


def mount_options(mp):
    mp = os.path.realpath(mp)
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1].replace("\\040", " ") == mp:
            return fields[3].split(",")
    return []


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def ofsrep_pids(mp_arg):
    """Live processes running an ofsrep binary with @mp_arg as one argument."""
    want = os.fsencode(str(mp_arg))
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            exe = os.readlink(d / "exe")
        except OSError:
            continue
        exe = exe.removesuffix(" (deleted)")
        if want in argv and os.path.basename(exe) == "ofsrep" and alive(int(d.name)):
            pids.append(int(d.name))
    return pids


def cleanup(mp, mp_args=(), pids=()):
    """Unmounts @mp and stops this test's daemons (by pid), whatever state
    a failed test left them in."""
    if mount_type(mp):
        subprocess.run(["fusermount3", "-u", str(mp)], capture_output=True)
        if not wait_until(lambda: not mount_type(mp), 3):
            subprocess.run(["fusermount3", "-uz", str(mp)], capture_output=True)
    ours = set(pids)
    for arg in {str(mp), *map(str, mp_args)}:
        ours.update(ofsrep_pids(arg))
    for pid in ours:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    for pid in ours:
        if not wait_until(lambda: not alive(pid), 3):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not alive(pid), 3)
    assert not mount_type(mp), f"could not unmount {mp}"


def use_mount(lab, mp, name):
    """Writes, reads, lists and removes a file through the mount and checks
    that it is on NAS a's export (so the mount is ofsrep's, not the bare
    directory underneath)."""
    assert mount_type(mp) == "fuse.ofsrep", f"nothing mounted on {mp}"
    data = os.urandom(256 << 10) + name.encode()
    path = Path(mp) / name
    path.write_bytes(data)
    assert path.read_bytes() == data
    assert name in os.listdir(mp)
    on_nas = lab.export_dir("a") / name
    assert on_nas.exists() and on_nas.read_bytes() == data, \
        f"{name} written through {mp} is not on the primary export"
    path.unlink()
    assert not on_nas.exists()
    assert mount_type(mp) == "fuse.ofsrep", f"the mount on {mp} went away"


def one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one error line, got {stderr!r}"
    return lines[0]


def check_nothing_left(mp, *mp_args):
    assert mount_type(mp) is None, f"{mp} is mounted after a failed mount"
    for arg in (mp, *mp_args):
        assert not ofsrep_pids(arg), f"an ofsrep process for {arg} is left"


def run_bad(args, rc, needles, mp, within=FAST_S, cmd=None, env=None):
    """Runs ofsrep (or @cmd) with bad input; checks the one error line, the
    exit status, the time taken and that nothing is left.  Returns the line."""
    argv = (cmd or [OFSREP]) + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, env=env)
        secs = time.monotonic() - t0
        line = one_line(proc.stderr)
        print(f"exit {proc.returncode} after {secs:.2f} s: {line}")
        assert proc.returncode == rc, \
            f"exit {proc.returncode}, expected {rc}; stderr: {proc.stderr!r}"
        for needle in needles:
            assert needle in line, f"{needle!r} not named in {line!r}"
        assert proc.stdout == "", proc.stdout
        assert secs < within, f"took {secs:.1f} s, expected under {within} s"
        check_nothing_left(mp)
        return line
    finally:
        cleanup(mp)


def sec(lab):
    return f"secondary={lab.url('b')}"


def url_with(url, **query):
    """@url with its query keys replaced (None drops a key)."""
    base, _, q = url.partition("?")
    keys = dict(kv.split("=", 1) for kv in q.split("&"))
    keys.update(query)
    return base + "?" + "&".join(f"{k}={v}" for k, v in keys.items() if v is not None)


@pytest.fixture(scope="module")
def mlab(tmp_path_factory):
    """One lab (NAS a and b, no mount) for the tests that leave the NAS alone."""
    lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        lab.start(mount=False)
        yield lab
    finally:
        proc = lab.stop(check=False)
        left = lab.leftovers()
        assert proc.returncode == 0 and not left, \
            f"stopping lab {lab.dir}: {proc.stderr.strip()} left: {left}"


@pytest.fixture
def mp(tmp_path):
    path = tmp_path / "mnt"
    path.mkdir()
    yield path
    cleanup(path)


@pytest.fixture
def sys_helper():
    """/sbin/mount.fuse.ofsrep is this tree's tools/mount.fuse.ofsrep for the
    test (installed as a symlink if absent, removed afterwards)."""
    HELPER_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(HELPER_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = False
        try:
            if SYS_HELPER.exists() or SYS_HELPER.is_symlink():
                if not (SYS_HELPER.exists() and
                        SYS_HELPER.read_bytes() == HELPER.read_bytes()):
                    pytest.skip(f"{SYS_HELPER} is installed and is not "
                                "tools/mount.fuse.ofsrep")
            else:
                os.symlink(HELPER, SYS_HELPER)
                installed = True
            yield dict(os.environ, OFSREP_BIN=OFSREP)
        finally:
            if installed and SYS_HELPER.is_symlink() and \
                    os.readlink(SYS_HELPER) == str(HELPER):
                SYS_HELPER.unlink()


# ---------------------------------------------------------------- bad input

# (id, args from (lab, mp), exit status, what the line must name)
BAD_INPUT = [
    ("no_arguments", lambda L, m: [], 1,
     lambda L, m: ["need PRIMARY_URL and MOUNTPOINT"]),
    ("only_one_positional", lambda L, m: [L.url("a")], 1,
     lambda L, m: ["need PRIMARY_URL and MOUNTPOINT"]),
    ("extra_positional", lambda L, m: [L.url("a"), m, "extra", "-o", sec(L)], 1,
     lambda L, m: ["unexpected argument 'extra'"]),
    ("url_without_nfs_scheme",
     lambda L, m: [L.url("a")[len("nfs://"):], m, "-o", sec(L)], 1,
     lambda L, m: ["invalid export URL", L.url("a")[len("nfs://"):], "nfs://"]),
    ("url_missing_mountport",
     lambda L, m: [url_with(L.url("a"), mountport=None), m, "-o", sec(L)], 1,
     lambda L, m: [url_with(L.url("a"), mountport=None), "mountport="]),
    ("url_unknown_query_key",
     lambda L, m: [url_with(L.url("a"), proto="tcp"), m, "-o", sec(L)], 1,
     lambda L, m: [url_with(L.url("a"), proto="tcp"), "unknown query parameter"]),
    ("url_port_zero",
     lambda L, m: [url_with(L.url("a"), nfsport="0"), m, "-o", sec(L)], 1,
     lambda L, m: [url_with(L.url("a"), nfsport="0"), "port"]),
    ("secondary_url_malformed",
     lambda L, m: [L.url("a"), m, "-o",
                   "secondary=" + url_with(L.url("b"), nfsport=None)], 1,
     lambda L, m: [url_with(L.url("b"), nfsport=None), "nfsport="]),
    ("missing_secondary", lambda L, m: [L.url("a"), m], 1,
     lambda L, m: ["missing -o secondary=URL"]),
    ("secondary_and_primary_only",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",primary_only"], 1,
     lambda L, m: ["secondary=", "primary_only"]),
    ("conns_0", lambda L, m: [L.url("a"), m, "-o", sec(L) + ",conns=0"], 1,
     lambda L, m: ["conns="]),
    ("conns_9", lambda L, m: [L.url("a"), m, "-o", sec(L) + ",conns=9"], 1,
     lambda L, m: ["conns="]),
    ("conns_not_a_number",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",conns=four"], 1,
     lambda L, m: ["conns=four"]),
    ("rpc_timeout_10", lambda L, m: [L.url("a"), m, "-o", sec(L) + ",rpc_timeout=10"], 1,
     lambda L, m: ["rpc_timeout="]),
    ("probe_timeout_50",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",probe_timeout=50"], 1,
     lambda L, m: ["probe_timeout="]),
    ("wb_max_0", lambda L, m: [L.url("a"), m, "-o", sec(L) + ",wb_max=0"], 1,
     lambda L, m: ["wb_max="]),
    ("spool_max_negative",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",spool_max=-1"], 1,
     lambda L, m: ["spool_max=", "0 (no spool)"]),
    ("spool_relative",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",spool=var/spool"], 1,
     lambda L, m: ["spool=", "absolute path"]),
    ("failover_timeout_50",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",failover_timeout=50"], 1,
     lambda L, m: ["failover_timeout=", "100 to 600000"]),
    ("negative_attr_timeout",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",attr_timeout=-1"], 1,
     lambda L, m: ["timeout"]),
    ("unknown_o_option",
     lambda L, m: [L.url("a"), m, "-o", sec(L) + ",no_such_option"], 1,
     lambda L, m: ["unknown option", "no_such_option"]),
    ("unknown_dash_option", lambda L, m: [L.url("a"), m, "-o", sec(L), "-Z"], 1,
     lambda L, m: ["unknown option", "-Z"]),
    ("mountpoint_missing",
     lambda L, m: [L.url("a"), m / "missing", "-o", sec(L)], 1,
     lambda L, m: ["mount point", str(m / "missing"), "No such file or directory"]),
    ("mountpoint_not_a_directory",
     lambda L, m: [L.url("a"), m.parent / "file", "-o", sec(L)], 1,
     lambda L, m: ["mount point", str(m.parent / "file"), "not a directory"]),
    ("export_not_exported",
     lambda L, m: [L.url("a").replace("/a/export?", "/a/not-exported?"), m, "-o", sec(L)], 2,
     lambda L, m: ["primary export", L.url("a").replace("/a/export?", "/a/not-exported?"),
                   "MOUNT refused"]),
    ("secondary_not_exported",
     lambda L, m: [L.url("a"), m, "-o",
                   "secondary=" + L.url("b").replace("/b/export?", "/b/state?")], 2,
     lambda L, m: ["secondary export", L.url("b").replace("/b/export?", "/b/state?"),
                   "MOUNT refused"]),
    ("mount_port_nothing_listens",
     lambda L, m: [url_with(L.url("a"), mountport="1"), m, "-o", sec(L)], 2,
     lambda L, m: ["primary export", url_with(L.url("a"), mountport="1"),
                   "mount service"]),
    ("nfs_port_nothing_listens",
     lambda L, m: [url_with(L.url("a"), nfsport="1"), m, "-o", sec(L)], 2,
     lambda L, m: ["primary export", url_with(L.url("a"), nfsport="1"), "NFS service"]),
]


@pytest.mark.parametrize("args,rc,needles", [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input(mlab, mp, args, rc, needles):
    (mp.parent / "file").write_text("not a directory\n")
    run_bad(args(mlab, mp), rc, needles(mlab, mp), mp)


# which NAS, the fault, its repair
FAULTS = [("a", "kill", "start"), ("a", "stop", "cont"), ("a", "cut", "heal"),
          ("b", "kill", "start"), ("b", "stop", "cont")]


@pytest.mark.parametrize("which,fault,repair", FAULTS,
                         ids=[f"{w}_{f}" for w, f, _ in FAULTS])
def test_unreachable_nas_fails_within_probe_timeout(lab, mp, which, fault, repair):
    """A dead (kill), hung (stop: TCP connects, nothing answers) or cut-off
    NAS fails the mount within about probe_timeout, naming the export."""
    lab.nas(which, fault)
    try:
        run_bad([lab.url("a"), mp, "-o", f"{sec(lab)},probe_timeout={PROBE_MS}"], 2,
                ["primary export" if which == "a" else "secondary export",
                 lab.url(which)],
                mp, within=FAIL_WITHIN_S)
    finally:
        lab.nas(which, repair)


def test_bad_input_through_mount8(mlab, mp, sys_helper):
    """mount(8) hands ofsrep's one line and exit status through."""
    mount = ["mount", "-t", "fuse.ofsrep"]
    bad_url = url_with(mlab.url("a"), mountport=None)
    run_bad([bad_url, mp, "-o", sec(mlab)], 1, ["invalid export URL", bad_url], mp,
            cmd=mount, env=sys_helper)
    run_bad([mlab.url("a"), mp], 1, ["missing -o secondary=URL"], mp,
            cmd=mount, env=sys_helper)
    not_exported = mlab.url("a").replace("/a/export?", "/a/not-exported?")
    run_bad([not_exported, mp, "-o", sec(mlab)], 2, ["MOUNT refused", not_exported],
            mp, cmd=mount, env=sys_helper)


# ---------------------------------------------------------------- good paths

def start_foreground(lab, mp, *opts, log):
    proc = subprocess.Popen(
        [OFSREP, "-f", lab.url("a"), str(mp), "-o", ",".join([sec(lab), *opts])],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    wait_until(lambda: mount_type(mp) or proc.poll() is not None, MOUNT_WAIT_S)
    assert proc.poll() is None, \
        f"ofsrep -f exited {proc.returncode}: {Path(log.name).read_text()}"
    assert mount_type(mp) == "fuse.ofsrep", f"nothing mounted on {mp}"
    return proc


def stop_foreground(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_foreground_mount_and_fusermount(mlab, mp, tmp_path):
    with open(tmp_path / "ofsrep.log", "w") as log:
        proc = start_foreground(mlab, mp, log=log)
        try:
            opts = mount_options(mp)
            for opt in ("nosuid", "nodev", "default_permissions"):
                assert opt in opts, opts
            use_mount(mlab, mp, "fg-fusermount")
            um = subprocess.run(["fusermount3", "-u", str(mp)], capture_output=True,
                                text=True, timeout=30)
            assert um.returncode == 0, um.stderr
            assert proc.wait(EXIT_WAIT_S) == 0
            assert mount_type(mp) is None
        finally:
            stop_foreground(proc)


def test_foreground_sigterm_unmounts_and_fstab_words_are_ignored(mlab, mp, tmp_path):
    """SIGTERM: the daemon unmounts and exits 0.  The fstab-only words that
    reach ofsrep when it is run by hand with an fstab line's options are
    accepted (and ignored); allow_other reaches the kernel."""
    words = ["allow_other", "_netdev", "nofail", "defaults",
             "x-systemd.requires=network-online.target"]
    with open(tmp_path / "ofsrep.log", "w") as log:
        proc = start_foreground(mlab, mp, *words, log=log)
        try:
            assert "allow_other" in mount_options(mp)
            use_mount(mlab, mp, "fg-sigterm")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(EXIT_WAIT_S) == 0
            assert mount_type(mp) is None
        finally:
            stop_foreground(proc)


def daemon_pid(mp_arg):
    pids = ofsrep_pids(mp_arg)
    assert len(pids) == 1, f"expected one ofsrep daemon for {mp_arg}, found {pids}"
    return pids[0]


def assert_daemon_serving(lab, mp, mp_arg, name):
    """The mount is there and its daemon alive a moment after the command
    returned, and the mount works."""
    time.sleep(0.3)
    assert mount_type(mp) == "fuse.ofsrep" and ofsrep_pids(mp_arg), (
        f"the command exited 0, but {'nothing is mounted' if not mount_type(mp) else 'the mount is there'}"
        f" and the daemon is {'gone' if not ofsrep_pids(mp_arg) else 'alive'}"
        " (syslog: ofsrep ... event loop failed?)")
    pid = daemon_pid(mp_arg)
    use_mount(lab, mp, name)
    return pid


def test_daemon_mount_and_fusermount(mlab, mp):
    """Without -f: ofsrep returns 0 once mounted and a daemon serves the
    mount; fusermount3 -u makes it exit."""
    before = set(ofsrep_pids(mp))
    proc = subprocess.run([OFSREP, mlab.url("a"), str(mp), "-o", sec(mlab)],
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""
    pid = assert_daemon_serving(mlab, mp, mp, "daemon-fusermount")
    assert pid not in before
    um = subprocess.run(["fusermount3", "-u", str(mp)], capture_output=True,
                        text=True, timeout=30)
    assert um.returncode == 0, um.stderr
    assert wait_until(lambda: not alive(pid), EXIT_WAIT_S), \
        f"daemon {pid} still running {EXIT_WAIT_S} s after fusermount3 -u"
    assert mount_type(mp) is None


def test_daemon_relative_mountpoint_sigterm(mlab, tmp_path):
    """A relative mount point, daemonized (which chdir()s to /), then
    SIGTERM: the daemon must still unmount its own mount and exit."""
    rel = f"rel-{os.getpid()}-{time.monotonic_ns()}"
    mp = tmp_path / rel
    mp.mkdir()
    try:
        proc = subprocess.run([OFSREP, mlab.url("a"), rel, "-o", sec(mlab)],
                              capture_output=True, text=True, timeout=30,
                              cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        pid = assert_daemon_serving(mlab, mp, rel, "daemon-relative")
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not alive(pid), EXIT_WAIT_S), \
            f"daemon {pid} still running {EXIT_WAIT_S} s after SIGTERM"
        assert mount_type(mp) is None, \
            f"the daemon exited on SIGTERM but left {mp} mounted (dead)"
    finally:
        cleanup(mp, mp_args=[rel])


def test_mount_t_fuse_ofsrep_and_umount(mlab, mp, sys_helper):
    """mount -t fuse.ofsrep → /sbin/mount.fuse.ofsrep → mount.fuse3 → ofsrep;
    umount(8) ends it."""
    proc = subprocess.run(["mount", "-t", "fuse.ofsrep", mlab.url("a"), str(mp),
                           "-o", sec(mlab) + ",allow_other"],
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env=sys_helper)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    pid = assert_daemon_serving(mlab, mp, mp, "mount-t")
    assert "allow_other" in mount_options(mp)
    um = subprocess.run(["umount", str(mp)], capture_output=True, text=True, timeout=30)
    assert um.returncode == 0, um.stderr
    assert wait_until(lambda: not alive(pid), EXIT_WAIT_S), \
        f"daemon {pid} still running {EXIT_WAIT_S} s after umount"
    assert mount_type(mp) is None


def test_fstab_line_with_netdev_and_systemd_options(mlab, mp, tmp_path, sys_helper):
    """An fstab line (mount -T FILE MOUNTPOINT), then umount(8)."""
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# ofsrep test\n"
        f"{mlab.url('a')} {mp} fuse.ofsrep {sec(mlab)},allow_other,nosuid,nodev,"
        "_netdev,nofail,x-systemd.requires=network-online.target,"
        "x-systemd.after=network-online.target,x-systemd.before=ctdb.service,"
        "x-systemd.mount-timeout=30 0 0\n")
    proc = subprocess.run(["mount", "-T", str(fstab), str(mp)], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL, env=sys_helper)
    assert proc.returncode == 0, proc.stderr
    pid = assert_daemon_serving(mlab, mp, mp, "fstab")
    opts = mount_options(mp)
    for opt in ("allow_other", "nosuid", "nodev"):
        assert opt in opts, opts
    um = subprocess.run(["umount", str(mp)], capture_output=True, text=True, timeout=30)
    assert um.returncode == 0, um.stderr
    assert wait_until(lambda: not alive(pid), EXIT_WAIT_S), \
        f"daemon {pid} still running {EXIT_WAIT_S} s after umount"
    assert mount_type(mp) is None


# ---------------------------------------------------------------- the helper

def test_helper_command_line(tmp_path):
    """tools/mount.fuse.ofsrep as mount(8) runs it (no PATH, options as
    libmount passes them): mount.fuse3 must run $OFSREP_BIN with the source,
    the mount point and the options minus the fstab-only words."""
    record = tmp_path / "argv"
    fake = tmp_path / "fake-ofsrep"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >{record}\n')
    fake.chmod(0o755)
    url = "nfs://10.99.0.2/x?nfsport=2049&mountport=20048"
    opts = f"rw,secondary={url},allow_other,_netdev,nofail"
    env = {"OFSREP_BIN": str(fake)}        # mount(8) clears PATH; so do we
    for extra in ([], ["-t", "fuse.ofsrep"], ["-n", "-v"]):
        record.unlink(missing_ok=True)
        proc = subprocess.run(["/bin/sh", str(HELPER), url, "/mnt/x", "-o", opts, *extra],
                              capture_output=True, text=True, timeout=30, env=env)
        assert proc.returncode == 0, proc.stderr
        assert record.read_text().splitlines() == [
            url, "/mnt/x", "-o", f"rw,secondary={url},allow_other,dev,suid"], extra


def test_helper_is_a_posix_sh_script():
    assert os.access(HELPER, os.X_OK), f"{HELPER} is not executable"
    text = HELPER.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(HELPER)]).returncode == 0
    if subprocess.run(["sh", "-c", "command -v shellcheck"],
                      capture_output=True).returncode == 0:
        sc = subprocess.run(["shellcheck", "-s", "sh", str(HELPER)],
                            capture_output=True, text=True)
        assert sc.returncode == 0, sc.stdout


# ---------------------------------------------------------------- -V, --help, man page

def documented_options():
    """Option names from fs/opts.c's fuse_opt table."""
    names = re.findall(r'OPTV?\("([a-z_]+)', OPTS_C.read_text())
    assert "secondary" in names and "primary_only" in names, names
    return names


def test_version():
    proc = subprocess.run([OFSREP, "-V"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and proc.stderr == ""
    assert re.fullmatch(r"ofsrep \d+\.\d+\.\d+ \(libfuse 3\.\d+\.\d+\)\n", proc.stdout), \
        proc.stdout
    long = subprocess.run([OFSREP, "--version"], capture_output=True, text=True, timeout=10)
    assert long.returncode == 0 and long.stdout == proc.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    proc = subprocess.run([OFSREP, flag], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and proc.stderr == ""
    out = proc.stdout
    assert out.startswith("usage: ") and "PRIMARY_URL MOUNTPOINT" in out
    assert "nfs://HOST/" in out and "nfsport=" in out and "mountport=" in out
    for name in documented_options():
        assert f"-o {name}" in out, f"--help does not mention -o {name}"
    for flag_ in ("-f", "-d", "-V"):
        assert flag_ in out


def test_man_page_renders_and_covers_the_options():
    text = MAN_PAGE.read_text()
    assert text.isascii(), "keep the man page ASCII"
    for name in documented_options():
        assert re.search(rf"^\.BI? {name}\b", text, re.M), \
            f"docs/ofsrep.8 has no entry for -o {name}"
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "URLS",
                    "EXIT STATUS", "FILES", "NOTES", "SEE ALSO"):
        assert re.search(rf'^\.SH "?{section}"?$', text, re.M), section
    codes = re.search(r"Exit codes: (.*?)\.\n", MAIN_C.read_text(), re.S).group(1)
    for code in re.findall(r"\b(\d) [A-Za-z]", codes):
        assert re.search(rf"^\.B {code}$", text, re.M), f"exit status {code}"
    for errno in ("EOPNOTSUPP", "EINVAL", "ENAMETOOLONG", "3584", ".ofsrep\\-unlinked\\-"):
        assert errno in text, errno
    proc = subprocess.run(["man", "--warnings", "-l", str(MAN_PAGE)],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    out = re.sub(r".\x08", "", proc.stdout)
    assert out.startswith("OFSREP(8)")
    for word in ("SYNOPSIS", "mount -t fuse.ofsrep", "probe_timeout=MS",
                 "EXIT STATUS", "SEE ALSO"):
        assert word in out, word
