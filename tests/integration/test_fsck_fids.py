"""ofsrep-fsck's check of the mirror against the journal's fid map
(tools/fsck/fids.c) on a real lab: an object the journal made that is
gone from the mirror is reported (exit 4, -n changes nothing), repaired
by --resync=mirror, and a second run is clean; the renames, unlinks and
orphans the applier handles itself are not mistaken for damage."""
import json
import time
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from test_fsck import fsck, tree_digest  # noqa: E402
from test_fsck_trees import fsck2, restart  # noqa: E402
from test_journal_mirror import (assert_mirror_equals_primary,  # noqa: E402
                                 mirror_dir)
from test_journal_mode import mount_journal  # noqa: E402


def node_report(lab, *args):
    proc = fsck(lab, "-n", "--json", *args)
    (node,) = json.loads(proc.stdout)["nodes"]
    return proc.returncode, node


def applied(lab):
    """Replay whatever the keeper left, then check it is all applied."""
    proc = fsck(lab, "-y")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    rc, node = node_report(lab)
    assert node["pending"] == 0, node
    return rc, node


def test_an_object_gone_from_the_mirror_is_found_and_resync_repairs(lab):
    mnt = mount_journal(lab)
    os.makedirs(os.path.join(mnt, "d/e"))
    for i in range(20):
        with open(os.path.join(mnt, "d/e/f%02d" % i), "wb") as f:
            f.write(os.urandom(2000 + i))
    os.symlink("f00", os.path.join(mnt, "d/e/l"))
    lab.umount()
    rc, node = applied(lab)
    assert rc == 0, node
    assert node["mirror_objects_checked"] >= 23, node
    assert node["mirror_objects_gone"] == 0, node

    # behind ofsrep's back: one file and the symlink leave the mirror
    os.unlink(mirror_dir(lab) / "d/e/f07")
    os.unlink(mirror_dir(lab) / "d/e/l")
    restart(lab, "b")
    before = tree_digest(lab.export_dir("b"))
    proc = fsck(lab, "-n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "2 of the " in proc.stdout, proc.stdout
    assert "objects the journal made are gone from the mirror" in \
        proc.stdout, proc.stdout
    assert "--resync=mirror" in proc.stdout, proc.stdout
    rc, node = node_report(lab)
    assert rc == 4 and node["mirror_objects_gone"] == 2, node
    (p,) = [p for p in node["problems"] if p["kind"] == "mirror_lost"]
    assert not p["fixed"], p
    # preen cannot fix it either: it needs the primary
    proc = fsck(lab, "-p")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert tree_digest(lab.export_dir("b")) == before

    proc = fsck2(lab, "-y", "--resync=mirror")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the 2 objects gone from the mirror were made again from the " \
        "primary" in proc.stdout, proc.stdout
    restart(lab, "b")
    assert_mirror_equals_primary(lab)
    proc = fsck(lab, "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # the next mount journals on top, the keeper applies it, and all of
    # it is checked again (the new epoch has a map of its own)
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "d/e/f07"), "ab") as f:
        f.write(b"after the repair")
    with open(os.path.join(mnt, "d/e/new"), "wb") as f:
        f.write(b"new")
    lab.umount()
    rc, node = applied(lab)
    assert rc == 0, node
    assert node["mirror_objects_gone"] == 0, node
    restart(lab, "b")
    assert_mirror_equals_primary(lab)


def test_what_the_applier_removes_itself_is_not_damage(lab):
    """Every way a record takes an object out of the mirror: unlink,
    rmdir, rename over a file, over an empty directory, over a hard link,
    an unlinked file written while open (an orphan, reaped)."""
    mnt = mount_journal(lab)

    def p(*names):
        return os.path.join(mnt, *names)

    for name in ("u", "v", "w", "x", "y", "linked"):
        with open(p(name), "wb") as f:
            f.write(name.encode() * 100)
    os.link(p("linked"), p("second"))
    os.mkdir(p("dir_a"))
    os.mkdir(p("dir_b"))
    os.mkdir(p("gone_dir"))
    os.unlink(p("u"))
    os.rmdir(p("gone_dir"))
    os.rename(p("v"), p("w"))             # w's object replaced
    os.rename(p("dir_a"), p("dir_b"))     # an empty directory replaced
    os.rename(p("x"), p("second"))        # one name of a linked file
    fd = os.open(p("y"), os.O_WRONLY)
    os.unlink(p("y"))
    os.write(fd, b"written while unlinked")
    os.fsync(fd)
    os.close(fd)
    lab.umount()
    rc, node = applied(lab)
    assert rc == 0, node
    assert node["mirror_objects_checked"] >= 3, node
    assert node["mirror_objects_gone"] == 0, node
    restart(lab, "b")
    assert_mirror_equals_primary(lab)


def test_objects_removed_while_the_mirror_served_are_not_damage(lab):
    """A failover, removals on the mirror (no records: it is served
    directly), a failback: the keeper flags those fids before it applies
    again (apl_revalidate), so the check finds nothing gone."""
    from test_failback import mount, wait_failback_state
    from test_failover import wait_serving
    mnt = mount(lab, "-o failback=auto,failback_settle=1")
    for name in ("kept", "removed", "renamed_over", "src"):
        with open(os.path.join(mnt, name), "wb") as f:
            f.write(name.encode())
    os.mkdir(os.path.join(mnt, "gone_dir"))
    time.sleep(1.5)                       # the keeper maps them all
    lab.nas("a", "kill")
    wait_serving(mnt, "mirror")
    os.unlink(os.path.join(mnt, "removed"))
    os.rmdir(os.path.join(mnt, "gone_dir"))
    os.rename(os.path.join(mnt, "src"), os.path.join(mnt, "renamed_over"))
    with open(os.path.join(mnt, "made_on_the_mirror"), "wb") as f:
        f.write(b"m")
    lab.nas("a", "start")
    wait_serving(mnt, "primary", timeout=90)
    wait_failback_state(mnt, "off")
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"journaled again")
    time.sleep(1.5)
    lab.umount()
    rc, node = applied(lab)
    assert rc == 0, node
    assert node["mirror_objects_gone"] == 0, node
    assert node["mirror_objects_checked"] >= 2, node
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
