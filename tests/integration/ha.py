"""The HA lab: two file-server nodes with real ctdbd and clustered smbd on
top of ofsrep, a public address (VIP), and a client, on one machine.

    NAS a, NAS b            the two ganesha boxes of ofsrep-lab (its lab)
    node 1, node 2          ofsrep mounted in the host (node=1 / node=2,
                            each its own journal) at DIR/n<k>/mnt; ctdbd
                            and smbd in network namespace <prefix>-n<k>
                            (10.98.I.k, veth eth0) and a mount namespace
                            with their own /etc/ctdb, /var/lib/ctdb and
                            /run/ctdb bound in (Debian's ctdb scripts
                            hard-code those paths)
    client                  namespace <prefix>-br: the bridge joining
                            the nodes' veths, address 10.98.I.100; the
                            VIP 10.98.I.50 moves between the nodes
    cluster lock            DIR/reclock/lock through CTDB's fcntl mutex
                            helper: a directory of the file servers, not
                            behind ofsrep (docs/ctdb.md says why)

Every process is started here and stopped by PID or by the session it
was started in; stop() also deletes the namespaces.  Nothing listens
outside the namespaces this creates."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from samba import (SHARE, TEMPLATE, TEST_PASSWORD, TEST_USER,
                   ensure_user, pids_where)

REPO = Path(__file__).resolve().parents[2]
EVENT_SCRIPT = REPO / "tools" / "ctdb" / "50.ofsrep.script"

NODE_SH = r"""
set -e
mount --bind "$D/etc" /etc/ctdb
mount --bind "$D/var" /var/lib/ctdb
mount --bind "$D/run" /run/ctdb
ctdbd --interactive >"$D/ctdbd.out" 2>&1 &
echo $! >"$D/ctdbd.pid"
i=0
until ctdb pnn >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 300 ] || exit 1; sleep 0.1
done
smbd --foreground --no-process-group -s "$D/smb.conf" --debug-stdout \
	>"$D/smbd.out" 2>&1 &
echo $! >"$D/smbd.pid"
wait
"""


def run(*argv, check=True, timeout=60, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True,
                          check=check, timeout=timeout, **kw)


def unmount(mnt, pid):
    """Unmounts an ofsrep mount cleanly and waits for its daemon @pid to
    exit (30 s), then kills it and detaches the mount."""
    run("fusermount3", "-u", "-z", str(mnt), check=False)
    if not pid:
        return
    deadline = time.monotonic() + 30
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if os.path.exists("/proc/%d" % pid):
        os.kill(pid, signal.SIGKILL)
        run("umount", "-l", str(mnt), check=False)


class Node:
    def __init__(self, ha, k):
        self.ha = ha
        self.k = k
        self.dir = ha.dir / ("n%d" % k)
        self.ns = "%s-n%d" % (ha.prefix, k)
        self.addr = "10.98.%d.%d" % (ha.net, k)
        self.mnt = self.dir / "mnt"
        self.shell = None
        self.ofsrep_pid = None

    def ctdb(self, *args, check=False, timeout=30):
        return run("nsenter", "-t", str(self.shell.pid), "-m", "-n",
                   "ctdb", *args, check=check, timeout=timeout)


class HaLab:
    def __init__(self, lab, workdir, ofsrep_bin, failback=None):
        """failback: None keeps CTDB's defaults (LCP2: one VIP stays where
        it is); "manual" sets NoIPFailback=1 (a recovered node never takes
        an address back by itself); "auto" sets IPAllocAlgorithm=0
        (deterministic: the VIP goes home to node 1 whenever it is
        healthy).  docs/ctdb.md compares them."""
        assert failback in (None, "manual", "auto")
        self.failback = failback
        self.lab = lab
        self.dir = Path(workdir)
        self.bin = ofsrep_bin
        self.net = 20 + os.getpid() % 200
        self.prefix = "ofsrep-ha%d" % self.net
        self.vip = "10.98.%d.50" % self.net
        self.client_addr = "10.98.%d.100" % self.net
        self.br = self.prefix + "-br"
        self.nodes = [Node(self, 1), Node(self, 2)]
        self.made_ns = []
        self.user = None

    # ---- set-up ----

    def ns_add(self, name):
        run("ip", "netns", "add", name)
        self.made_ns.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def network(self):
        self.ns_add(self.br)
        run("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.br, "addr", "add", self.client_addr + "/24",
            "dev", "br0")
        run("ip", "-n", self.br, "link", "set", "br0", "up")
        for n in self.nodes:
            self.ns_add(n.ns)
            peer = "hab%d" % n.k
            run("ip", "-n", n.ns, "link", "add", "eth0", "type", "veth",
                "peer", "name", peer, "netns", self.br)
            run("ip", "-n", n.ns, "addr", "add", n.addr + "/24", "dev",
                "eth0")
            run("ip", "-n", n.ns, "link", "set", "eth0", "up")
            run("ip", "-n", self.br, "link", "set", peer, "master", "br0")
            run("ip", "-n", self.br, "link", "set", peer, "up")

    def mount(self, n, refused_ok=None):
        """Mounts node n's ofsrep; if it refuses with an error containing
        @refused_ok, returns that error instead of failing."""
        n.mnt.mkdir(parents=True, exist_ok=True)
        opts = "secondary=%s,node=%d,allow_other,spool=%s/spool" % (
            self.lab.url("b"), n.k, n.dir)
        proc = run(self.bin, self.lab.url("a"), str(n.mnt), "-o", opts,
                   check=False)
        if proc.returncode and refused_ok and refused_ok in proc.stderr:
            return proc.stderr
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 20
        while True:
            st = run(self.bin, "status", str(n.mnt), "--json", check=False)
            if st.returncode in (0, 1) and '"pid":' in st.stdout:
                n.ofsrep_pid = int(st.stdout.split('"pid":')[1].split(",")[0])
                break
            assert time.monotonic() < deadline, st.stdout + st.stderr
            time.sleep(0.1)
        os.chmod(n.mnt, 0o755)
        return None

    def node_config(self, n):
        etc, var, run_dir = n.dir / "etc", n.dir / "var", n.dir / "run"
        shutil.copytree("/etc/ctdb", etc, symlinks=True)
        for sub in ("volatile", "persistent", "state"):
            (var / sub).mkdir(parents=True)
        run_dir.mkdir()
        (etc / "ctdb.conf").write_text(
            "[logging]\n\tlocation = file:%s/log.ctdb\n"
            "\tlog level = NOTICE\n"
            "[cluster]\n\tcluster lock = !/usr/libexec/ctdb/"
            "ctdb_mutex_fcntl_helper %s/reclock/lock\n" %
            (n.dir, self.dir))
        (etc / "nodes").write_text("".join(m.addr + "\n"
                                           for m in self.nodes))
        (etc / "public_addresses").write_text("%s/24 eth0\n" % self.vip)
        (etc / "ctdb.tunables").write_text("MonitorInterval=2\n" + {
            None: "", "manual": "NoIPFailback=1\n",
            "auto": "IPAllocAlgorithm=0\n"}[self.failback])
        (etc / "script.options").write_text(
            "CTDB_OFSREP_MOUNTPOINT=%s\nCTDB_OFSREP_BIN=%s\n"
            "CTDB_OFSREP_FREEZE_BOUND=10\n" % (n.mnt, self.bin))
        legacy = etc / "events" / "legacy"
        for old in legacy.iterdir():
            old.unlink()
        for name in ("00.ctdb", "10.interface"):
            (legacy / (name + ".script")).symlink_to(
                "/usr/share/ctdb/events/legacy/%s.script" % name)
        shutil.copy(EVENT_SCRIPT, legacy / "50.ofsrep.script")
        text = TEMPLATE.read_text()
        text = text.replace("\tinterfaces = @ADDR@\n"
                            "\tbind interfaces only = yes\n",
                            "\tclustering = yes\n"
                            "\tnetbios name = OFSREPHA\n")
        for k, v in (("@PORT@", "445"), ("@DIR@", str(n.dir / "smb")),
                     ("@MNT@", str(n.mnt)), ("@SHARE@", SHARE)):
            text = text.replace(k, v)
        for sub in ("private", "lock", "state", "cache", "run", "ncalrpc",
                    "bind-dns"):
            (n.dir / "smb" / sub).mkdir(parents=True, exist_ok=True)
        (n.dir / "smb.conf").write_text(text)

    def start_node(self, n):
        env = dict(os.environ, D=str(n.dir))
        n.shell = subprocess.Popen(
            ["ip", "netns", "exec", n.ns, "unshare", "-m",
             "--propagation", "slave", "sh", "-c", NODE_SH],
            env=env, stdin=subprocess.DEVNULL,
            stdout=open(n.dir / "node.out", "w"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def start(self):
        self.user = ensure_user()
        (self.dir / "reclock").mkdir(parents=True, exist_ok=True)
        Path("/run/ctdb").mkdir(exist_ok=True)
        self.network()
        for n in self.nodes:
            self.mount(n)
        u = self.nodes[0].mnt / "u"
        u.mkdir(exist_ok=True)
        os.chown(u, self.user.pw_uid, self.user.pw_gid)
        (self.dir / "client.conf").write_text(
            "[global]\n\tclient min protocol = SMB2_10\n")
        for n in self.nodes:
            self.node_config(n)
            self.start_node(n)
        for n in self.nodes:
            self.wait_node_up(n)
            # the passdb is per node: the same user on both
            run("nsenter", "-t", str(n.shell.pid), "-m", "-n",
                "smbpasswd", "-c", str(n.dir / "smb.conf"), "-s", "-a",
                TEST_USER, input="%s\n%s\n" % (TEST_PASSWORD, TEST_PASSWORD))
        self.wait_healthy()
        # CTDB has placed the VIP: wait until smbd answers on it
        deadline = time.monotonic() + 60
        while True:
            p = self.client("ls", timeout=30)
            if p.returncode == 0 and "NT_STATUS" not in p.stdout + p.stderr:
                return self
            assert time.monotonic() < deadline, p.stdout + p.stderr
            time.sleep(0.3)

    def wait_node_up(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while not (n.dir / "smbd.pid").exists():
            assert n.shell.poll() is None, (n.dir / "node.out").read_text()
            assert time.monotonic() < deadline, "node %d did not start" % n.k
            time.sleep(0.2)

    def wait_healthy(self, timeout=90, nodes=None):
        """Every node in `nodes` (all) OK, the VIP held by one of them."""
        nodes = nodes or self.nodes
        deadline = time.monotonic() + timeout
        while True:
            out = nodes[0].ctdb("status").stdout
            oks = out.count("OK")
            holder = self.vip_holder()
            if oks >= len(nodes) and holder in [n.k for n in nodes]:
                return holder
            assert time.monotonic() < deadline, out + \
                nodes[0].ctdb("ip").stdout
            time.sleep(0.5)

    def vip_holder(self, via=None):
        """The node number holding the VIP, as CTDB says (None: nobody)."""
        for n in ([via] if via else self.nodes):
            if n.shell is None or n.shell.poll() is not None:
                continue
            out = n.ctdb("ip", "-X").stdout
            for line in out.splitlines():
                f = line.split("|")
                if len(f) > 2 and f[1] == self.vip:
                    return int(f[2]) + 1 if f[2] != "-1" else None
        return None

    def leader(self, via=None):
        """The node number CTDB says leads the cluster (it holds the
        cluster lock), asked through `via` (node 1 by default)."""
        out = (via or self.nodes[0]).ctdb("leader", check=True).stdout
        return int(out.strip()) + 1

    def place_vip(self, k, timeout=30):
        """Moves the VIP to node k (needs failback="manual")."""
        if self.vip_holder() == k:
            return
        self.nodes[0].ctdb("moveip", self.vip, str(k - 1), check=True)
        deadline = time.monotonic() + timeout
        while self.vip_holder() != k:
            assert time.monotonic() < deadline, self.nodes[0].ctdb(
                "ip").stdout
            time.sleep(0.3)

    def holds_vip(self, n):
        """Whether the VIP is configured on node n's interface: what the
        network sees, whatever CTDB on that node believes."""
        out = run("ip", "-n", n.ns, "-o", "addr", "show", check=False).stdout
        return (" %s/" % self.vip) in out

    # ---- faults ----

    def power_down(self, n):
        """A power loss: the node's network port goes dead first, then
        every daemon of the node is SIGKILLed (ctdbd, smbd, its ofsrep).
        In that order, as with a real power cut: nothing of the node
        answers any more, not the FIN of a dying ctdbd (which would tell
        the peer at once, where a dead machine leaves it to CTDB's
        keepalives) and not the VIP its kernel here still holds (whose
        ARP answers and RSTs a dead machine never sends: a CI run saw
        the client refused for two minutes)."""
        if self.br in self.made_ns:
            self.link(n, False)
        for pid in self._samba_helpers(n):
            os.kill(pid, signal.SIGKILL)
        if n.shell and n.shell.poll() is None:
            os.killpg(n.shell.pid, signal.SIGKILL)
            n.shell.wait(10)
        if n.ofsrep_pid:
            try:
                os.kill(n.ofsrep_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            n.ofsrep_pid = None
        run("umount", "-l", str(n.mnt), check=False)

    def power_up(self, n):
        """The node boots again: ofsrep mounts (its journal was adopted
        meanwhile, so the mount waits until the adopter let go), then
        ctdbd and smbd start as on the first boot."""
        deadline = time.monotonic() + 60
        while True:
            refused = self.mount(n, refused_ok="ofsrep-peer")
            if refused is None:
                break
            assert time.monotonic() < deadline, refused
            time.sleep(1)
        for stale in ("ctdbd.pid", "smbd.pid"):
            (n.dir / stale).unlink(missing_ok=True)
        # a reboot starts without the public address it held
        run("ip", "-n", n.ns, "addr", "del", self.vip + "/24", "dev",
            "eth0", check=False)
        self.link(n, True)
        self.start_node(n)
        self.wait_node_up(n)

    def link(self, n, up):
        """The node's cable: its port on the bridge (CTDB's 10.interface
        brings the node's own eth0 back up by itself)."""
        run("ip", "-n", self.br, "link", "set", "hab%d" % n.k,
            "up" if up else "down")

    # ---- the client ----

    def client(self, commands, timeout=60, ns=None):
        """smbclient against the VIP from the client namespace (or from
        `ns`: a node's own, to reach the VIP on that side of a cut)."""
        try:
            return run("ip", "netns", "exec", ns or self.br, "smbclient",
                       "//%s/%s" % (self.vip, SHARE), "-U",
                       "%s%%%s" % (TEST_USER, TEST_PASSWORD), "-s",
                       str(self.dir / "client.conf"), "-m", "SMB3", "-t",
                       "10", "-c", commands, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, "",
                                               "NT_STATUS_IO_TIMEOUT "
                                               "(no answer in %d s)" %
                                               timeout)

    # ---- what went wrong ----

    def diagnose(self):
        """What each living node's CTDB and ofsrep say, and the ends of
        their logs: for the message of a failed assertion."""
        out = []
        for n in self.nodes:
            alive = n.shell is not None and n.shell.poll() is None
            out.append("== node %d (%s)" % (n.k, "up" if alive else "down"))
            if alive:
                for what in (("status",), ("ip",), ("scriptstatus",)):
                    p = n.ctdb(*what)
                    out.append("ctdb %s: %s" % (what[0],
                                                (p.stdout + p.stderr)[-1500:]))
            if n.mnt.exists():
                p = run(self.bin, "status", str(n.mnt), check=False,
                        timeout=10)
                out.append("ofsrep status: " + (p.stdout + p.stderr)[-1500:])
            out.append("VIP on its interface: %s" % self.holds_vip(n))
            pidf = n.dir / "smbd.pid"
            if pidf.exists():
                pid = pidf.read_text().strip()
                out.append("smbd %s: %s" % (pid, "running" if os.path.exists(
                    "/proc/%s" % pid) else "gone"))
            p = run("ip", "netns", "exec", n.ns, "ss", "-ltn", check=False)
            out.append("listening: " + p.stdout.strip().replace("\n", "; "))
            for log in ("log.ctdb", "node.out", "smbd.out"):
                f = n.dir / log
                if f.exists():
                    out.append("%s (end):\n%s" % (
                        log, f.read_text(errors="replace")[-2500:]))
        return "\n".join(out)

    # ---- tear-down ----

    def _samba_helpers(self, n):
        mine = str(n.dir).encode()
        return pids_where(lambda argv: os.path.basename(argv[0]).decode(
            errors="replace").startswith(("samba-dcerpcd", "rpcd_", "smbd"))
            and any(mine in a for a in argv[1:]))

    def stop(self):
        for n in self.nodes:
            try:
                pid, n.ofsrep_pid = n.ofsrep_pid, None
                self.power_down(n)      # ctdbd, smbd: not ofsrep
                unmount(n.mnt, pid)
            except Exception:
                pass
        for name in reversed(self.made_ns):
            run("ip", "netns", "delete", name, check=False)
        self.made_ns = []
