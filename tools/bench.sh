#!/bin/bash
# bench.sh — the data-path benchmark: ofsrep (primary path and journal
# mode) against a raw libnfs client.
#
#   make bench                  # full: 5 repetitions, 10000 files
#   make bench QUICK=1          # quick: 3 repetitions, 2000 files
#   tools/bench.sh [BUILD_DIR]  # the same without the build (default build)
#
# Starts its own two-NAS lab (tools/ofsrep-lab) in a fresh directory under
# /tmp, and in one run measures side by side, against the same export of
# NAS a, three systems (the id in latest-runs.csv first):
#   raw      build/ofsrep-rawnfs bench: one synchronous libnfs context
#   ofsrep   the daemon mounted with -o primary_only on DIR/mnt (the
#            primary path), files under /ofsrep-bench/
#   journal  ("ofsrep-journal") a second daemon mounted with
#            -o secondary=NAS_B,journal,node=REP on DIR/mnt-journal: every
#            mutation is journaled to NAS b (FILE_SYNC group commit) before
#            its reply; files under /ofsrep-journal-bench/
# The two mounts are driven by the same fio jobs (tools/bench/*.fio) and
# tools/bench/meta.py.  Workloads, in this order per repetition: seqwrite,
# seqread, seqread_warm, randwrite4k, randwrite4k_16, create, stat, unlink
# (docs/benchmarks.md explains each).  Before every measured run but
# seqread_warm: sync and drop the page, dentry and inode caches (one
# machine: client and server caches both).  Which system goes first
# rotates with the repetition (raw, ofsrep, journal; then ofsrep, journal,
# raw; ...).  For each mounted run that daemon's CPU time (utime+stime,
# /proc/PID/stat) and peak RSS (VmHWM, reset through clear_refs before each
# run) are recorded.  Both daemons are mounted afresh in every repetition;
# the journal daemon takes node id REP (a fresh journal), and after the
# unmount that journal is measured (du) and removed from NAS b's export.
#
# Output in bench/results/: latest.md (table), latest.csv, latest-runs.csv
# (every run), latest.png (grouped bars), plus both daemons' logs.  A
# benchmark reports and never asserts timings: exit 0 unless something
# failed (a workload erred, the lab or a mount did not come up).
# Everything it started — the lab, the mounts, the daemons — is stopped on
# exit.
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
#   BENCH_MOUNT_OPTS     extra -o options for both ofsrep mounts (e.g.
#                        wb_max=256)
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

# ---------------------------------------------------------------- lab and mounts

SYSTEMS=(raw ofsrep journal)	# the rotation order; the last two are mounts
MOUNTED=(ofsrep journal)
LAB=""
REP=0				# the repetition being run (the journal's node)
declare -A MNT=() PID=() BDIR=() LOG=()

is_alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s%% *} != Z ]]
}

# is_mounted SYSTEM: its FUSE mount is in /proc/mounts.
is_mounted() {
	local m t
	while read -r _ m t _; do
		[[ $m == "${MNT[$1]}" && $t == fuse* ]] && return 0
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

mounted_or_dead() { is_mounted "$1" || ! is_alive "${PID[$1]}"; }
daemon_gone() { ! is_alive "${PID[$1]}"; }

# The -o options of a mounted system.
mount_opts() {
	case $1 in
	ofsrep) echo "primary_only,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}" ;;
	journal) echo "secondary=$OFSREP_SECONDARY_URL,journal,node=$REP,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}" ;;
	esac
}

# mount_system SYSTEM: the daemon in the background, PID recorded.
mount_system() {
	local sys=$1 opts
	opts=$(mount_opts "$sys")
	mkdir -p "${MNT[$sys]}"
	echo "==== $PROG: mount $(date '+%F %T') -o $opts" >>"${LOG[$sys]}"
	setsid "$BUILD/ofsrep" -f "$OFSREP_PRIMARY_URL" "${MNT[$sys]}" -o "$opts" \
		</dev/null >>"${LOG[$sys]}" 2>&1 &
	PID[$sys]=$!
	wait_for 10 mounted_or_dead "$sys" || :
	if ! is_mounted "$sys"; then
		tail -n 15 "${LOG[$sys]}" >&2
		die "ofsrep ($sys, pid ${PID[$sys]}) did not mount ${MNT[$sys]}"
	fi
	mkdir -p "${BDIR[$sys]}"
}

umount_system() {
	local sys=$1
	[[ -n ${PID[$sys]:-} ]] || return 0
	if is_mounted "$sys"; then fusermount3 -u "${MNT[$sys]}" 2>/dev/null || :; fi
	# The daemon commits what NAS a holds unstable and applies what the
	# journal still has to the mirror before it exits (20 s at most).
	if ! wait_for 40 daemon_gone "$sys"; then
		note "ofsrep ($sys, pid ${PID[$sys]}) still running 40 s after unmount: SIGKILL"
		kill -KILL "${PID[$sys]}" 2>/dev/null || :
		wait_for 5 daemon_gone "$sys" || note "ofsrep ($sys, pid ${PID[$sys]}) did not exit"
	fi
	wait "${PID[$sys]}" 2>/dev/null || :
	if is_mounted "$sys"; then fusermount3 -uz "${MNT[$sys]}" 2>/dev/null || :; fi
	PID[$sys]=""
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
	local rc=$? sys
	trap - EXIT INT TERM
	[[ -n $LAB ]] || exit "$rc"
	for sys in "${MOUNTED[@]}"; do umount_system "$sys" || :; done
	"$REPO/tools/ofsrep-lab" stop --dir "$LAB" >/dev/null 2>&1 ||
		note "ofsrep-lab stop --dir $LAB failed; run it by hand"
	if mkdir -p "$OUT" 2>/dev/null; then
		for sys in "${MOUNTED[@]}"; do
			[[ -s ${LOG[$sys]} ]] || continue
			cp "${LOG[$sys]}" "$OUT/latest-${LOG[$sys]##*/}" || :
		done
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
	MNT=([ofsrep]=$LAB/mnt [journal]=$LAB/mnt-journal)
	BDIR=([ofsrep]=$LAB/mnt/ofsrep-bench
	      [journal]=$LAB/mnt-journal/ofsrep-journal-bench)
	LOG=([ofsrep]=$LAB/ofsrep.log [journal]=$LAB/ofsrep-journal.log)
	rm -f "$OUT/latest-ofsrep.log" "$OUT/latest-ofsrep-journal.log"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$REPO/tools/ofsrep-lab" start --dir "$LAB" --no-mount >"$LAB/env.sh" ||
		die "the lab did not start"
	# shellcheck disable=SC1091
	. "$LAB/env.sh"
	[[ -n ${OFSREP_PRIMARY_URL:-} ]] || die "the lab printed no OFSREP_PRIMARY_URL"
	[[ -n ${OFSREP_SECONDARY_URL:-} ]] || die "the lab printed no OFSREP_SECONDARY_URL"
	mkdir -p "$LAB/out"
}

# NAS b's export on this machine's disk (docs/lab.md) and the journal of
# node N in it (docs/journal-format.md).
journal_dir() { echo "$LAB/b/export/.ofsrep/journal/$1"; }

# ---------------------------------------------------------------- measuring

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# cpu_ticks PID: utime+stime of the daemon (all its threads), clock ticks.
cpu_ticks() {
	local s f
	s=$(<"/proc/$1/stat")
	read -r -a f <<<"${s##*) }"
	echo $((f[11] + f[12]))	# fields 14 and 15, counted from field 3
}

hwm_kib() {
	local k v
	while read -r k v _; do
		[[ $k == VmHWM: ]] && { echo "$v"; return; }
	done <"/proc/$1/status"
	echo 0
}

run() { timeout -k 10 "$RUN_TIMEOUT" "$@"; }

rawnfs() { run "$BUILD/ofsrep-rawnfs" bench "$OFSREP_PRIMARY_URL" "$@"; }

# run_raw WORKLOAD OUTFILE
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

# fio_job SYSTEM JOB IOS OUTFILE
fio_job() {
	BENCH_DIR=${BDIR[$1]} BENCH_SIZE=$SIZE BENCH_IOS=$3 \
		BENCH_JOBS=$JOBS run fio --output-format=json \
		"$BENCHDIR/$2.fio" >"$4"
}

# run_mounted SYSTEM WORKLOAD OUTFILE: one of the two ofsrep mounts.
run_mounted() {
	local sys=$1 wl=$2 out=$3
	case $wl in
	seqwrite) fio_job "$sys" seqwrite 0 "$out" ;;
	seqread | seqread_warm) fio_job "$sys" seqread 0 "$out" ;;
	randwrite4k) fio_job "$sys" randwrite "$RAND_IOS" "$out" ;;
	randwrite4k_16) fio_job "$sys" randwrite16 $((RAND_IOS / JOBS)) "$out" ;;
	create | stat | unlink)
		run "$PY" "$BENCHDIR/meta.py" "$wl" "${BDIR[$sys]}" "$NFILES" >"$out" ;;
	esac
}

# run_system SYSTEM WORKLOAD OUTFILE
run_system() {
	if [[ $1 == raw ]]; then run_raw "$2" "$3"; else run_mounted "$@"; fi
}

# The sequential files as NAS a stores them (DIR/a/export, docs/lab.md).
backing_file() {
	case $1 in
	raw) echo "$LAB/a/export/ofsrep-rawnfs-bench/data" ;;
	ofsrep) echo "$LAB/a/export/ofsrep-bench/data" ;;
	journal) echo "$LAB/a/export/ofsrep-journal-bench/data" ;;
	esac
}

# Reads the NAS's copies of all three sequential files locally, not
# through any system.  This VM's disk is a file on the host, with the
# host's cache under it: without this the file written last was read about
# twice as fast as the others, whichever system it belonged to.  After it,
# all files stand equally in the host's cache, and a "cold" read is cold
# in this machine's page cache for all.
level_host_cache() {
	local sys files=()
	for sys in "${SYSTEMS[@]}"; do files+=("$(backing_file "$sys")"); done
	cat "${files[@]}" >/dev/null
}

# Untimed set-up so that each system starts a workload from the same state.
prepare() {
	local sys=$1 wl=$2
	case $sys-$wl in
	raw-seqwrite) ;;	# O_TRUNC
	*-seqwrite) rm -f "${BDIR[$sys]}/data" ;;
	raw-randwrite4k_16) ;;
	*-randwrite4k_16) rm -f "${BDIR[$sys]}"/rw16.* ;;
	*-seqread) level_host_cache ;;
	*-seqread_warm) cat "$(backing_file "$sys")" >/dev/null ;;
	esac
}

RUNS=""

measure() {
	local sys=$1 wl=$2 rep=$3 out kind=jsonl c0=0 cpu=- hwm=- t0 pid=""
	out=$LAB/out/$sys-$wl-$rep.json
	if [[ $sys != raw ]]; then
		pid=${PID[$sys]}
		[[ $wl == create || $wl == stat || $wl == unlink ]] || kind=fio
	fi
	prepare "$sys" "$wl"
	# seqread_warm: prepare() put the file in the NAS's page cache;
	# ofsrep's own cache of it is dropped at open (keep_cache=0)
	if [[ $wl == seqread_warm ]]; then sync; else drop_caches; fi
	if [[ -n $pid ]]; then
		echo 5 >"/proc/$pid/clear_refs"	# resets VmHWM
		c0=$(cpu_ticks "$pid")
	fi
	t0=$(now_us)
	if ! run_system "$sys" "$wl" "$out"; then
		cat "$out" >&2 2>/dev/null || :
		die "$sys $wl (repetition $rep) failed"
	fi
	if [[ -n $pid ]]; then
		cpu=$(awk -v t=$(($(cpu_ticks "$pid") - c0)) -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "%.2f", t / hz }')
		hwm=$(hwm_kib "$pid")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$wl" "$rep" "$kind" \
		"$out" "$cpu" "$hwm" >>"$RUNS"
	printf '  %-7s %-15s %6.1f s\n' "$sys" "$wl" \
		"$(awk -v t=$(($(now_us) - t0)) 'BEGIN { print t / 1e6 }')" >&2
}

# One untimed sequential write per system.  On this VM the first large
# write after a pause (a new lab, or the previous repetition's metadata
# workloads) ran at about half speed whichever system made it, which made
# the repetition order show in the seqwrite figures.
warm_up() {
	local sys
	[[ " ${WORKLOADS[*]} " == *" seqwrite "* ]] || return 0
	rawnfs seqwrite --size "$SIZE" >/dev/null
	for sys in "${MOUNTED[@]}"; do
		rm -f "${BDIR[$sys]}/data"
		fio_job "$sys" seqwrite 0 /dev/null
	done
}

JOURNALS=""	# per repetition: REP BYTES FILES

# After the unmount: the size of repetition REP's journal on NAS b, then
# remove it, so that journals do not pile up on the disk (about 2.2 GiB
# each with the default sizes).  Only this node's directory goes; the next
# repetition's daemon opens a new node, so nothing it uses was removed
# behind the NAS's back.
drop_journal() {
	local dir bytes nfiles
	dir=$(journal_dir "$1")
	if [[ -d $dir ]]; then
		bytes=$(du -sb "$dir" | cut -f1)
		nfiles=$(find "$dir" -name '*.seg' | wc -l)
	else
		note "no journal at $dir after repetition $1"
		bytes=0 nfiles=0
	fi
	printf '%s %s %s\n' "$1" "$bytes" "$nfiles" >>"$JOURNALS"
	rm -rf "$dir"
}

one_repetition() {
	local rep=$1 order=() i wl s n=${#SYSTEMS[@]}
	for ((i = 0; i < n; i++)); do
		order+=("${SYSTEMS[(i + rep - 1) % n]}")
	done
	REP=$rep
	note "repetition $rep/$REPS (order ${order[*]})"
	for s in "${MOUNTED[@]}"; do mount_system "$s"; done
	warm_up
	for wl in "${WORKLOADS[@]}"; do
		for s in "${order[@]}"; do
			measure "$s" "$wl" "$rep"
		done
	done
	for s in "${MOUNTED[@]}"; do umount_system "$s"; done
	drop_journal "$rep"
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
		--note "ofsrep-journal -o secondary=NAS_B,journal,node=REP,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}: the same NAS a, journal on NAS b (same lab, same disk); $(journal_note)" \
		--note "whole run: $wall s (tools/bench.sh, QUICK=${QUICK:-})"
	gnuplot -e "datafile='$OUT/latest.dat'; outfile='$OUT/latest.png'; subtitle='$sub'" \
		"$BENCHDIR/plot.gp"
	cat "$OUT/latest.md"
	note "results in $OUT/latest.{md,csv,png}"
}

# "journal per repetition: ..." from JOURNALS.
journal_note() {
	awk '{ b += $2; n += $3; r++ }
	     END { if (r) printf "journal left on NAS b after each unmount (the daemon applies and trims it): %.2f GiB in %.0f segments (mean of %d)", b / r / 2^30, n / r, r }' "$JOURNALS"
}

main() {
	local t0 rep
	t0=$(now_us)
	note "$VARIANT variant: $REPS repetitions, $NFILES files, $SIZE sequential"
	start_lab
	RUNS=$LAB/runs.tsv
	JOURNALS=$LAB/journals.txt
	: >"$RUNS"
	: >"$JOURNALS"
	for ((rep = 1; rep <= REPS; rep++)); do
		one_repetition "$rep"
	done
	report $((($(now_us) - t0) / 1000000))
}

main
