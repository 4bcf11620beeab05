#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meta.py -- the metadata workloads of tools/bench.sh, through a mount.

    meta.py create|createfsync|stat|unlink|office DIR COUNT

The same three loops as `ofsrep-rawnfs bench URL create|stat|unlink`, one
system call sequence at a time, so the two columns of the benchmark compare
like with like:

  create  DIR/files/fNNNNNN: open(O_CREAT|O_EXCL|O_WRONLY), write 4 KiB,
          close; DIR/files is emptied and made fresh first (not timed)
  stat    stat() each of those files
  unlink  unlink() each of those files
  createfsync  as create, with fsync() before close (DIR/files-sync;
          not run by ofsrep-rawnfs: mounted systems only)
  office  a small-file office mix in DIR/office (fresh, not timed), COUNT
          rounds over 20 directories: create + write 1-32 KiB + close, stat,
          read it back; every 3rd round rename an older file, every 4th
          delete one, every 10th list a directory.  ops = system calls of
          the mix that touch metadata (open/stat/rename/unlink/listdir)

Prints one JSON line in ofsrep-rawnfs's format:
{"workload":..,"seconds":..,"bytes":..,"ops":..,"mib_s":..,"ops_s":..}
The per-call cost of Python (about 1 us) is far below that of a FUSE round
trip to an NFS server (100 us and more), so it does not colour the result.
Exit codes: 0 ok, 2 usage or I/O error.
"""
import json
import os
import random
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


def do_createfsync(files, count):
    files = files + "-sync"
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
            os.fsync(fd)
        finally:
            os.close(fd)
    elapsed = time.monotonic() - t0
    shutil.rmtree(files, ignore_errors=True)
    return elapsed, count * BLOCK


def do_office(files, count):
    top = os.path.join(os.path.dirname(files), "office")
    shutil.rmtree(top, ignore_errors=True)
    os.mkdir(top)
    dirs = [os.path.join(top, "d%02d" % d) for d in range(20)]
    for d in dirs:
        os.mkdir(d)
    rnd = random.Random(42)
    data = os.urandom(32768)
    live, ops, nbytes = [], 0, 0
    t0 = time.monotonic()
    for i in range(count):
        p = os.path.join(dirs[i % 20], "doc%06d.txt" % i)
        n = rnd.randint(1, 32) * 1024
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, data[:n])
        finally:
            os.close(fd)
        os.stat(p)
        with open(p, "rb") as f:
            f.read()
        ops += 3
        nbytes += 2 * n
        live.append(p)
        if i % 3 == 2 and live:
            j = rnd.randrange(len(live))
            q = live[j] + ".bak"
            os.rename(live[j], q)
            live[j] = q
            ops += 1
        if i % 4 == 3 and len(live) > 1:
            os.unlink(live.pop(rnd.randrange(len(live) - 1)))
            ops += 1
        if i % 10 == 9:
            os.listdir(dirs[rnd.randrange(20)])
            ops += 1
    elapsed = time.monotonic() - t0
    shutil.rmtree(top, ignore_errors=True)
    return elapsed, nbytes, ops


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


WORKLOADS = {"create": do_create, "createfsync": do_createfsync,
             "stat": do_stat, "unlink": do_unlink, "office": do_office}


def main(argv):
    if len(argv) != 4 or argv[1] not in WORKLOADS or not argv[3].isdigit():
        print("usage: meta.py create|createfsync|stat|unlink|office DIR "
              "COUNT", file=sys.stderr)
        return 2
    name, files, count = argv[1], os.path.join(argv[2], "files"), int(argv[3])
    try:
        res = WORKLOADS[name](files, count)
    except OSError as e:
        print("meta.py: %s: %s" % (name, e), file=sys.stderr)
        return 2
    secs, nbytes = res[0], res[1]
    ops = res[2] if len(res) > 2 else count
    s = max(secs, 1e-9)
    print(json.dumps({"workload": name, "seconds": round(secs, 6),
                      "bytes": nbytes, "ops": ops,
                      "mib_s": round(nbytes / 2**20 / s, 2),
                      "ops_s": round(ops / s, 1)}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
