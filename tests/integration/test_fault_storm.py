"""The fault storm (`make test-faults`; skipped by `make test`): a
verifying workload (tests/integration/verifying.py) runs through
OFSREP_FAULTS faults (default 200 with make test-faults) injected at
random instants: NAS a or b, killed, hung (SIGSTOP) or cut off, for 0.5 to
6 s, then healed.  A lost NAS b is ridden out with the local spool; a lost
NAS a fails over to the mirror, after which the round ends: unmount,
`ofsrep-fsck -y --resync=primary` brings NAS a back, and the next round
mounts again.  After every round the live tree, NAS a's export and the
mirror are checked against every acknowledged operation, and fsck
--verify must find the primary and the mirror equal.

Prints a summary: faults per NAS and kind, operations acknowledged,
operations lost (must be 0), failovers, longest freeze per fault kind."""
import collections
import os
import random
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_fsck import fsck_bin  # noqa: E402
from test_journal_mirror import mirror_dir  # noqa: E402
from test_journal_mode import mount_journal  # noqa: E402
from test_status import status  # noqa: E402
from verifying import Workload  # noqa: E402

FAULTS = int(os.environ.get("OFSREP_FAULTS", "0"))
HEAL = {"kill": "start", "stop": "cont", "cut": "heal"}


def fsck2(lab, *args):
    return subprocess.run([fsck_bin(), *args, lab.url("b"), lab.url("a")],
                          capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def settle(mnt, timeout=120):
    """Until the mount is healthy again, or serves from the mirror."""
    deadline = time.monotonic() + timeout
    while True:
        rc, j, proc = status(mnt, json_out=True)
        if j and (rc == 0 or j["serving"] == "mirror"):
            return j["serving"]
        assert time.monotonic() < deadline, proc.stdout + proc.stderr
        time.sleep(0.2)


@pytest.mark.skipif(FAULTS <= 0, reason="set OFSREP_FAULTS (make "
                    "test-faults)")
def test_fault_storm(lab):
    rng = random.Random(int(os.environ.get("OFSREP_FAULT_SEED", "1")))
    count = collections.Counter()
    freeze = collections.defaultdict(float)
    acked = lost = failovers = rounds = faults = 0
    expected, n = {}, 0
    t_start = time.monotonic()
    mnt = mount_journal(lab)
    os.mkdir(os.path.join(mnt, "w"))
    while faults < FAULTS:
        rounds += 1
        wl = Workload(os.path.join(mnt, "w"), seed=rng.random(),
                      expected=expected, first_n=n, max_files=300)
        wl.start()
        failed_over = False
        try:
            while faults < FAULTS and not failed_over:
                time.sleep(rng.uniform(0.3, 1.5))
                nas, kind = rng.choice("ab"), rng.choice(list(HEAL))
                hold = rng.uniform(0.5, 6.0)
                t0 = time.monotonic()
                lab.nas(nas, kind)
                time.sleep(hold)
                lab.nas(nas, HEAL[kind])
                failed_over = settle(mnt) == "mirror"
                faults += 1
                key = "NAS %s %s%s" % (nas, kind, " (failover)"
                                       if failed_over else "")
                count[key] += 1
                freeze[key] = max(freeze[key],
                                  wl.longest_in(t0, time.monotonic()))
        finally:
            wl.stop()
        assert not wl.errors, wl.errors
        acked += wl.acked
        expected, n = wl.expected, wl.n
        missing, extra, wrong, _ = wl.differences(os.path.join(mnt, "w"))
        lost += len(missing) + len(wrong)
        assert not extra, extra[:8]
        lab.umount()
        if failed_over:
            failovers += 1
            proc = fsck2(lab, "-y", "--resync=primary")
            assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        proc = fsck2(lab, "-n", "--verify")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        for root in (lab.export_dir("a") / "w", mirror_dir(lab) / "w"):
            missing, extra, wrong, _ = wl.differences(root)
            lost += len(missing) + len(wrong)
            assert not (missing or extra or wrong), (root, missing[:5],
                                                     extra[:5], wrong[:5])
        if faults < FAULTS:
            mnt = mount_journal(lab)
    print("\nfault storm: %d faults in %d rounds, %.0f s" % (
        faults, rounds, time.monotonic() - t_start))
    for key in sorted(count):
        print("  %-28s %4d faults, longest freeze %.2f s" % (
            key, count[key], freeze[key]))
    print("  operations acknowledged %d, lost %d, failovers %d (each "
          "followed by ofsrep-fsck --resync=primary)" % (acked, lost,
                                                          failovers))
    assert lost == 0
