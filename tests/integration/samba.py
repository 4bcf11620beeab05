"""A real smbd sharing a directory (the ofsrep mount), for the tests.

Smbd(workdir, path).start() writes an smb.conf from tools/samba/smb.conf.in
(the one docs/samba.md documents), adds the test user to a passdb of its
own, creates a network namespace of its own (so that smbd has the SMB
port 445 on that namespace's 127.0.0.1, which smbcacls insists on, and
nothing outside can reach it), and starts smbd there in the foreground
in a session of its own, so stop() ends it and every child it forked, by
the PID recorded here, then deletes the namespace.  smbclient()/smbcacls() run the real clients against
it.  The unix account TEST_USER is created once (useradd) if missing:
Samba maps an authenticated user to a unix uid, and the files it creates
are owned by it."""
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

PROBE = ("import socket, sys; socket.create_connection("
         "(sys.argv[1], int(sys.argv[2])), 1)")
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tools" / "samba" / "smb.conf.in"
TEST_USER = "ofsreptest"
TEST_PASSWORD = "ofsrep-Test-1"
SHARE = "profiles"


def pids_where(match):
    """PIDs of the processes whose argv (a list of bytes) @match accepts:
    how helpers a daemon of ours started outside our session are found
    (by the paths only our test directories have), to be ended by PID."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and match(argv):
            pids.append(int(d))
    return pids


def ensure_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True, capture_output=True, timeout=60)
        return pwd.getpwnam(TEST_USER)


_seq = [0]


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Smbd:
    def __init__(self, workdir, path, addr="127.0.0.1"):
        self.dir = Path(workdir)
        self.path = str(path)
        self.addr = addr
        self.port = None
        self.proc = None
        self.conf = self.dir / "smb.conf"
        self.user = None
        self.netns = None

    def ns(self, argv):
        return ["ip", "netns", "exec", self.netns, *argv]

    def write_conf(self):
        for sub in ("private", "lock", "state", "cache", "run", "ncalrpc",
                    "bind-dns"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        text = TEMPLATE.read_text()
        for k, v in (("@ADDR@", self.addr), ("@PORT@", str(self.port)),
                     ("@DIR@", str(self.dir)), ("@MNT@", self.path),
                     ("@SHARE@", SHARE)):
            text = text.replace(k, v)
        self.conf.write_text(text)

    def start(self, timeout=20):
        self.user = ensure_user()
        self.port = 445
        _seq[0] += 1
        self.netns = "ofsrep-smb-%d-%d" % (os.getpid(), _seq[0])
        ip("netns", "add", self.netns)
        ip("-n", self.netns, "link", "set", "lo", "up")
        self.write_conf()
        subprocess.run(["smbpasswd", "-c", str(self.conf), "-s", "-a",
                        TEST_USER],
                       input="%s\n%s\n" % (TEST_PASSWORD, TEST_PASSWORD),
                       text=True, check=True, capture_output=True,
                       timeout=60)
        self.log = open(self.dir / "smbd.stdout", "w")
        self.proc = subprocess.Popen(
            self.ns(["smbd", "--foreground", "--no-process-group", "-s",
                     str(self.conf), "--debug-stdout"]),
            stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, \
                "smbd exited: " + (self.dir / "smbd.stdout").read_text()
            probe = subprocess.run(
                self.ns(["python3", "-c", PROBE, self.addr,
                         str(self.port)]), capture_output=True, timeout=30)
            if probe.returncode == 0:
                return self
            assert time.monotonic() < deadline, "smbd did not listen"
            time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # the session's children (one smbd per connection) go with it
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # samba-dcerpcd, which smbd starts on demand (smbcacls' name
        # lookups), leaves the session: find it by the smb.conf path only
        # this server uses, and end it by PID.
        for pid in self._helpers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "log", None):
            self.log.close()
        self.proc = None
        if self.netns:
            subprocess.run(["ip", "netns", "delete", self.netns],
                           capture_output=True, timeout=30)
            self.netns = None

    def _helpers(self):
        mine = str(self.conf).encode()
        return pids_where(lambda argv: any(
            a == mine or a.endswith(b"=" + mine) for a in argv))

    def _auth(self):
        return ["-U", "%s%%%s" % (TEST_USER, TEST_PASSWORD), "-s",
                str(self.conf)]

    def smbclient(self, commands, timeout=120, cwd=None):
        """Runs smbclient -c COMMANDS; returns the CompletedProcess."""
        return subprocess.run(
            self.ns(["smbclient", "//%s/%s" % (self.addr, SHARE),
                     *self._auth(), "-m", "SMB3", "-c", commands]),
            capture_output=True, text=True, timeout=timeout, cwd=cwd,
            stdin=subprocess.DEVNULL)

    def smbcacls(self, path, *args, timeout=60):
        return subprocess.run(
            self.ns(["smbcacls", "//%s/%s" % (self.addr, SHARE), path,
                     *self._auth(), *args]),
            capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL)
