#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""freeze.py -- the failover-freeze writer of tools/bench.sh.

    freeze.py DIR SECONDS

Writes 4 KiB at the next offset of DIR/freeze.dat and fsyncs it, in a loop,
for SECONDS seconds (the bench kills or stops a NAS meanwhile), and records
the largest gap between two completed write+fsync pairs: the longest stall
an application saw.  A failed write or fsync is counted, the file reopened
and the loop goes on; the gap is measured between successes, so errors
extend it.  Prints one JSON line:
{"workload":"freeze","seconds":max_gap,"ops":N,"errors":E,"bytes":..}
("seconds" is the stall, so report.py reads it like the other records).
Exit 0 unless it could not start (bad arguments, DIR not writable: 2).
"""
import json
import os
import sys
import time

BLOCK = 4096


def main(argv):
    if len(argv) != 3:
        print("usage: freeze.py DIR SECONDS", file=sys.stderr)
        return 2
    path, dur = os.path.join(argv[1], "freeze.dat"), float(argv[2])
    buf = os.urandom(BLOCK)
    try:
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
    except OSError as e:
        print("freeze.py: cannot open %s: %s" % (path, e), file=sys.stderr)
        return 2
    t0 = last = time.monotonic()
    gap, ops, errors, first_err, off = 0.0, 0, 0, "", 0
    while True:
        now = time.monotonic()
        if now - t0 >= dur:
            break
        try:
            if fd < 0:
                fd = os.open(path, os.O_WRONLY)
            os.pwrite(fd, buf, off)
            os.fsync(fd)
            off = (off + BLOCK) % (64 << 20)
            ops += 1
            now = time.monotonic()
            gap = max(gap, now - last)
            last = now
        except OSError as e:
            errors += 1
            first_err = first_err or str(e)
            try:
                os.close(fd)
            except OSError:
                pass
            fd = -1
            time.sleep(0.01)
    gap = max(gap, time.monotonic() - last)   # still stalled at the end
    print(json.dumps({"workload": "freeze", "seconds": round(gap, 4),
                      "bytes": ops * BLOCK, "ops": ops, "errors": errors,
                      "first_error": first_err}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
