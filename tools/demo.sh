#!/bin/sh
# `make demo`: what ofsrep does today, on a real two-NAS lab.
#
#   1. starts two nfs-ganesha NAS boxes in network namespaces (tools/ofsrep-lab)
#   2. a raw libnfs round trip to each, to show the NAS boxes are real
#   3. mounts ofsrep over NAS a (the primary) and writes files through it
#   4. kills NAS a in the middle of a write stream and restarts it: the
#      writer freezes and continues, sees no error, and every acknowledged
#      byte is there
#   5. shows the journal on NAS b: every acknowledged mutation, checksummed
#   6. stops everything it started, also on failure
#
# The mirror applier, failover and `ofsrep status` join this demo as they
# land (docs/design.md).
set -eu
BUILD=${1:-build}
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB="$REPO/tools/ofsrep-lab"
DIR=$(mktemp -d /tmp/ofsrep-demo.XXXXXX)
chmod 755 "$DIR"
export OFSREP_BIN="$REPO/$BUILD/ofsrep"
export OFSREP_MOUNT_OPTS="-o journal"	# journal every mutation to NAS b
RAW="$REPO/$BUILD/ofsrep-rawnfs"
JOURNAL="$REPO/$BUILD/ofsrep-journal"

cleanup() {
	"$LAB" stop --dir "$DIR" >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting the lab: two nfs-ganesha NAS boxes, each in its own namespace"
eval "$("$LAB" start --dir "$DIR")"
"$LAB" status --dir "$DIR"

step "raw libnfs round trip to each NAS"
"$RAW" roundtrip "$OFSREP_PRIMARY_URL" && echo "NAS a: write, read back, compare: ok"
"$RAW" roundtrip "$OFSREP_SECONDARY_URL" && echo "NAS b: write, read back, compare: ok"

step "ofsrep mounted at $OFSREP_MNT (-o journal); writing through it"
mkdir "$OFSREP_MNT/profiles"
for u in alice bob carol; do
	mkdir "$OFSREP_MNT/profiles/$u"
	head -c 1048576 /dev/urandom >"$OFSREP_MNT/profiles/$u/ntuser.dat"
done
ls -l "$OFSREP_MNT/profiles"/*
echo "the same files on NAS a's export directory:"
ls -l "$DIR/a/export/profiles"/*

step "killing NAS a in the middle of a write stream"
/usr/bin/python3 - "$OFSREP_MNT/stream" "$LAB" "$DIR" <<'PY'
import hashlib, os, subprocess, sys, threading, time
path, lab, d = sys.argv[1:4]
acked, longest, errors = [0], [0.0], []
stop = threading.Event()
def block(i):
    return hashlib.sha256(b"%d" % i).digest() * 2048
def writer():
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    while not stop.is_set():
        t = time.monotonic()
        try:
            os.write(fd, block(acked[0]))
        except OSError as e:
            errors.append(e)
            break
        longest[0] = max(longest[0], time.monotonic() - t)
        acked[0] += 1
        time.sleep(0.005)
    os.fsync(fd)
    os.close(fd)
t = threading.Thread(target=writer)
t.start()
time.sleep(1)
print("writer running: %d blocks of 64 KiB acknowledged" % acked[0])
subprocess.run([lab, "nas", "a", "kill", "--dir", d], check=True)
print("NAS a killed (SIGKILL)")
time.sleep(2)
subprocess.run([lab, "nas", "a", "start", "--dir", d], check=True)
print("NAS a restarted")
time.sleep(1)
stop.set()
t.join()
data = open(path, "rb").read()
ok = len(data) == acked[0] * 65536 and all(
    data[i * 65536:(i + 1) * 65536] == block(i) for i in range(acked[0]))
print("acknowledged blocks: %d, errors seen by the application: %d, "
      "longest freeze: %.2f s, every acknowledged byte present: %s"
      % (acked[0], len(errors), longest[0], "yes" if ok else "NO"))
sys.exit(0 if ok and not errors else 1)
PY

step "NAS b holds the journal of every acknowledged mutation"
"$JOURNAL" check "$OFSREP_SECONDARY_URL" --node 1 -v

step "the daemon's log (syslog, also in $DIR/ofsrep.log)"
tail -n 5 "$DIR/ofsrep.log"

step "stopping the lab"
"$LAB" stop --dir "$DIR"
trap - EXIT INT TERM
rm -rf "$DIR"
echo "demo finished: nothing left running or mounted"
