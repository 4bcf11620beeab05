"""The random-operation verifier (randomops.py) against the mount, and the
verifier's own checks.

test_random_ops_match_local_reference runs a seeded random mix of operations
on mnt.path and on a local reference directory and fails on the first
divergence, printing the seed, the step and a command that replays it.
`make test` runs 2000 operations for each of 3 fixed seeds; with
OFSREP_LONG=1 it runs 50000 for 3 other fixed seeds and one random seed
(printed in the test id).  Overrides: OFSREP_RANDOMOPS_SEEDS=1,2,
OFSREP_RANDOMOPS_OPS=N, OFSREP_RANDOMOPS_DISABLE=chown,utime (operation
kinds to leave out while a known divergence is being fixed).

The test_verifier_* tests need no mount: they run the verifier on two local
directories and prove it agrees when it should, replays a seed exactly, and
catches a changed byte, mode, mtime or a vanished entry on one side.
"""

import os
import random
import shutil
import subprocess
import sys

import pytest

import randomops

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = os.environ.get("OFSREP_LONG") == "1"


def _seeds():
    env = os.environ.get("OFSREP_RANDOMOPS_SEEDS")
    if env:
        return [int(s) for s in env.split(",") if s.strip()]
    if LONG:
        return [11, 12, 13, random.SystemRandom().randrange(1 << 31)]
    return [1, 2, 3]


OPS = int(os.environ.get("OFSREP_RANDOMOPS_OPS") or (50000 if LONG else 2000))
DISABLED = [k for k in os.environ.get("OFSREP_RANDOMOPS_DISABLE", "").split(",") if k]


@pytest.mark.parametrize("seed", _seeds())
def test_random_ops_match_local_reference(mnt_shared, tmp_path, seed):
    unknown = set(DISABLED) - set(randomops.ALL_OPS)
    assert not unknown, "OFSREP_RANDOMOPS_DISABLE names unknown kinds %s" % unknown
    ref = tmp_path / "ref"
    ref.mkdir()
    try:
        res = randomops.run(os.fspath(mnt_shared.path), os.fspath(ref), seed, OPS,
                            disabled=DISABLED)
    except randomops.Divergence as e:
        pytest.fail(str(e), pytrace=False)
    assert res.steps == OPS
    assert res.checks == -(-OPS // randomops.CHECK_EVERY)
    assert os.listdir(ref) == []


# --------------------------------------------------------------------------
# the verifier itself, on two local directories
# --------------------------------------------------------------------------

@pytest.fixture
def pair(tmp_path):
    a, b = tmp_path / "mount", tmp_path / "ref"
    a.mkdir()
    b.mkdir()
    return os.fspath(a), os.fspath(b)


def test_verifier_agrees_on_identical_filesystems_and_uses_every_op(pair):
    res = randomops.run(pair[0], pair[1], seed=5, ops=1500)
    assert res.steps == 1500 and res.checks == 30
    assert set(res.op_counts) == set(randomops.ALL_OPS)
    assert os.listdir(pair[0]) == [] and os.listdir(pair[1]) == []


def test_verifier_replays_a_seed_exactly(pair):
    h1 = randomops.run(*pair, seed=9, ops=400, keep_history=True).history
    h2 = randomops.run(*pair, seed=9, ops=400, keep_history=True).history
    h3 = randomops.run(*pair, seed=10, ops=400, keep_history=True).history
    assert h1 == h2
    assert h1 != h3
    assert len(h1) == 400


def test_verifier_respects_disabled_kinds(pair):
    res = randomops.run(*pair, seed=4, ops=600, disabled=("rename", "chown"))
    assert "rename" not in res.op_counts and "chown" not in res.op_counts
    assert res.op_counts.get("write", 0) > 0


def _divergence(pair, seed, ops, hook, check_every=randomops.CHECK_EVERY):
    with pytest.raises(randomops.Divergence) as ei:
        randomops.run(*pair, seed=seed, ops=ops, on_step=hook,
                      check_every=check_every)
    msg = str(ei.value)
    assert "seed %d," % seed in msg
    assert "reproduce: python3 %s" % os.path.join(HERE, "randomops.py") in msg
    return msg


def _once(pred_action, after=40):
    """on_step hook: from step `after` on, apply an action to the first
    entry that qualifies, once."""
    done = []

    def hook(eng):
        if done or eng.step < after:
            return
        for rel, (kind, _, _) in sorted(eng.scan().items()):
            if pred_action(eng, rel, kind):
                done.append((eng.step, rel))
                return
    hook.done = done
    return hook


def test_verifier_catches_a_changed_byte(pair):
    def flip(eng, rel, kind):
        p = eng.mount.p(rel)
        if kind != "file" or os.path.getsize(p) == 0:
            return False
        with open(p, "r+b") as f:
            b = f.read(1)
            f.seek(0)
            f.write(bytes([b[0] ^ 1]))
        return True
    hook = _once(flip)
    msg = _divergence(pair, 3, 2000, hook, check_every=1)
    step, rel = hook.done[0]
    assert "step %d of" % step in msg, msg
    assert "%r: content mount" % rel in msg, msg


def test_verifier_catches_a_changed_mode(pair):
    def chmod(eng, rel, kind):
        if kind not in ("file", "dir"):
            return False
        p = eng.mount.p(rel)
        os.chmod(p, os.stat(p).st_mode & 0o7777 ^ 0o001)
        return True
    hook = _once(chmod)
    msg = _divergence(pair, 6, 2000, hook, check_every=1)
    step, rel = hook.done[0]
    assert "step %d of" % step in msg and repr(rel) in msg, msg


def test_verifier_catches_a_changed_explicit_mtime(pair):
    def touch(eng, rel, kind):
        st = os.lstat(eng.ref.p(rel))
        if kind == "link" or st.st_mtime_ns not in eng.set_mtimes:
            return False
        os.utime(eng.mount.p(rel), ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
        return True
    hook = _once(touch)
    msg = _divergence(pair, 8, 2000, hook, check_every=1)
    assert hook.done and "mtime set by utime" in msg, msg


def test_verifier_catches_a_vanished_tree_at_the_next_operation(pair):
    def wipe(eng):
        if eng.step == 60:
            for n in os.listdir(eng.mount.root):
                p = eng.mount.p(n)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
    msg = _divergence(pair, 2, 2000, wipe)
    # caught by an operation's outcome or its per-step lstat, before the
    # checkpoint at step 100
    assert "trees differ" not in msg, msg
    step = int(msg.split("step ")[1].split()[0])
    assert 60 < step < 100, msg


def test_verifier_catches_a_split_hard_link(pair):
    def split(eng, rel, kind):
        p = eng.mount.p(rel)
        if kind != "file" or os.lstat(p).st_nlink < 2:
            return False
        st = os.lstat(p)
        tmp = p + ".tmp"
        shutil.copy2(p, tmp)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.rename(tmp, p)
        return True
    hook = _once(split)
    msg = _divergence(pair, 1, 3000, hook, check_every=1)
    assert hook.done, "no hard link appeared in the run"
    assert repr(hook.done[0][1]) in msg, msg


# --------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, os.path.join(HERE, "randomops.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_clean_run_exits_0(pair):
    p = _cli("--mount", pair[0], "--ref", pair[1], "--seed", "21", "--ops", "300")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "seed 21" in p.stdout and "300 operations" in p.stdout
    assert "no divergence" in p.stdout
    assert os.listdir(pair[0]) == [] and os.listdir(pair[1]) == []


def test_cli_divergence_exits_1_with_seed_step_and_reproduce_line(pair):
    p = _cli("--mount", pair[0], "--ref", pair[1], "--seed", "5", "--ops", "400",
             "--self-test-corrupt-at", "130")
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert "DIVERGENCE" in out and "seed 5, step 150 of 400" in out, out
    assert "steps 101..150" in out, out
    line = [l for l in out.splitlines() if "reproduce:" in l][0]
    assert line.strip().startswith("reproduce: python3 ") and \
        line.endswith("--seed 5 --ops 150"), line
    # the work directories are kept for inspection
    assert len(os.listdir(pair[0])) == 1 and len(os.listdir(pair[1])) == 1


def test_cli_usage_errors_exit_2(tmp_path):
    p = _cli("--mount", os.fspath(tmp_path / "missing"), "--seed", "1")
    assert p.returncode == 2 and "not a directory" in p.stderr
    p = _cli("--mount", os.fspath(tmp_path), "--disable", "nosuchop")
    assert p.returncode == 2
