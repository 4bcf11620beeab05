"""Fixtures for ofsrep's integration tests: the two-NAS lab (tools/ofsrep-lab).

Fixtures
  lab   a fresh lab (NAS a and b, no ofsrep mount) in its own directory,
        stopped in teardown even when the test fails.
  mnt   a lab with ofsrep mounted; yields a Lab with .path (the mount point),
        .env, .dir and .nas("a", "kill") etc.  With OFSREP_TEST_DIR set it
        yields a fresh empty directory under that local directory instead,
        so tests can be checked against a plain filesystem; lab methods then
        skip the test.

Environment
  OFSREP_BIN      the daemon (default build/ofsrep)
  OFSREP_RAWNFS   the raw libnfs client (default build/ofsrep-rawnfs)
  OFSREP_TEST_DIR see `mnt` above

Only the standard library and pytest.
"""
import contextlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_TOOL = REPO / "tools" / "ofsrep-lab"
LAB_TIMEOUT = 120          # seconds any single lab command may take
_live_labs = set()         # labs started and not yet stopped (session safety net)
_local_dirs = itertools.count()


def ofsrep_bin():
    return os.environ.get("OFSREP_BIN") or str(REPO / "build" / "ofsrep")


def rawnfs_bin():
    return os.environ.get("OFSREP_RAWNFS") or str(REPO / "build" / "ofsrep-rawnfs")


def journal_bin():
    """The ofsrep-journal tool beside the daemon under test."""
    env = os.environ.get("OFSREP_JOURNAL")
    if env:
        return env
    beside = Path(ofsrep_bin()).with_name("ofsrep-journal")
    return str(beside if beside.exists() else REPO / "build" / "ofsrep-journal")


def journal_run(lab, cmd, node, *args, timeout=60, timeout_ms=2000):
    """ofsrep-journal CMD <NAS b URL> --node NODE ARGS."""
    return subprocess.run([journal_bin(), cmd, lab.url("b"), "--node", str(node),
                           "--timeout-ms", str(timeout_ms), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class LabError(AssertionError):
    pass


def parse_exports(text):
    """`export K=V` lines (V possibly shell-quoted) -> {K: V}."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        key, _, value = line[len("export "):].partition("=")
        words = shlex.split(value) if value else [""]
        env[key] = words[0] if words else ""
    return env


def run_lab(*args, lab_dir=None, check=True, timeout=LAB_TIMEOUT, extra_env=None):
    """Runs tools/ofsrep-lab ARGS [--dir DIR]; returns the CompletedProcess."""
    cmd = [str(LAB_TOOL), *map(str, args)]
    if lab_dir is not None:
        cmd += ["--dir", str(lab_dir)]
    env = dict(os.environ, OFSREP_BIN=ofsrep_bin())
    env.update(extra_env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                       f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def roundtrip(url, timeout_ms=2000):
    """ofsrep-rawnfs roundtrip URL; returns (returncode, seconds, stderr)."""
    t0 = time.monotonic()
    proc = subprocess.run([rawnfs_bin(), "roundtrip", url, "--timeout-ms", str(timeout_ms)],
                          capture_output=True, text=True,
                          timeout=timeout_ms / 1000 + 30, stdin=subprocess.DEVNULL)
    return proc.returncode, time.monotonic() - t0, proc.stderr


# ---------------------------------------------------------------- leftovers

def _proc_alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _proc_starttime(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _recorded_pids(lab_dir):
    """(pidfile, pid, still-ours) for every pid file under the lab directory."""
    out = []
    for f in sorted(Path(lab_dir).rglob("*.pid")):
        try:
            pid = int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        start = Path(str(f) + ".start")
        ours = True
        if start.exists():
            ours = start.read_text().strip() == _proc_starttime(pid)
        out.append((f, pid, ours))
    return out


def _lines(cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()


def lab_leftovers(lab_dir, lab_id):
    """Everything of the lab still there: processes from its pid files,
    namespaces, veths, its route, mounts under its directory.  [] = clean."""
    left = []
    for f, pid, ours in _recorded_pids(lab_dir):
        if ours and _proc_alive(pid):
            left.append(f"process {pid} from {f}")
    lab_dir = str(Path(lab_dir).resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        mp = line.split()[1].replace("\\040", " ")
        if mp == lab_dir or mp.startswith(lab_dir + "/"):
            left.append(f"mount {mp}")
    if lab_id is None:
        return left
    for line in _lines(["ip", "netns", "list"]):
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"ofsrep-{lab_id}-"):
            left.append(f"namespace {name}")
    for line in _lines(["ip", "-o", "link", "show"]):
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if re.fullmatch(rf"ofsrep{lab_id}[ab]", name):
            left.append(f"interface {name}")
    for line in _lines(["ip", "route", "show", "type", "unreachable"]):
        if f" 10.99.{lab_id}.0/24 " in f" {line} ":
            left.append(f"route {line}")
    return left


def assert_lab_gone(lab):
    """The session-end check: no process, namespace, veth, route or mount of
    that lab is left."""
    left = lab_leftovers(lab.dir, lab.id)
    assert not left, f"lab {lab.dir} left behind: " + "; ".join(left)


# ---------------------------------------------------------------- Lab

class Lab:
    """One lab directory and the commands on it."""

    def __init__(self, lab_dir):
        self.dir = Path(lab_dir)
        self.env = {}
        self.id = None
        self.local = False

    # -- commands
    def run(self, *args, check=True, timeout=LAB_TIMEOUT, extra_env=None):
        """ofsrep-lab ARGS --dir DIR (e.g. lab.run("status"))."""
        return run_lab(*args, lab_dir=self.dir, check=check, timeout=timeout,
                       extra_env=extra_env)

    def start(self, mount=False, check=True, extra_env=None):
        args = ["start"] + ([] if mount else ["--no-mount"])
        _live_labs.add(self)
        proc = self.run(*args, check=check, extra_env=extra_env)
        self.env = parse_exports(proc.stdout)
        id_file = self.dir / "lab.id"
        if id_file.exists():
            self.id = int(id_file.read_text())
        return proc

    def stop(self, check=True):
        proc = self.run("stop", check=check)
        if proc.returncode == 0:
            _live_labs.discard(self)
        return proc

    def nas(self, which, action, check=True):
        """lab.nas("a", "kill"): kill|stop|cont|start|cut|heal on NAS a or b."""
        return self.run("nas", which, action, check=check)

    def mount(self, check=True):
        proc = self.run("mount", check=check)
        self.env.update(parse_exports(proc.stdout))
        return proc

    def umount(self, check=True):
        proc = self.run("umount", check=check)
        self.env.pop("OFSREP_MNT", None)
        return proc

    def status(self):
        return self.run("status", check=False).stdout

    # -- convenience
    @property
    def path(self):
        mnt = self.env.get("OFSREP_MNT")
        return Path(mnt) if mnt else None

    def url(self, which):
        return self.env["OFSREP_PRIMARY_URL" if which == "a" else "OFSREP_SECONDARY_URL"]

    def export_dir(self, which):
        """The export directory of NAS a or b on this machine's disk."""
        return self.dir / which / "export"

    def roundtrip(self, which, timeout_ms=2000):
        return roundtrip(self.url(which), timeout_ms)

    def leftovers(self):
        return lab_leftovers(self.dir, self.id)


class LocalDir(Lab):
    """What `mnt` yields with OFSREP_TEST_DIR: a plain directory, no lab."""

    def __init__(self, path):
        super().__init__(path)
        self.local = True
        self.env = {"OFSREP_MNT": str(path)}

    def run(self, *args, **kwargs):
        pytest.skip("needs the NAS lab (OFSREP_TEST_DIR is set)")

    def url(self, which):
        pytest.skip("needs the NAS lab (OFSREP_TEST_DIR is set)")

    def leftovers(self):
        return []


def _stop_and_check(lab):
    proc = lab.stop(check=False)
    left = lab.leftovers()
    if proc.returncode != 0 or left:
        pytest.fail(f"stopping lab {lab.dir} failed (exit {proc.returncode}): "
                    f"{proc.stderr.strip()} left: {left}")


def _local_dir(request):
    """A fresh directory under OFSREP_TEST_DIR (see `mnt`)."""
    path = Path(os.environ["OFSREP_TEST_DIR"]) / \
        f"{request.node.name[:40]}-{os.getpid()}-{next(_local_dirs)}"
    path = Path(re.sub(r"[^A-Za-z0-9._/-]", "_", str(path)))
    path.mkdir(parents=True)
    return LocalDir(path)


@pytest.fixture
def lab(tmp_path_factory):
    """A fresh lab, NAS a and b, no ofsrep mount; stopped in teardown."""
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        the_lab.start(mount=False)
        yield the_lab
    finally:
        _stop_and_check(the_lab)


@pytest.fixture
def mnt(tmp_path_factory, request):
    """A lab with ofsrep mounted at .path (or a local directory, see above)."""
    if os.environ.get("OFSREP_TEST_DIR"):
        yield _local_dir(request)
        return
    if not os.access(ofsrep_bin(), os.X_OK):
        pytest.skip(f"ofsrep binary {ofsrep_bin()} not built")
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        the_lab.start(mount=True)
        assert the_lab.path, "ofsrep-lab start printed no OFSREP_MNT"
        yield the_lab
    finally:
        _stop_and_check(the_lab)


def nofailover_opts():
    """OFSREP_MOUNT_OPTS plus failover=off (unless primary_only, which has
    no failover anyway)."""
    opts = os.environ.get("OFSREP_MOUNT_OPTS", "")
    if "primary_only" not in opts:
        opts = (opts + " -o failover=off").strip()
    return opts


@pytest.fixture
def mnt_nofailover(tmp_path_factory):
    """As `mnt`, with -o failover=off: a lost primary freezes I/O until it
    is back (the data path's own fault handling, without failover)."""
    if not os.access(ofsrep_bin(), os.X_OK):
        pytest.skip(f"ofsrep binary {ofsrep_bin()} not built")
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        the_lab.start(mount=True,
                      extra_env={"OFSREP_MOUNT_OPTS": nofailover_opts()})
        assert the_lab.path, "ofsrep-lab start printed no OFSREP_MNT"
        yield the_lab
    finally:
        _stop_and_check(the_lab)


@pytest.fixture(scope="module")
def mnt_shared(request):
    """One lab with ofsrep mounted for a whole test module (tests that only
    need a filesystem, each in its own subdirectory).  The lab lives in a
    world-searchable directory under /tmp so that tests running as another
    uid can reach the mount (pytest's own tmp dirs are mode 0700)."""
    if os.environ.get("OFSREP_TEST_DIR"):
        yield _local_dir(request)
        return
    if not os.access(ofsrep_bin(), os.X_OK):
        pytest.skip(f"ofsrep binary {ofsrep_bin()} not built")
    with public_lab("ofsrep-test-", mount=True) as the_lab:
        assert the_lab.path, "ofsrep-lab start printed no OFSREP_MNT"
        os.chmod(the_lab.path, 0o755)
        yield the_lab


@contextlib.contextmanager
def public_lab(prefix, mount=False):
    """A lab in a world-searchable directory under /tmp, for tests whose
    processes run as another uid (pytest's own tmp dirs are mode 0700):
    the non-root POSIX tests, smbd working as its user."""
    lab_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(lab_dir, 0o755)
    the_lab = Lab(lab_dir)
    try:
        the_lab.start(mount=mount)
        yield the_lab
    finally:
        _stop_and_check(the_lab)
        shutil.rmtree(lab_dir, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    """Safety net: stop any lab a test started and did not stop."""
    for the_lab in list(_live_labs):
        the_lab.stop(check=False)
