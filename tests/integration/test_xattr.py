"""Extended attributes replicated (fs/xattr.c, replica/xstore.c,
replica/treesync_xattr.c) on a real lab: they reach the mirror through the
journal, are served from it after a failover, changed there, brought back
by the failback, survive a lost secondary (the spool) and a remount, and
a damaged blob is an error (EIO), never an empty set; ofsrep-fsck reports
and repairs differences.  POSIX behaviour of the calls themselves is in
test_posix.py (test_xattr_*)."""
import errno
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_failback import ask_failback, verify_pair  # noqa: E402
from test_failover import wait_serving  # noqa: E402
from test_fsck_trees import fsck2, restart  # noqa: E402
from test_journal_mode import mount_journal  # noqa: E402
from test_status import status  # noqa: E402

TREE = {
    "f": {"user.dos": b"\x00\x01\x02" * 20, "security.NTACL": b"A" * 900},
    "d": {"user.dir": b"dir value"},
    "d/g": {"user.x": b"", "user.y": b"y" * 4000},
}


def populate(mnt):
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(b"file")
    os.mkdir(os.path.join(mnt, "d"))
    with open(os.path.join(mnt, "d/g"), "wb") as f:
        f.write(b"g")
    for path, attrs in TREE.items():
        for name, value in attrs.items():
            os.setxattr(os.path.join(mnt, path), name, value)
    os.setxattr(mnt, "user.root", b"on the root")


def attrs_of(mnt, path):
    p = os.path.join(mnt, path)
    return {n: os.getxattr(p, n) for n in os.listxattr(p)}


def assert_tree(mnt, extra=None):
    want = {k: dict(v) for k, v in TREE.items()}
    for path, attrs in (extra or {}).items():
        want.setdefault(path, {}).update(attrs)
    for path, attrs in want.items():
        got = attrs_of(mnt, path)
        assert got == {n: v for n, v in attrs.items() if v is not None}, \
            (path, got)
    assert os.getxattr(mnt, "user.root") == b"on the root"


def blobs(export_dir):
    top = export_dir / ".ofsrep" / "xattr"
    return sorted(p for p in top.glob("*/*")) if top.is_dir() else []


def test_xattrs_reach_the_mirror(lab):
    mnt = mount_journal(lab)
    populate(mnt)
    lab.umount()
    assert len(blobs(lab.export_dir("b"))) == 4     # f, d, d/g, root
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0 and "0 differences" in proc.stdout, \
        proc.stdout + proc.stderr
    # the check would see a mirror without them: remove them all
    for p in blobs(lab.export_dir("b")):
        p.unlink()
    restart(lab, "b")
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4 and "xattrs: 2 / 0 attributes" in \
        proc.stdout and "4 differences" in proc.stdout, proc.stdout
    proc = fsck2(lab, "-y", "--resync=mirror")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    verify_pair(lab)
    # and after a remount (no cache) they read the same
    mnt = mount_journal(lab)
    assert_tree(mnt)


def test_failover_serves_xattrs_and_failback_brings_changes_back(lab):
    env = {"OFSREP_MOUNT_OPTS": (os.environ.get("OFSREP_MOUNT_OPTS", "") +
                                 " -o failback=manual").strip()}
    mnt = mount_journal(lab, env)
    populate(mnt)
    lab.nas("a", "kill")
    assert_tree(mnt)                # the first read fails over
    wait_serving(mnt, "mirror")
    os.setxattr(os.path.join(mnt, "f"), "user.during", b"while failed over")
    os.removexattr(os.path.join(mnt, "d/g"), "user.x")
    with open(os.path.join(mnt, "new"), "wb") as f:
        f.write(b"n")
    os.setxattr(os.path.join(mnt, "new"), "user.new", b"made on the mirror")
    changed = {"f": {"user.during": b"while failed over"},
               "d/g": {"user.x": None}, "new": {"user.new":
                                                b"made on the mirror"}}
    assert_tree(mnt, changed)
    lab.nas("a", "start")
    deadline = 60
    for _ in range(deadline * 5):
        proc = ask_failback(mnt)
        if proc.returncode == 0:
            break
        subprocess.run(["sleep", "0.2"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_serving(mnt, "primary")
    assert_tree(mnt, changed)
    lab.umount()
    verify_pair(lab)


def test_xattrs_set_while_the_secondary_is_lost_arrive(lab):
    mnt = mount_journal(lab)
    lab.nas("b", "kill")
    populate(mnt)                   # spooled locally
    assert_tree(mnt)
    lab.nas("b", "start")
    deadline = 60 * 5
    while status(mnt, json_out=True)[1]["exports"][1]["state"] != "up":
        deadline -= 1
        assert deadline > 0, status(mnt)[2].stdout
        subprocess.run(["sleep", "0.2"])
    lab.umount()
    assert len(blobs(lab.export_dir("b"))) == 4
    verify_pair(lab)


def test_a_damaged_blob_is_an_error_and_fsck_repairs_it(lab):
    mnt = mount_journal(lab)
    populate(mnt)
    lab.umount()
    # flip one byte of the set in every blob of the primary
    for p in blobs(lab.export_dir("a")):
        b = bytearray(p.read_bytes())
        b[-1] ^= 0x40
        p.write_bytes(bytes(b))
    restart(lab, "a")
    mnt = mount_journal(lab)
    for path in TREE:
        with pytest.raises(OSError) as e:
            os.listxattr(os.path.join(mnt, path))
        assert e.value.errno == errno.EIO, path
        with pytest.raises(OSError) as e:
            os.setxattr(os.path.join(mnt, path), "user.more", b"m")
        assert e.value.errno == errno.EIO, path
    lab.umount()
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4 and proc.stdout.count(
        "xattr blob damaged in the source (checksum mismatch)") == 4, \
        proc.stdout
    # the mirror is right: make the primary equal to it, then all reads
    proc = fsck2(lab, "-y", "--resync=primary")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    restart(lab, "a")
    verify_pair(lab)
    mnt = mount_journal(lab)
    assert_tree(mnt)


def wait_blobs(lab, want, timeout=30):
    """Both exports' stores hold `want` blobs within timeout (the mirror's
    go when the keeper applies the journal)."""
    deadline = time.monotonic() + timeout
    while True:
        got = (len(blobs(lab.export_dir("a"))), len(blobs(lab.export_dir(
            "b"))))
        if got == (want, want):
            return
        assert time.monotonic() < deadline, (got, want)
        time.sleep(0.3)


def test_removing_an_object_removes_its_blob_on_both_exports(lab):
    """The last name of an object with attributes goes (unlink, unlink
    while open, rmdir, rename over it): its blob goes from the primary's
    store at once and from the mirror's when the journal is applied
    (fs/xattr_drop.c); an object that keeps another name keeps its blob,
    and the pair then verifies with no orphan left."""
    mnt = mount_journal(lab)
    populate(mnt)
    names = ("gone", "gone-open", "replaced", "mover", "linked")
    for name in names:
        with open(os.path.join(mnt, name), "wb") as f:
            f.write(name.encode())
        os.setxattr(os.path.join(mnt, name), "user.DOSATTRIB",
                    name.encode() * 4)
    os.mkdir(os.path.join(mnt, "gonedir"))
    os.setxattr(os.path.join(mnt, "gonedir"), "user.dir", b"d")
    os.link(os.path.join(mnt, "linked"), os.path.join(mnt, "d/other-name"))
    wait_blobs(lab, 4 + 6)
    os.unlink(os.path.join(mnt, "gone"))
    held = open(os.path.join(mnt, "gone-open"), "rb")
    os.unlink(os.path.join(mnt, "gone-open"))
    assert os.getxattr(held.fileno(), "user.DOSATTRIB") == \
        b"gone-open" * 4, "still there while open"
    os.rename(os.path.join(mnt, "mover"), os.path.join(mnt, "replaced"))
    os.unlink(os.path.join(mnt, "linked"))
    os.rmdir(os.path.join(mnt, "gonedir"))
    # gone, replaced's old object, gonedir: dropped; gone-open: open
    wait_blobs(lab, 4 + 6 - 3)
    held.close()
    wait_blobs(lab, 4 + 6 - 4)
    lab.umount()
    proc = fsck2(lab, "-n", "--verify", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json
    node = json.loads(proc.stdout)["nodes"][0]
    assert node["xattr_orphans"] == 0, node
    mnt = mount_journal(lab)
    assert_tree(mnt)
    assert os.getxattr(os.path.join(mnt, "replaced"), "user.DOSATTRIB") == \
        b"mover" * 4
    assert os.getxattr(os.path.join(mnt, "d/other-name"),
                       "user.DOSATTRIB") == b"linked" * 4
    lab.umount()
    verify_pair(lab)


def test_fsck_reclaims_the_blobs_of_removed_objects(lab):
    """Objects removed through a mount that never read their attributes
    (here a second mount; or another node, or before ofsrep) leave their
    blobs behind; ofsrep-fsck --verify finds such blobs on both exports,
    -n leaves them, -p removes them, and the blobs of objects still there
    (one behind a hard link whose other name was removed) stay, with
    their attributes."""
    mnt = mount_journal(lab)
    populate(mnt)
    for name in ("gone1", "gone2", "kept", "linked"):
        with open(os.path.join(mnt, name), "wb") as f:
            f.write(name.encode())
        os.setxattr(os.path.join(mnt, name), "user.DOSATTRIB", b"x" * 40)
    os.mkdir(os.path.join(mnt, "gonedir"))
    os.setxattr(os.path.join(mnt, "gonedir"), "user.dir", b"d")
    os.link(os.path.join(mnt, "linked"), os.path.join(mnt, "d/other-name"))
    lab.umount()
    mnt = mount_journal(lab)
    for name in ("gone1", "gone2", "linked"):
        os.unlink(os.path.join(mnt, name))
    os.rmdir(os.path.join(mnt, "gonedir"))
    lab.umount()
    a0, b0 = blobs(lab.export_dir("a")), blobs(lab.export_dir("b"))
    assert len(a0) == len(b0) == 4 + 5         # populate's 4, then 5 more
    proc = fsck2(lab, "-n", "--verify", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json
    node = json.loads(proc.stdout)["nodes"][0]
    assert node["xattr_orphans"] == 2 * 3, node  # gone1, gone2, gonedir
    assert node["xattr_reclaimed"] == 0, node
    assert blobs(lab.export_dir("a")) == a0 and \
        blobs(lab.export_dir("b")) == b0
    proc = fsck2(lab, "-p", "--verify")
    assert proc.returncode == 0 and "6 xattr blobs of removed objects " \
        "removed" in proc.stdout, proc.stdout + proc.stderr
    assert len(blobs(lab.export_dir("a"))) == len(
        blobs(lab.export_dir("b"))) == 4 + 2
    proc = fsck2(lab, "-n", "--verify", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["nodes"][0][
        "xattr_orphans"] == 0, proc.stdout
    mnt = mount_journal(lab)
    assert_tree(mnt)
    for name in ("kept", "d/other-name"):
        assert os.getxattr(os.path.join(mnt, name), "user.DOSATTRIB") == \
            b"x" * 40
    lab.umount()
    verify_pair(lab)
