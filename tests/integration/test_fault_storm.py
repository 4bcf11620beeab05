"""The fault storm (`make test-faults`; skipped by `make test`): a
verifying workload (tests/integration/verifying.py) runs through
OFSREP_FAULTS faults (default 200 with make test-faults) injected at
random instants: NAS a or b, killed, hung (SIGSTOP) or cut off, for 0.5 to
6 s, then healed.  A lost NAS b is ridden out with the local spool; a lost
NAS a fails over to the mirror, and once healed it is resynced online
and served again (fs/failback.c, failback_settle=2); half the time NAS a
is hit once more while its resync runs.  After each fault the storm waits
until the mount is healthy again (full redundancy).  Every
ROUND_FAULTS faults the round ends: unmount, then the live tree, NAS a's
export and the mirror are checked against every acknowledged operation,
and fsck --verify must find the primary and the mirror equal.

Prints a summary: faults per NAS and kind, operations acknowledged,
operations lost (must be 0), failovers and failbacks, longest freeze per
fault kind."""
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
ROUND_FAULTS = 20
STORM_OPTS = "-o failback_settle=2"
HEAL = {"kill": "start", "stop": "cont", "cut": "heal"}


def fsck2(lab, *args):
    return subprocess.run([fsck_bin(), *args, lab.url("b"), lab.url("a")],
                          capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def settle(mnt, timeout=180, until=None):
    """Until the mount is healthy again (or @until(json) holds); returns
    the last status."""
    deadline = time.monotonic() + timeout
    while True:
        rc, j, proc = status(mnt, json_out=True)
        if j and (rc == 0 or (until and until(j))):
            return j
        assert time.monotonic() < deadline, proc.stdout + proc.stderr
        time.sleep(0.2)


def mount_storm(lab):
    opts = (os.environ.get("OFSREP_MOUNT_OPTS", "") + " " +
            STORM_OPTS).strip()
    return mount_journal(lab, {"OFSREP_MOUNT_OPTS": opts})


@pytest.mark.skipif(FAULTS <= 0, reason="set OFSREP_FAULTS (make "
                    "test-faults)")
def test_fault_storm(lab):
    rng = random.Random(int(os.environ.get("OFSREP_FAULT_SEED", "1")))
    count = collections.Counter()
    freeze = collections.defaultdict(float)
    acked = lost = failovers = failbacks = rounds = faults = 0
    expected, n = {}, 0
    t_start = time.monotonic()
    mnt = mount_storm(lab)
    os.mkdir(os.path.join(mnt, "w"))
    while faults < FAULTS:
        rounds += 1
        wl = Workload(os.path.join(mnt, "w"), seed=rng.random(),
                      expected=expected, first_n=n, max_files=300)
        wl.start()
        in_round = 0
        try:
            while faults < FAULTS and in_round < ROUND_FAULTS:
                time.sleep(rng.uniform(0.3, 1.5))
                nas, kind = rng.choice("ab"), rng.choice(list(HEAL))
                hold = rng.uniform(0.5, 6.0)
                before = status(mnt, json_out=True)[1]
                t0 = time.monotonic()
                lab.nas(nas, kind)
                time.sleep(hold)
                lab.nas(nas, HEAL[kind])
                j = settle(mnt, until=lambda j: j["serving"] == "mirror")
                failed_over = (j["last_failover"] or {}).get("count", 0) > \
                    (before["last_failover"] or {}).get("count", 0)
                faults += 1
                in_round += 1
                key = "NAS %s %s%s" % (nas, kind, " (failover)"
                                       if failed_over else "")
                count[key] += 1
                freeze[key] = max(freeze[key],
                                  wl.longest_in(t0, time.monotonic()))
                if failed_over and faults < FAULTS and rng.random() < 0.5:
                    # NAS a hit again while it is being resynced
                    kind = rng.choice(list(HEAL))
                    settle(mnt, until=lambda j: j["failback"]["state"] in
                           ("copying", "in-sync"))
                    lab.nas("a", kind)
                    time.sleep(rng.uniform(0.5, 3.0))
                    lab.nas("a", HEAL[kind])
                    faults += 1
                    in_round += 1
                    count["NAS a %s (during resync)" % kind] += 1
                j = settle(mnt)
                if failed_over:
                    failovers += 1
                    assert j["serving"] == "primary", j
                    failbacks += 1
                    freeze["failback (switch)"] = max(
                        freeze["failback (switch)"],
                        j["failback"]["last_freeze_s"])
        finally:
            wl.stop()
        assert not wl.errors, wl.errors
        acked += wl.acked
        expected, n = wl.expected, wl.n
        missing, extra, wrong, _ = wl.differences(os.path.join(mnt, "w"))
        lost += len(missing) + len(wrong)
        assert not extra, extra[:8]
        lab.umount()
        proc = fsck2(lab, "-n", "--verify")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        for root in (lab.export_dir("a") / "w", mirror_dir(lab) / "w"):
            missing, extra, wrong, _ = wl.differences(root)
            lost += len(missing) + len(wrong)
            assert not (missing or extra or wrong), (root, missing[:5],
                                                     extra[:5], wrong[:5])
        if faults < FAULTS:
            mnt = mount_storm(lab)
    print("\nfault storm: %d faults in %d rounds, %.0f s" % (
        faults, rounds, time.monotonic() - t_start))
    for key in sorted(count):
        print("  %-28s %4d faults, longest freeze %.2f s" % (
            key, count[key], freeze[key]))
    print("  operations acknowledged %d, lost %d, failovers %d, failbacks "
          "%d (online resync), longest failback freeze %.2f s" % (
              acked, lost, failovers, failbacks,
              freeze["failback (switch)"]))
    assert lost == 0
