"""ofsrep-fsck pass 2 on a checkpoint that cannot be trusted
(tools/fsck/ckpt.c), on a real lab: both slots of applied.ckpt damaged.
The daemon does not guess (a mount refuses, with one line naming the
repair); -n and -p change nothing; without PRIMARY_URL it
says what to run; -y with it sets the damaged file aside, makes the mirror
equal to the primary and checkpoints the journal's end, after which the
pair verifies clean and a new mount replicates again."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import LabError  # noqa: E402
from test_failback import verify_pair  # noqa: E402
from test_fsck import fsck, fsck_bin  # noqa: E402
from test_fsck_trees import fsck2, populated, restart  # noqa: E402
from test_journal_mirror import mirror_dir  # noqa: E402
from test_journal_mode import mount_journal  # noqa: E402

SLOT = 64


def ckpt_file(lab):
    return lab.export_dir("b") / ".ofsrep" / "journal" / "1" / "applied.ckpt"


def populated_twice(lab):
    """populated(), then a second mount: its batch writes the other slot
    (one slot written and spoilt is "nothing applied yet", journal/
    record.c jnl_ckpt_pick)."""
    populated(lab)
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "second"), "wb") as f:
        f.write(b"second mount")
    lab.umount()


def damage_both_slots(lab):
    p = ckpt_file(lab)
    data = bytearray(p.read_bytes())
    assert len(data) == 2 * SLOT, len(data)
    data[40] ^= 0x10
    data[SLOT + 40] ^= 0x10
    p.write_bytes(bytes(data))
    return bytes(data)


def journal_json(lab):
    proc = subprocess.run(
        [os.path.join(os.path.dirname(fsck_bin()), "ofsrep-journal"),
         "check", lab.url("b"), "--node", "1", "--json"],
        capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout)


def test_a_damaged_checkpoint_is_rebuilt_from_the_primary(lab):
    populated_twice(lab)
    # the mirror lacks something, as a mirror behind its journal would
    os.unlink(mirror_dir(lab) / "d/e/g")
    damaged = damage_both_slots(lab)
    restart(lab, "b")
    rc, j = journal_json(lab)
    assert rc == 4 and j["checkpoint"]["consistent"] is False, j
    proc = fsck(lab, "-n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "both checkpoint slots are damaged" in proc.stdout, proc.stdout
    assert ckpt_file(lab).read_bytes() == damaged
    proc = fsck(lab, "-n", "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    node = json.loads(proc.stdout)["nodes"][0]
    assert node["checkpoint_seq"] is None, node
    assert node["checkpoint_damaged"] is True, node
    proc = fsck2(lab, "-p")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert ckpt_file(lab).read_bytes() == damaged
    proc = fsck(lab, "-y")
    assert proc.returncode == 4 and "run again with PRIMARY_URL" in \
        proc.stdout, proc.stdout + proc.stderr
    assert ckpt_file(lab).read_bytes() == damaged
    proc = fsck2(lab, "-y", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    node = json.loads(proc.stdout)["nodes"][0]
    assert node["checkpoint_seq"] == node["last_seq"] > 0, node
    assert node["pending"] == 0, node
    kept = lab.export_dir("b") / node["quarantine"].lstrip("/") / \
        "applied.ckpt"
    assert kept.read_bytes() == damaged, kept
    assert (mirror_dir(lab) / "d/e/g").read_bytes() == b"g" * 5000
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # a new mount replicates again on top of the new checkpoint
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"after the repair")
    lab.umount()
    assert (mirror_dir(lab) / "after").read_bytes() == b"after the repair"
    verify_pair(lab)


def test_a_mount_refuses_a_damaged_checkpoint_with_the_fix(lab):
    """The daemon does not guess where the mirror is: it refuses to mount,
    with one line that names the repair, and changes nothing."""
    populated_twice(lab)
    damaged = damage_both_slots(lab)
    restart(lab, "b")
    with pytest.raises(LabError) as err:
        mount_journal(lab)
    assert "both checkpoint slots are damaged" in str(err.value) and \
        "ofsrep-fsck -y SECONDARY_URL PRIMARY_URL" in str(err.value), \
        str(err.value)
    assert ckpt_file(lab).read_bytes() == damaged
    proc = fsck2(lab, "-y")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    mnt = mount_journal(lab)
    assert open(os.path.join(mnt, "second"), "rb").read() == b"second mount"
    lab.umount()
    verify_pair(lab)


def test_no_rebuild_or_reclaim_while_another_node_is_mounted(lab):
    """Node 2 mounted on the same exports writes both trees: rebuilding
    the shared mirror, or removing blobs the walk did not meet, could undo
    what it does.  Both are refused with the reason; after node 2 is
    unmounted they go through."""
    from ha import unmount
    from test_two_nodes import mount_node
    populated_twice(lab)
    damaged = damage_both_slots(lab)
    restart(lab, "b")
    mnt2 = lab.dir / "mnt2"
    pid2 = mount_node(lab, 2, mnt2)
    try:
        with open(os.path.join(mnt2, "gone"), "wb") as f:
            f.write(b"x")
        os.setxattr(os.path.join(mnt2, "gone"), "user.DOSATTRIB", b"a")
        # evicted, then removed through a lookup that never read its
        # attributes: node 2 does not know of the blob (fs/xattr_drop.c),
        # so it stays behind for the reclaim
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        os.unlink(os.path.join(mnt2, "gone"))
        proc = fsck2(lab, "-y", "--node", "1")
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "not rebuilt: node 2 is in use" in proc.stdout, proc.stdout
        assert ckpt_file(lab).read_bytes() == damaged
        time.sleep(1)           # node 2's keeper applies the unlink
        proc = fsck2(lab, "-p", "--verify", "--node", "1")
        assert "xattr blobs belong to objects that no longer exist" in \
            proc.stdout and "not removed: node 2 is in use" in \
            proc.stdout, proc.stdout
    finally:
        unmount(mnt2, pid2)
    proc = fsck2(lab, "-y")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # the rebuild's walk met every object: node 2's removed file's blobs
    # (NAS a's and the mirror's) go with it
    assert "made equal, 2 xattr blobs of removed objects removed" in \
        proc.stdout, proc.stdout
    verify_pair(lab)
