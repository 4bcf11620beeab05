"""ofsrep-fsck pass 4 (tools/fsck/trees.c, replica/treesync.c) on a real
lab: --verify reports each difference between the primary and the
mirror, --resync=mirror and --resync=primary make them equal, and the
split-brain guard left by a failover is reported, then lifted by
--resync=primary so that the pair mounts again with nothing lost."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_failover import stale_marker  # noqa: E402
from test_fsck import fsck_bin  # noqa: E402
from test_journal_mirror import (assert_mirror_equals_primary,  # noqa: E402
                                 mirror_dir)
from test_journal_mode import mount_journal  # noqa: E402
from test_status import status  # noqa: E402


def fsck2(lab, *args, timeout=300):
    return subprocess.run([fsck_bin(), *map(str, args), lab.url("b"),
                           lab.url("a")], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def restart(lab, nas):
    """ganesha caches attributes and names: after changing an export
    behind its back, start that NAS afresh."""
    lab.nas(nas, "kill")
    lab.nas(nas, "start")


def populated(lab):
    mnt = mount_journal(lab)
    os.makedirs(os.path.join(mnt, "d/e"))
    with open(os.path.join(mnt, "d/f"), "wb") as f:
        f.write(os.urandom(300000))
    os.link(os.path.join(mnt, "d/f"), os.path.join(mnt, "d/hard"))
    os.symlink("f", os.path.join(mnt, "d/l"))
    with open(os.path.join(mnt, "d/e/g"), "wb") as f:
        f.write(b"g" * 5000)
    os.mkfifo(os.path.join(mnt, "fifo"))
    lab.umount()
    return mnt


def test_verify_finds_each_difference_and_resync_mirror_repairs(lab):
    populated(lab)
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 differences" in proc.stdout
    a = lab.export_dir("a")
    with open(a / "d/e/g", "r+b") as f:          # same size, one byte
        f.seek(4000)
        f.write(b"X")
    os.chmod(a / "d/f", 0o600)
    (a / "only-on-a").write_bytes(b"new")
    os.unlink(a / "d/l")
    os.symlink("elsewhere", a / "d/l")
    restart(lab, "a")
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    out = proc.stdout
    assert "d/e/g: content differs from byte 4000" in out, out
    assert "d/f: mode 0600 / 0644" in out, out
    assert "only-on-a: missing in the destination" in out, out
    assert "d/l: symlink target 'elsewhere' / 'f'" in out, out
    # the new symlink moved d's mtime on a (the root's is not compared)
    assert re.search(r"\bd: directory mtime \d+\.\d{9} / \d+\.\d{9}",
                     out), out
    assert "5 differences" in out, out
    proc = fsck2(lab, "-n", "--verify", "--json")
    assert proc.returncode == 4
    # resync needs an answer: -y
    proc = fsck2(lab, "-y", "--resync=mirror")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "5 made equal" in proc.stdout, proc.stdout
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restart(lab, "b")
    assert_mirror_equals_primary(lab)
    assert os.stat(mirror_dir(lab) / "d/hard").st_ino == \
        os.stat(mirror_dir(lab) / "d/f").st_ino


def test_failover_then_resync_primary_lifts_the_guard(lab):
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "before"), "wb") as f:
        f.write(b"1")
    with open(os.path.join(mnt, "gone"), "wb") as f:
        f.write(b"2")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "after"), "wb") as f:
        f.write(b"written on the mirror")
    os.unlink(os.path.join(mnt, "gone"))
    os.mkdir(os.path.join(mnt, "newdir"))
    assert status(mnt, json_out=True)[1]["serving"] == "mirror"
    marker = stale_marker(lab)
    assert marker.exists()
    lab.umount()
    lab.nas("a", "start")
    # the guard: reported by a plain check, and a mount that may not
    # resync the primary itself (failover=off) refuses
    proc = fsck2(lab, "-n")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "split_brain" in proc.stdout and "--resync=primary" in \
        proc.stdout, proc.stdout
    assert lab.run("mount", check=False, extra_env={
        "OFSREP_MOUNT_OPTS": "-o failover=off"}).returncode != 0
    proc = fsck2(lab, "-y", "--resync=primary")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "split-brain guard is lifted" in proc.stdout, proc.stdout
    assert not marker.exists()
    mnt = mount_journal(lab)
    assert open(os.path.join(mnt, "after"), "rb").read() == \
        b"written on the mirror"
    assert not os.path.exists(os.path.join(mnt, "gone"))
    assert os.path.isdir(os.path.join(mnt, "newdir"))
    assert status(mnt)[0] == 0
    lab.umount()
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_resync_mirror_after_a_spool_overflow(lab):
    mnt = mount_journal(lab, {"OFSREP_MOUNT_OPTS": "-o spool_max=1"})
    lab.nas("b", "kill")
    with open(os.path.join(mnt, "big"), "wb") as f:
        for _ in range(40):
            f.write(os.urandom(65536))
    j = status(mnt, json_out=True)[1]
    assert j["exports"][1]["state"] == "stale", j
    spool = j["exports"][1]["spool"]["path"]
    # Unmounted before the secondary answers again: a mounted daemon
    # resyncs the mirror itself as soon as it does (fs/reattach.c), and
    # this test is about the offline repair.
    lab.umount()
    lab.nas("b", "start")
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4 and "big" in proc.stdout, proc.stdout
    proc = fsck2(lab, "-y", "--resync=mirror", "--spool=%s" %
                 os.path.dirname(spool))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not os.path.exists(spool)
    assert [n for n in os.listdir(os.path.dirname(spool))
            if ".resynced-" in n], "the overflowed spool was not kept"
    mnt = mount_journal(lab)
    rc, j, _ = status(mnt, json_out=True)
    assert j["exports"][1]["state"] == "up", j
    with open(os.path.join(mnt, "later"), "wb") as f:
        f.write(b"replicated again")
    lab.umount()
    restart(lab, "b")
    assert_mirror_equals_primary(lab)


def test_pass4_usage_errors(lab):
    for args, words in ((["-n", "--resync=mirror"], "-n only reads"),
                        (["-p", "--resync=primary"], "not safe repairs"),
                        (["-y", "--resync=sideways"], "--resync wants")):
        proc = fsck2(lab, *args)
        assert proc.returncode == 16, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and \
            words in proc.stderr, (args, proc.stderr)
    proc = subprocess.run([fsck_bin(), "-n", "--verify", lab.url("b")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 16 and "PRIMARY_URL" in proc.stderr


def tree_state(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        for name in dns + fns:
            p = os.path.join(dp, name)
            st = os.lstat(p)
            data = open(p, "rb").read() if os.path.isfile(p) and \
                not os.path.islink(p) else None
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, data)
    return out


def split_brain(lab):
    """Failover, a file only the mirror has, NAS a back: the guard set."""
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "both"), "wb") as f:
        f.write(b"before the failover")
    lab.nas("a", "kill")
    with open(os.path.join(mnt, "mirror-only"), "wb") as f:
        f.write(b"after the failover")
    marker = stale_marker(lab)
    assert marker.exists()      # the write above came after the switch
    lab.umount()
    lab.nas("a", "start")
    return marker


def test_split_brain_reported_by_n_p_json_and_kept_primary_on_purpose(lab):
    import json
    marker = split_brain(lab)
    before = (tree_state(lab.export_dir("a")),
              tree_state(lab.export_dir("b")))
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "mirror-only: only in the destination" in proc.stdout
    assert "split_brain" in proc.stdout
    proc = fsck2(lab, "-p")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    proc = fsck2(lab, "-n", "--verify", "--json")
    assert proc.returncode == 4
    node = json.loads(proc.stdout)["nodes"][0]
    assert "mirror-only: only in the destination" in node["differences"]
    assert any(p["kind"] == "split_brain" and not p["fixed"]
               for p in node["problems"]), node
    # -n and -p changed nothing
    assert (tree_state(lab.export_dir("a")),
            tree_state(lab.export_dir("b"))) == before
    assert marker.exists()
    # keeping the primary needs saying so
    proc = fsck2(lab, "-y", "--resync=mirror")
    assert proc.returncode == 4 and "--keep=primary" in proc.stdout, \
        proc.stdout
    proc = fsck2(lab, "-y", "--keep=primary")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not marker.exists()
    assert fsck2(lab, "-n", "--verify").returncode == 0
    mnt = mount_journal(lab)
    assert sorted(os.listdir(mnt)) == ["both"]
    assert status(mnt)[0] == 0


def test_resync_interrupted_by_sigint_and_sigkill_then_finished(lab):
    import signal
    mnt = mount_journal(lab)
    lab.nas("a", "kill")
    for i in range(1500):              # made on the mirror after failover
        with open(os.path.join(mnt, "f%04d" % i), "wb") as f:
            f.write(os.urandom(4000))
    lab.umount()
    lab.nas("a", "start")
    for sig in (signal.SIGINT, signal.SIGKILL):
        p = subprocess.Popen([fsck_bin(), "-y", "--resync=primary",
                              lab.url("b"), lab.url("a")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        seen = []
        for line in p.stdout:          # interrupt pass 4 once it runs
            seen.append(line)
            if "pass 4" in line:
                break
        time.sleep(0.3)
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        out = "".join(seen) + out
        if sig == signal.SIGINT:
            assert p.returncode & 32, (p.returncode, out, err)
    copied = len(os.listdir(lab.export_dir("a")))
    assert copied < 1500, "the resync was not interrupted; make it longer"
    proc = fsck2(lab, "-y", "--resync=primary")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fsck2(lab, "-n", "--verify").returncode == 0
    assert len([n for n in os.listdir(lab.export_dir("a"))
                if n.startswith("f")]) == 1500


def test_resync_keeps_other_names_of_a_destination_hard_link(lab):
    """On the stale primary a and b are one object; after the failover b
    became a file of its own on the mirror.  The resync must not rewrite
    the shared object (a would change too)."""
    mnt = mount_journal(lab)
    with open(os.path.join(mnt, "a"), "wb") as f:
        f.write(b"old shared bytes")
    os.link(os.path.join(mnt, "a"), os.path.join(mnt, "b"))
    lab.nas("a", "kill")
    os.unlink(os.path.join(mnt, "b"))
    with open(os.path.join(mnt, "b"), "wb") as f:
        f.write(b"b on its own now")
    lab.umount()
    lab.nas("a", "start")
    proc = fsck2(lab, "-y", "--resync=primary")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fsck2(lab, "-n", "--verify").returncode == 0
    a = lab.export_dir("a")
    assert (a / "a").read_bytes() == b"old shared bytes"
    assert (a / "b").read_bytes() == b"b on its own now"
    assert os.stat(a / "a").st_ino != os.stat(a / "b").st_ino


def test_interactive_resync_asks_per_object_after_the_report(lab):
    """Without -y, -n or -p: every difference is shown first, then one
    question per object naming it and the damage; only the objects
    answered yes change, and the exit code says both (1 | 4)."""
    populated(lab)
    a = lab.export_dir("a")
    (a / "only-on-a").write_bytes(b"new")          # missing in the mirror
    os.chmod(a / "d/f", 0o600)                     # mode differs
    with open(a / "d/e/g", "r+b") as f:            # content differs
        f.write(b"Z")
    restart(lab, "a")
    p = subprocess.run([fsck_bin(), "--resync=mirror", lab.url("b"),
                        lab.url("a")], input="y\nn\ny\n", text=True,
                       capture_output=True, timeout=300)
    out = p.stdout
    assert p.returncode == 1 | 4, (p.returncode, out, p.stderr)
    report = out.index("d/e/g: content differs from byte 0")
    # (the answers come from a pipe: no echo, so no line ends after them)
    asked = re.findall(r"Node 1: ([^:\n]+): [^?\n]*\.  Make it as in the "
                       r"primary\? <y>", out)
    assert asked == ["d/e/g", "d/f", "only-on-a"], out
    assert report < out.index("Make it as in the primary"), \
        "asked before the report"
    assert "mode 0600 / 0644.  Make it as in the primary" in out, out
    assert "1 of 3 differing objects kept as they were" in out, out
    proc = fsck2(lab, "-n", "--verify")
    assert proc.returncode == 4 and "1 differences" in proc.stdout, \
        proc.stdout
    assert "d/f: mode 0600 / 0644" in proc.stdout, proc.stdout
    assert (mirror_dir(lab) / "only-on-a").read_bytes() == b"new"
    assert (mirror_dir(lab) / "d/e/g").read_bytes()[:1] == b"Z"


def test_a_directory_question_says_it_covers_the_whole_tree(lab):
    """One answer decides for a missing directory and everything in it:
    the question says so, "no" leaves the whole tree out, "yes" brings
    all of it."""
    populated(lab)
    a = lab.export_dir("a")
    (a / "new-dir/sub").mkdir(parents=True)
    (a / "new-dir/sub/file").write_bytes(b"deep")
    (a / "new-dir/top").write_bytes(b"top")
    restart(lab, "a")

    def resync(answer):
        return subprocess.run([fsck_bin(), "--resync=mirror", lab.url("b"),
                               lab.url("a")], input=answer, text=True,
                              capture_output=True, timeout=300)
    p = resync("n\n")
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
    assert re.search(r"new-dir: missing in the destination, with everything "
                     r"in it\.  Make it as in the primary\? <y>", p.stdout), \
        p.stdout
    assert len(re.findall(r"Make it as in", p.stdout)) == 1, p.stdout
    assert not (mirror_dir(lab) / "new-dir").exists()
    p = resync("y\n")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert (mirror_dir(lab) / "new-dir/sub/file").read_bytes() == b"deep"
    assert (mirror_dir(lab) / "new-dir/top").read_bytes() == b"top"
    assert fsck2(lab, "-n", "--verify").returncode == 0
