#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meta.py -- the metadata workloads of tools/bench.sh, through a mount.

    meta.py create|stat|unlink DIR COUNT

The same three loops as `ofsrep-rawnfs bench URL create|stat|unlink`, one
system call sequence at a time, so the two columns of the benchmark compare
like with like:

  create  DIR/files/fNNNNNN: open(O_CREAT|O_EXCL|O_WRONLY), write 4 KiB,
          close; DIR/files is emptied and made fresh first (not timed)
  stat    stat() each of those files
  unlink  unlink() each of those files

Prints one JSON line in ofsrep-rawnfs's format:
{"workload":..,"seconds":..,"bytes":..,"ops":..,"mib_s":..,"ops_s":..}
The per-call cost of Python (about 1 us) is far below that of a FUSE round
trip to an NFS server (100 us and more), so it does not colour the result.
Exit codes: 0 ok, 2 usage or I/O error.
"""
import json
import os
import shutil
import sys
import time

BLOCK = 4096


def path_of(files, i):
    return os.path.join(files, "f%06d" % i)


def do_create(files, count):
    buf = os.urandom(BLOCK)
    shutil.rmtree(files, ignore_errors=True)
    os.mkdir(files)
    t0 = time.monotonic()
    for i in range(count):
        fd = os.open(path_of(files, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     0o644)
        try:
            if os.write(fd, buf) != BLOCK:
                raise OSError("short write to %s" % path_of(files, i))
        finally:
            os.close(fd)
    return time.monotonic() - t0, count * BLOCK


def do_stat(files, count):
    t0 = time.monotonic()
    for i in range(count):
        os.stat(path_of(files, i))
    return time.monotonic() - t0, 0


def do_unlink(files, count):
    t0 = time.monotonic()
    for i in range(count):
        os.unlink(path_of(files, i))
    return time.monotonic() - t0, 0


WORKLOADS = {"create": do_create, "stat": do_stat, "unlink": do_unlink}


def main(argv):
    if len(argv) != 4 or argv[1] not in WORKLOADS or not argv[3].isdigit():
        print("usage: meta.py create|stat|unlink DIR COUNT", file=sys.stderr)
        return 2
    name, files, count = argv[1], os.path.join(argv[2], "files"), int(argv[3])
    try:
        secs, nbytes = WORKLOADS[name](files, count)
    except OSError as e:
        print("meta.py: %s: %s" % (name, e), file=sys.stderr)
        return 2
    s = max(secs, 1e-9)
    print(json.dumps({"workload": name, "seconds": round(secs, 6),
                      "bytes": nbytes, "ops": count,
                      "mib_s": round(nbytes / 2**20 / s, 2),
                      "ops_s": round(count / s, 1)}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
