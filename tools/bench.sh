#!/bin/bash
# bench.sh — the data-path benchmark: ofsrep against a raw libnfs client.
#
#   make bench                  # full: 5 repetitions, 10000 files
#   make bench QUICK=1          # quick: 3 repetitions, 2000 files
#   tools/bench.sh [BUILD_DIR]  # the same without the build (default build)
#
# Starts its own two-NAS lab (tools/ofsrep-lab, NAS b unused) in a fresh
# directory under /tmp, and in one run measures side by side, against the
# same export of NAS a:
#   raw     build/ofsrep-rawnfs bench: one synchronous libnfs context
#   ofsrep  the daemon mounted with -o primary_only (the current data path),
#           driven by fio (tools/bench/*.fio) and tools/bench/meta.py
# Workloads, in this order per repetition: seqwrite, seqread, seqread_warm,
# randwrite4k, randwrite4k_16, create, stat, unlink (docs/benchmarks.md
# explains each).  Before every measured run but seqread_warm: sync and drop
# the page, dentry and inode caches (one machine: client and server caches
# both).  The two systems alternate who goes first in each repetition.  For
# the ofsrep runs the daemon's CPU time (utime+stime, /proc/PID/stat) and
# peak RSS (VmHWM, reset through clear_refs before each run) are recorded.
#
# Output in bench/results/: latest.md (table), latest.csv, latest-runs.csv
# (every run), latest.png (grouped bars), plus the daemon log.  A benchmark
# reports and never asserts timings: exit 0 unless something failed (a
# workload erred, the lab or the mount did not come up).  Everything it
# started — the lab, the mount, the daemon — is stopped on exit.
#
# Environment (all optional):
#   QUICK=1              quick variant
#   BENCH_REPS           repetitions (5, quick 3)
#   BENCH_FILES          files for create/stat/unlink (10000, quick 2000)
#   BENCH_SIZE           sequential file size, fio/rawnfs syntax (1g)
#   BENCH_RAND_IOS       4 KiB random writes per run (20000)
#   BENCH_JOBS           jobs of the parallel random-write run (16)
#   BENCH_WORKLOADS      a subset, in the order above (the reads and random
#                        writes need seqwrite; stat and unlink need create)
#   BENCH_MOUNT_OPTS     extra -o options for ofsrep (e.g. wb_max=256)
#   BENCH_OUT            result directory (bench/results)
#   BENCH_TIMEOUT        seconds any one run may take before it is killed (600)
set -euo pipefail

PROG=bench.sh
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$REPO/$BUILD
PY=/usr/bin/python3
BENCHDIR=$REPO/tools/bench

if [[ -n ${QUICK:-} && ${QUICK:-0} != 0 ]]; then
	VARIANT=quick
	REPS=${BENCH_REPS:-3}
	NFILES=${BENCH_FILES:-2000}
else
	VARIANT=full
	REPS=${BENCH_REPS:-5}
	NFILES=${BENCH_FILES:-10000}
fi
SIZE=${BENCH_SIZE:-1g}
RAND_IOS=${BENCH_RAND_IOS:-20000}
JOBS=${BENCH_JOBS:-16}
MOUNT_OPTS=${BENCH_MOUNT_OPTS:-}
OUT=${BENCH_OUT:-$REPO/bench/results}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
ALL_WORKLOADS="seqwrite seqread seqread_warm randwrite4k randwrite4k_16 create stat unlink"
read -r -a WORKLOADS <<<"${BENCH_WORKLOADS:-$ALL_WORKLOADS}"

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }
now_us() { echo "${EPOCHREALTIME/./}"; }

# ---------------------------------------------------------------- checks

[[ $(id -u) == 0 ]] || die "must run as root (lab namespaces, FUSE, drop_caches)"
for f in "$BUILD/ofsrep" "$BUILD/ofsrep-rawnfs"; do
	[[ -x $f ]] || die "$f not built (run 'make bench', or give the build directory)"
done
for c in fio gnuplot fusermount3 "$PY"; do
	command -v "$c" >/dev/null || die "$c not found (run 'make deps')"
done
for w in "${WORKLOADS[@]}"; do
	[[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' in BENCH_WORKLOADS"
done
((RAND_IOS % JOBS == 0)) || die "BENCH_RAND_IOS ($RAND_IOS) must be a multiple of BENCH_JOBS ($JOBS)"

# ---------------------------------------------------------------- lab and mount

LAB=""
MNT=""
OFS_PID=""

is_alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s%% *} != Z ]]
}

ofsrep_mounted() {
	local m t
	while read -r _ m t _; do
		[[ $m == "$MNT" && $t == fuse* ]] && return 0
	done </proc/mounts
	return 1
}

# wait_for SECONDS CMD...: polls CMD every 50 ms; 0 once it succeeds.
wait_for() {
	local deadline=$(($(now_us) + $1 * 1000000))
	shift
	until "$@"; do
		(($(now_us) < deadline)) || return 1
		sleep 0.05
	done
}

mounted_or_dead() { ofsrep_mounted || ! is_alive "$OFS_PID"; }
daemon_gone() { ! is_alive "$OFS_PID"; }

mount_ofsrep() {
	local opts=primary_only,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}
	mkdir -p "$MNT"
	echo "==== $PROG: mount $(date '+%F %T') -o $opts" >>"$LAB/ofsrep.log"
	setsid "$BUILD/ofsrep" -f "$OFSREP_PRIMARY_URL" "$MNT" -o "$opts" \
		</dev/null >>"$LAB/ofsrep.log" 2>&1 &
	OFS_PID=$!
	wait_for 10 mounted_or_dead || :
	if ! ofsrep_mounted; then
		tail -n 15 "$LAB/ofsrep.log" >&2
		die "ofsrep (pid $OFS_PID) did not mount $MNT"
	fi
	mkdir -p "$MNT/ofsrep-bench"
}

umount_ofsrep() {
	[[ -n $OFS_PID ]] || return 0
	if ofsrep_mounted; then fusermount3 -u "$MNT" 2>/dev/null || :; fi
	if ! wait_for 10 daemon_gone; then
		note "ofsrep (pid $OFS_PID) still running 10 s after unmount: SIGKILL"
		kill -KILL "$OFS_PID" 2>/dev/null || :
		wait_for 5 daemon_gone || note "ofsrep (pid $OFS_PID) did not exit"
	fi
	wait "$OFS_PID" 2>/dev/null || :
	if ofsrep_mounted; then fusermount3 -uz "$MNT" 2>/dev/null || :; fi
	OFS_PID=""
}

# Anything still mounted under the lab directory?
lab_has_mounts() {
	local m
	while read -r _ m _; do
		[[ $m == "$LAB"/* ]] && return 0
	done </proc/mounts
	return 1
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $LAB ]] || exit "$rc"
	umount_ofsrep || :
	"$REPO/tools/ofsrep-lab" stop --dir "$LAB" >/dev/null 2>&1 ||
		note "ofsrep-lab stop --dir $LAB failed; run it by hand"
	if [[ -s $LAB/ofsrep.log ]] && mkdir -p "$OUT" 2>/dev/null; then
		cp "$LAB/ofsrep.log" "$OUT/latest-ofsrep.log" || :
	fi
	if lab_has_mounts; then
		note "something is still mounted under $LAB: left in place"
	else
		rm -rf "$LAB"
	fi
	exit "$rc"
}

start_lab() {
	LAB=$(mktemp -d /tmp/ofsrep-bench.XXXXXX)
	chmod 755 "$LAB"	# allow_other: the mount is for every user
	MNT=$LAB/mnt
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$REPO/tools/ofsrep-lab" start --dir "$LAB" --no-mount >"$LAB/env.sh" ||
		die "the lab did not start"
	# shellcheck disable=SC1091
	. "$LAB/env.sh"
	[[ -n ${OFSREP_PRIMARY_URL:-} ]] || die "the lab printed no OFSREP_PRIMARY_URL"
	mkdir -p "$LAB/out"
}

# ---------------------------------------------------------------- measuring

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# utime+stime of the daemon, in clock ticks.
cpu_ticks() {
	local s f
	s=$(<"/proc/$OFS_PID/stat")
	read -r -a f <<<"${s##*) }"
	echo $((f[11] + f[12]))	# fields 14 and 15, counted from field 3
}

hwm_kib() {
	local k v
	while read -r k v _; do
		[[ $k == VmHWM: ]] && { echo "$v"; return; }
	done <"/proc/$OFS_PID/status"
	echo 0
}

run() { timeout -k 10 "$RUN_TIMEOUT" "$@"; }

rawnfs() { run "$BUILD/ofsrep-rawnfs" bench "$OFSREP_PRIMARY_URL" "$@"; }

# run_raw WORKLOAD OUTFILE: prints the kind of OUTFILE.
run_raw() {
	local wl=$1 out=$2 pids=() i rc=0
	case $wl in
	seqwrite) rawnfs seqwrite --size "$SIZE" >"$out" ;;
	seqread | seqread_warm) rawnfs seqread >"$out" ;;
	randwrite4k) rawnfs randwrite4k --count "$RAND_IOS" >"$out" ;;
	randwrite4k_16)
		# JOBS synchronous clients at once on the raw data file
		for ((i = 0; i < JOBS; i++)); do
			rawnfs randwrite4k --count $((RAND_IOS / JOBS)) >"$out.$i" &
			pids+=($!)
		done
		for i in "${pids[@]}"; do wait "$i" || rc=1; done
		cat "$out".* >"$out"
		rm -f "$out".*
		return $rc ;;
	create | stat | unlink) rawnfs "$wl" --count "$NFILES" >"$out" ;;
	esac
}

fio_job() {
	BENCH_DIR=$MNT/ofsrep-bench BENCH_SIZE=$SIZE BENCH_IOS=$2 \
		BENCH_JOBS=$JOBS run fio --output-format=json \
		"$BENCHDIR/$1.fio" >"$3"
}

# run_ofsrep WORKLOAD OUTFILE
run_ofsrep() {
	local wl=$1 out=$2
	case $wl in
	seqwrite) fio_job seqwrite 0 "$out" ;;
	seqread | seqread_warm) fio_job seqread 0 "$out" ;;
	randwrite4k) fio_job randwrite "$RAND_IOS" "$out" ;;
	randwrite4k_16) fio_job randwrite16 $((RAND_IOS / JOBS)) "$out" ;;
	create | stat | unlink)
		run "$PY" "$BENCHDIR/meta.py" "$wl" "$MNT/ofsrep-bench" "$NFILES" >"$out" ;;
	esac
}

# The sequential files as the NAS stores them (DIR/a/export, docs/lab.md).
backing_file() {
	case $1 in
	raw) echo "$LAB/a/export/ofsrep-rawnfs-bench/data" ;;
	ofsrep) echo "$LAB/a/export/ofsrep-bench/data" ;;
	esac
}

# Reads the NAS's copies of both sequential files locally, not through
# either system.  This VM's disk is a file on the host, with the host's
# cache under it: without this the file written last (the second system's)
# was read about twice as fast as the other, whichever system it belonged
# to.  After it, both files stand equally in the host's cache, and a
# "cold" read is cold in this machine's page cache for both.
level_host_cache() {
	cat "$(backing_file raw)" "$(backing_file ofsrep)" >/dev/null
}

# Untimed set-up so that each system starts a workload from the same state.
prepare() {
	local system=$1 wl=$2
	case $system-$wl in
	ofsrep-seqwrite) rm -f "$MNT/ofsrep-bench/data" ;;	# raw: O_TRUNC
	ofsrep-randwrite4k_16) rm -f "$MNT"/ofsrep-bench/rw16.* ;;
	*-seqread) level_host_cache ;;
	*-seqread_warm) cat "$(backing_file "$system")" >/dev/null ;;
	esac
}

RUNS=""

measure() {
	local system=$1 wl=$2 rep=$3 out kind=jsonl c0=0 cpu=- hwm=- t0
	out=$LAB/out/$system-$wl-$rep.json
	[[ $system == ofsrep && $wl != create && $wl != stat && $wl != unlink ]] && kind=fio
	prepare "$system" "$wl"
	# seqread_warm: prepare() put the file in the NAS's page cache;
	# ofsrep's own cache of it is dropped at open (keep_cache=0)
	if [[ $wl == seqread_warm ]]; then sync; else drop_caches; fi
	if [[ $system == ofsrep ]]; then
		echo 5 >"/proc/$OFS_PID/clear_refs"	# resets VmHWM
		c0=$(cpu_ticks)
	fi
	t0=$(now_us)
	if ! "run_$system" "$wl" "$out"; then
		cat "$out" >&2 2>/dev/null || :
		die "$system $wl (repetition $rep) failed"
	fi
	if [[ $system == ofsrep ]]; then
		cpu=$(awk -v t=$(($(cpu_ticks) - c0)) -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "%.2f", t / hz }')
		hwm=$(hwm_kib)
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$wl" "$rep" "$kind" \
		"$out" "$cpu" "$hwm" >>"$RUNS"
	printf '  %-7s %-15s %6.1f s\n' "$system" "$wl" \
		"$(awk -v t=$(($(now_us) - t0)) 'BEGIN { print t / 1e6 }')" >&2
}

# One untimed sequential write per system.  On this VM the first large
# write after a pause (a new lab, or the previous repetition's metadata
# workloads) ran at about half speed whichever system made it, which made
# the repetition order show in the seqwrite figures.
warm_up() {
	[[ " ${WORKLOADS[*]} " == *" seqwrite "* ]] || return 0
	rm -f "$MNT/ofsrep-bench/data"
	rawnfs seqwrite --size "$SIZE" >/dev/null
	fio_job seqwrite 0 /dev/null
}

one_repetition() {
	local rep=$1 order=(raw ofsrep) wl s
	((rep % 2)) || order=(ofsrep raw)
	note "repetition $rep/$REPS (${order[0]} first)"
	mount_ofsrep
	warm_up
	for wl in "${WORKLOADS[@]}"; do
		for s in "${order[@]}"; do
			measure "$s" "$wl" "$rep"
		done
	done
	umount_ofsrep
}

# ---------------------------------------------------------------- report

report() {
	local wall=$1 commit title sub
	commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$REPO" status --porcelain -- fs replica journal 2>/dev/null) ]]; then
		commit="$commit+dirty"
	fi
	title="ofsrep data-path benchmark ($VARIANT)"
	sub="$VARIANT, $REPS reps, $(date -u '+%F %H:%M') UTC, commit $commit"
	mkdir -p "$OUT"
	"$PY" "$BENCHDIR/report.py" "$RUNS" "$OUT" --title "$title" \
		--note "$(date -u '+%F %T') UTC, commit $commit, $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
		--note "$REPS repetitions; seq file $SIZE; $RAND_IOS random 4 KiB writes ($JOBS jobs: $((RAND_IOS / JOBS)) each); $NFILES files" \
		--note "ofsrep -o primary_only,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS} on NAS a of tools/ofsrep-lab (nfs-ganesha, VFS FSAL, over a veth)" \
		--note "whole run: $wall s (tools/bench.sh, QUICK=${QUICK:-})"
	gnuplot -e "datafile='$OUT/latest.dat'; outfile='$OUT/latest.png'; subtitle='$sub'" \
		"$BENCHDIR/plot.gp"
	cat "$OUT/latest.md"
	note "results in $OUT/latest.{md,csv,png}"
}

main() {
	local t0 rep
	t0=$(now_us)
	note "$VARIANT variant: $REPS repetitions, $NFILES files, $SIZE sequential"
	start_lab
	RUNS=$LAB/runs.tsv
	: >"$RUNS"
	for ((rep = 1; rep <= REPS; rep++)); do
		one_repetition "$rep"
	done
	report $((($(now_us) - t0) / 1000000))
}

main
