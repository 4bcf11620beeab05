"""ofsrep-fsck on a real lab (tools/fsck/): a journal written through a
real mount (noapply, so nothing is applied or trimmed behind the test),
then damaged by hand on NAS b's export; each kind of damage is run with
-n, -p, -y and --json, and the exit codes, the report, that -n changed
nothing, and that after -y the journal checks clean and a remount serves
every acknowledged operation are asserted.  A repair killed half-way
(SIGKILL at each step of a quarantine) is finished by running it again;
SIGINT cancels with exit 32.  A live mount's journal is refused unless
-n."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ofsrep_bin

NOAPPLY = {"OFSREP_MOUNT_OPTS": "-o noapply"}


def fsck_bin():
    return os.path.join(os.path.dirname(ofsrep_bin()), "ofsrep-fsck")


def fsck(lab, *args, env=None, timeout=120, stdin=subprocess.DEVNULL):
    return subprocess.run([fsck_bin(), *map(str, args), lab.url("b")],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=stdin, env=dict(os.environ, **(env or {})))


def jdir(lab):
    return lab.export_dir("b") / ".ofsrep" / "journal" / "1"


def tree_digest(root):
    h = hashlib.sha256()
    for dp, dns, fns in sorted(os.walk(root)):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            h.update(p.encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def restart_b(lab):
    """ganesha caches file contents: after changing them behind its
    back, start NAS b afresh."""
    lab.nas("b", "kill")
    lab.nas("b", "start")


@pytest.fixture
def journaled(lab):
    """30 acknowledged files through a noapply mount, then unmounted."""
    proc = lab.run("mount", extra_env=NOAPPLY)
    assert proc.returncode == 0
    mnt = lab.dir / "mnt"
    files = {}
    for i in range(30):
        data = os.urandom(3000 + i)
        (mnt / ("f%02d" % i)).write_bytes(data)
        files["f%02d" % i] = data
    lab.umount()
    lab.files = files
    return lab


def flip(lab, where=0.5):
    seg = sorted(jdir(lab).glob("*.seg"))[-1]
    data = bytearray(seg.read_bytes())
    data[int(len(data) * where)] ^= 0x10
    seg.write_bytes(bytes(data))
    restart_b(lab)
    return seg


def test_clean_journal(journaled):
    lab = journaled
    proc = fsck(lab, "-n")
    # nothing applied yet (noapply): -n leaves that uncorrected
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "not yet applied" in proc.stdout
    proc = fsck(lab, "-p", "-C", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Replay them: FIXED." in proc.stdout
    # -C 1: "node pass done total" lines among the messages
    assert any(l.split()[:2] == ["1", "3"] for l in proc.stdout.splitlines()
               if len(l.split()) == 4 and l.split()[0].isdigit())
    mirror = lab.export_dir("b") / ".ofsrep" / "mirror"
    for name, data in lab.files.items():
        assert (mirror / name).read_bytes() == data
    proc = fsck(lab, "-n", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    j = json.loads(proc.stdout)
    assert j["version"] == 1 and j["exit"] == 0
    (node,) = j["nodes"]
    assert node["node"] == 1 and node["end"] == "clean"
    assert node["pending"] == 0 and node["problems"] == []
    assert node["records"] >= 60 and node["checkpoint_seq"] == node["last_seq"]


def test_bit_flip_n_p_y_json(journaled):
    lab = journaled
    flip(lab)
    before = tree_digest(lab.export_dir("b"))
    proc = fsck(lab, "-n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "checksum mismatch" in proc.stdout and "? no" in proc.stdout
    assert tree_digest(lab.export_dir("b")) == before, "-n changed NAS b"
    proc = fsck(lab, "-p")
    assert proc.returncode == 4
    assert "UNEXPECTED INCONSISTENCY" in proc.stdout
    assert tree_digest(lab.export_dir("b")) == before, "-p quarantined"
    proc = fsck(lab, "-n", "--json")
    j = json.loads(proc.stdout)
    assert j["exit"] == 4 and j["nodes"][0]["end"] == "damaged"
    assert j["nodes"][0]["problems"][0]["kind"] == "damage"
    assert not j["nodes"][0]["problems"][0]["fixed"]
    proc = fsck(lab, "-y")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "set aside in /.ofsrep/quarantine/1/" in proc.stdout
    q = list((lab.export_dir("b") / ".ofsrep" / "quarantine" / "1").rglob(
        "*.bin"))
    assert len(q) == 1 and q[0].stat().st_size > 0
    proc = fsck(lab, "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # a remount continues the repaired journal and serves every
    # acknowledged file (the primary has them all); the journal stays
    # sound.  (The mirror lacks what the quarantined records made: it
    # needs the verified resync of issue 6/7, not built yet.)
    proc = lab.run("mount")
    assert proc.returncode == 0
    for name, data in lab.files.items():
        assert (lab.dir / "mnt" / name).read_bytes() == data
    lab.umount()
    j = json.loads(fsck(lab, "-n", "--json").stdout)
    assert j["nodes"][0]["end"] == "clean", j
    assert j["nodes"][0]["epochs"] == 2, j


def test_torn_tail_is_cut_by_preen(journaled):
    lab = journaled
    seg = sorted(jdir(lab).glob("*.seg"))[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[:-100])        # the last record cut short
    restart_b(lab)
    proc = fsck(lab, "-n")
    assert "did not finish" in proc.stdout and "? no" in proc.stdout
    proc = fsck(lab, "-p")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Cut them: FIXED." in proc.stdout
    assert seg.stat().st_size < len(data) - 100
    proc = fsck(lab, "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("step", ["copy", "move", "cut"])
def test_quarantine_killed_then_finished(journaled, step):
    lab = journaled
    flip(lab, 0.3)
    proc = fsck(lab, "-y", env={"OFSREP_FSCK_KILL_AFTER": step})
    assert proc.returncode == -signal.SIGKILL, proc.returncode
    restart_b(lab)                      # the killed tool's writes: fresh
    proc = fsck(lab, "-y")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    proc = fsck(lab, "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sigint_cancels(journaled):
    lab = journaled
    flip(lab)
    p = subprocess.Popen([fsck_bin(), lab.url("b")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    # interactive: it waits at the question; interrupt it there
    time.sleep(3)
    assert p.poll() is None, "it did not wait for an answer"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate("n\n", timeout=60)
    assert p.returncode & 32, (p.returncode, out, err)
    assert "Set it and everything after it aside" in out
    assert "interrupted" in out


def test_live_mount_is_refused_unless_n(lab):
    proc = lab.run("mount")
    assert proc.returncode == 0
    (lab.dir / "mnt" / "x").write_bytes(b"x")
    proc = fsck(lab, "-y")
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "in use by ofsrep pid" in proc.stdout + proc.stderr
    assert "unmount it first" in proc.stdout + proc.stderr
    proc = fsck(lab, "-n")
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    assert "checking read-only" in proc.stdout
    lab.umount()


def test_bad_usage(lab):
    for args in (["-n", "-y"], ["--json"], ["--node", "0"], ["-C", "x"],
                 ["--bogus"]):
        proc = fsck(lab, *args)
        assert proc.returncode == 16, (args, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = subprocess.run([fsck_bin(), "/nonexistent-mountpoint"],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, OFSREP_FSTAB="/dev/null"))
    assert proc.returncode == 16 and "no fuse.ofsrep line" in proc.stderr


def test_mountpoint_from_fstab(journaled, tmp_path):
    lab = journaled
    fstab = tmp_path / "fstab"
    fstab.write_text("# test\n%s %s fuse.ofsrep secondary=%s,allow_other,"
                     "_netdev 0 0\n" % (lab.url("a"), lab.dir / "mnt",
                                        lab.url("b")))
    proc = subprocess.run([fsck_bin(), "-n", str(lab.dir / "mnt")],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, OFSREP_FSTAB=str(fstab)))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "not yet applied" in proc.stdout


def test_damage_in_applied_segments_is_trimmed(lab):
    """Damage before the checkpoint is in records the mirror has applied:
    -p removes the applied segments (as the daemon's trimming would)
    instead of quarantining the records after it."""
    proc = lab.run("mount", extra_env=NOAPPLY)
    assert proc.returncode == 0
    big = os.urandom(20 << 20)            # more than one 16 MiB segment
    (lab.dir / "mnt" / "big").write_bytes(big)
    lab.umount()
    assert len(list(jdir(lab).glob("*.seg"))) >= 2
    assert fsck(lab, "-p").returncode == 1     # replay: ckpt in the last
    first = sorted(jdir(lab).glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0x10
    first.write_bytes(bytes(data))
    restart_b(lab)
    proc = fsck(lab, "-n")
    assert proc.returncode == 4 and "applied to the mirror" in proc.stdout
    proc = fsck(lab, "-p")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Remove the segments before the checkpoint's" in proc.stdout
    assert not first.exists()
    assert fsck(lab, "-n").returncode == 0
    mirror = lab.export_dir("b") / ".ofsrep" / "mirror"
    assert (mirror / "big").read_bytes() == big


def test_unreadable_lease_needs_break_lease(journaled):
    lab = journaled
    (jdir(lab) / "lease").write_bytes(b"garbage\n")
    restart_b(lab)
    proc = fsck(lab, "-y")
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "--break-lease" in proc.stdout + proc.stderr
    # a mount refuses it too
    proc = lab.run("mount", check=False)
    assert proc.returncode != 0
    proc = fsck(lab, "-y", "--break-lease")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not (jdir(lab) / "lease").exists()
    assert lab.run("mount").returncode == 0
    lab.umount()
