"""Journal mode end to end on a real lab: a workload through the mount,
then `ofsrep-journal apply` replays NAS b's journal into the mirror, which
must equal the primary tree (type, mode, owner, size, content, link count,
symlink target).  Also after a SIGKILL of the daemon mid-workload: every
write acknowledged before the kill is in the mirror."""
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import randomops  # noqa: E402
from test_journal_mode import (JOURNAL_TOOL, Writer, daemon_pid,  # noqa
                               mount_journal)


def apply(lab):
    proc = subprocess.run([JOURNAL_TOOL, "apply", lab.url("b"), "--node",
                           "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def snapshot(root, skip=(".ofsrep",)):
    """path -> (type, mode, uid, gid, size, nlink, content or target)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip or dirpath != root]
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            else:
                what = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                        st.st_uid, st.st_gid,
                        st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                        st.st_nlink, what)
    return out


def assert_mirror_equals_primary(lab):
    primary = snapshot(lab.export_dir("a"))
    mirror = snapshot(lab.export_dir("b") / ".ofsrep" / "mirror")
    assert set(primary) == set(mirror), (
        "only on primary: %s; only in mirror: %s" % (
            sorted(set(primary) - set(mirror))[:10],
            sorted(set(mirror) - set(primary))[:10]))
    diff = [p for p in primary if primary[p] != mirror[p]]
    assert not diff, ["%s: %s != %s" % (p, primary[p], mirror[p])
                      for p in diff[:10]]
    return len(primary)


def test_random_workload_mirror_equals_primary(lab, tmp_path):
    mnt = mount_journal(lab)
    ref = tmp_path / "ref"
    ref.mkdir()
    res = randomops.run(os.fspath(mnt), os.fspath(ref), 7, 1500, keep=True)
    assert res.steps == 1500
    lab.umount()            # every acknowledged record is durable
    out = apply(lab)
    n = assert_mirror_equals_primary(lab)
    assert n > 20, "the workload left too little to compare"
    print("\n%d objects equal; %s" % (n, out.splitlines()[0]))
    # Applying again changes nothing.
    assert "applied 0 records" in apply(lab)
    assert_mirror_equals_primary(lab)


def test_acknowledged_writes_survive_daemon_sigkill(lab):
    mnt = mount_journal(lab)
    w = Writer(os.path.join(mnt, "stream"))
    w.start()
    time.sleep(1.0)
    os.kill(daemon_pid(lab), signal.SIGKILL)
    w.join(30)
    acked = w.acked
    assert acked > 10
    subprocess.run(["fusermount3", "-uz", mnt], check=False)
    apply(lab)
    with open(lab.export_dir("b") / ".ofsrep" / "mirror" / "stream",
              "rb") as f:
        data = f.read()
    assert len(data) >= acked * 65536, (len(data), acked)
    assert data[:acked * 65536] == b"w" * (acked * 65536)
    # A remount continues the journal; the mirror follows.
    mount_journal(lab)
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"epoch two")
    lab.umount()
    apply(lab)
    with open(lab.export_dir("b") / ".ofsrep" / "mirror" / "after",
              "rb") as f:
        assert f.read() == b"epoch two"
