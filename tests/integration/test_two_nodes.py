"""Two file-server nodes sharing one pair of exports (replica/peers.c), as
a CTDB pair does: node 1 and node 2 each mount it with their own journal.
When node 1 dies with records its keeper never applied, node 2 adopts
node 1's journal, so the mirror gets everything node 1 acknowledged: node
2 serves it after NAS a is lost too, and ofsrep-fsck finds the pair
equal."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin  # noqa: E402
from ha import unmount  # noqa: E402
from test_failover import wait_serving  # noqa: E402
from test_fsck_trees import fsck2  # noqa: E402
from test_journal_mode import daemon_pid, mount_journal  # noqa: E402
from test_status import status  # noqa: E402


def mount_node(lab, node, mnt, extra=""):
    os.makedirs(mnt, exist_ok=True)
    opts = "secondary=%s,node=%d,allow_other,spool=%s/spool%d%s" % (
        lab.url("b"), node, lab.dir, node, extra)
    proc = subprocess.run([ofsrep_bin(), lab.url("a"), str(mnt), "-o",
                           opts], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # the daemon answers on its control socket a moment after mounting
    deadline = time.monotonic() + 20
    while True:
        j = status(str(mnt), json_out=True)[1]
        if j:
            return j["pid"]
        assert time.monotonic() < deadline, "node %d never answered" % node
        time.sleep(0.1)


def journal_check(lab, node):
    from test_journal_mode import JOURNAL_TOOL
    proc = subprocess.run([JOURNAL_TOOL, "check", lab.url("b"), "--node",
                           str(node), "--json"], capture_output=True,
                          text=True, timeout=60)
    return json.loads(proc.stdout)


def test_a_dead_nodes_journal_is_adopted_by_the_survivor(lab):
    # node 1 never applies (noapply): everything it acknowledges waits in
    # its journal, as after a crash between journaling and applying
    mnt1 = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o noapply"})
    mnt2 = lab.dir / "mnt2"
    pid2 = None
    try:
        pid2 = mount_node(lab, 2, mnt2)
        assert pid2
        os.mkdir(os.path.join(mnt1, "profile"))
        for i in range(20):
            with open(os.path.join(mnt1, "profile", "f%d" % i), "wb") as f:
                f.write(b"node 1 wrote %d\n" % i * 100)
        os.setxattr(os.path.join(mnt1, "profile", "f0"), "user.dos", b"h")
        before = journal_check(lab, 1)
        assert before["records"] > 20
        # node 2 sees the files on the primary and works on them
        time.sleep(1.2)     # entry_timeout
        with open(os.path.join(mnt2, "profile", "f1"), "ab") as f:
            f.write(b"node 2 appended\n")
        os.kill(daemon_pid(lab), signal.SIGKILL)
        subprocess.run(["umount", "-l", str(mnt1)], capture_output=True)
        # node 2 adopts node 1's journal within a sweep or two
        deadline = time.monotonic() + 30
        while True:
            ck = journal_check(lab, 1)["checkpoint"]
            if ck and ck["seq"] >= before["last_seq"]:
                break
            assert time.monotonic() < deadline, (ck, before)
            time.sleep(0.3)
        # and NAS a lost now leaves nothing of node 1's behind
        lab.nas("a", "kill")
        for i in range(20):
            want = b"node 1 wrote %d\n" % i * 100
            if i == 1:
                want += b"node 2 appended\n"
            with open(os.path.join(mnt2, "profile", "f%d" % i), "rb") as f:
                assert f.read() == want, i
        wait_serving(str(mnt2), "mirror")
        assert os.getxattr(os.path.join(mnt2, "profile", "f0"),
                           "user.dos") == b"h"
    finally:
        subprocess.run(["umount", "-l", str(mnt1)], capture_output=True)
        unmount(mnt2, pid2)
    lab.nas("a", "start")
    proc = fsck2(lab, "-n", "--verify")
    # node 2 served the mirror: the primary is stale (not compared equal);
    # the mirror must hold all of node 1's files
    mirror = lab.export_dir("b") / ".ofsrep/mirror/profile"
    assert sorted(os.listdir(mirror)) == sorted("f%d" % i
                                                for i in range(20)), proc
