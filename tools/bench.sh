#!/bin/bash
# bench.sh — the data-path benchmark: ofsrep (primary path and its three
# modes journal, full, async) against a raw libnfs client and GlusterFS 10
# replica 2 (FUSE client), plus the failover freeze of each.
#
#   make bench                  # full: 5 repetitions, 10000 files, 1 GiB
#   make bench QUICK=1          # quick: 3 repetitions, 1000 files, 256 MiB
#   tools/bench.sh [BUILD_DIR]  # the same without the build (default build)
#
# Starts its own two-NAS lab (tools/ofsrep-lab) in a fresh directory under
# /tmp, and in one run measures side by side, against the same export of
# NAS a, these systems (the id in latest-runs.csv first):
#   raw      build/ofsrep-rawnfs bench: one synchronous libnfs context
#   ofsrep   the daemon mounted with -o primary_only on DIR/mnt (the
#            primary path), files under /ofsrep-bench/
#   journal  ("ofsrep-journal") a second daemon mounted with
#            -o secondary=NAS_B,journal,node=REP on DIR/mnt-journal: every
#            mutation is journaled to NAS b (FILE_SYNC group commit) before
#            its reply; files under /ofsrep-journal-bench/
#   full     -o mode=full,node=100+REP on DIR/mnt-full (/ofsrep-full-bench/)
#   async    -o mode=async,node=200+REP on DIR/mnt-async (/ofsrep-async-bench/)
#   gluster  GlusterFS replica 2, two bricks under DIR/gl on this disk,
#            glusterd/bricks/client in a network namespace of their own
#            (tools/bench/gluster.sh), mounted once per run on DIR/mnt-gluster;
#            its CPU and RSS are the FUSE client's plus both bricks'
#   (BENCH_GLUSTER=0 leaves GlusterFS out)
# Then the failover freeze (freeze_kill, freeze_hang): tools/bench/freeze.py
# writes+fsyncs 4 KiB in a loop while NAS a is killed (then started) or
# stopped (SIGSTOP, then SIGCONT) under a journal-mode mount alone
# (failback_settle=2), and while GlusterFS's brick 1 is killed (then
# restarted with volume start force) or stopped; the figure is the longest
# gap between two completed writes.
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
#   BENCH_REPS           repetitions (3, quick 3)
#   BENCH_FILES          files for create/stat/unlink/createfsync (10000, quick 1000)
#   BENCH_OFFICE_ROUNDS  rounds of the office mix (3000, quick 1000)
#   BENCH_FREEZE_REPS    repetitions of the freeze rows (2, quick 1)
#   BENCH_SIZE           sequential file size, fio/rawnfs syntax (1g, quick 256m)
#   BENCH_RAND_IOS       4 KiB random writes/reads per run (20000, quick 8000)
#   BENCH_FREEZE_SECS    freeze writer's run (60, quick 12); NAS/brick
#                        down from 2 s to half of it
#   BENCH_GLUSTER        0: no GlusterFS column
#   BENCH_SYSTEMS        a subset of the systems, by id (e.g. "raw ofsrep")
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
	NFILES=${BENCH_FILES:-1000}
	OFFICE_ROUNDS=${BENCH_OFFICE_ROUNDS:-$NFILES}
	SIZE=${BENCH_SIZE:-256m}
	RAND_IOS=${BENCH_RAND_IOS:-8000}
	FREEZE_SECS=${BENCH_FREEZE_SECS:-12}
else
	VARIANT=full
	# 5 repetitions and 10000 office rounds took 17.5 min per repetition
	# (2026-12-07): 3 and 3000 keep the whole run under an hour
	REPS=${BENCH_REPS:-3}
	NFILES=${BENCH_FILES:-10000}
	OFFICE_ROUNDS=${BENCH_OFFICE_ROUNDS:-3000}
	SIZE=${BENCH_SIZE:-1g}
	RAND_IOS=${BENCH_RAND_IOS:-20000}
	FREEZE_SECS=${BENCH_FREEZE_SECS:-60}
fi
GLUSTER=${BENCH_GLUSTER:-1}
JOBS=${BENCH_JOBS:-16}
MOUNT_OPTS=${BENCH_MOUNT_OPTS:-}
OUT=${BENCH_OUT:-$REPO/bench/results}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
ALL_WORKLOADS="seqwrite seqread seqread_warm randwrite4k randwrite4k_16 randread4k randread4k_16 create stat unlink createfsync office freeze_kill freeze_hang"
read -r -a WORKLOADS <<<"${BENCH_WORKLOADS:-$ALL_WORKLOADS}"

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }
now_us() { echo "${EPOCHREALTIME/./}"; }

# ---------------------------------------------------------------- checks

[[ $(id -u) == 0 ]] || die "must run as root (lab namespaces, FUSE, drop_caches)"
for f in "$BUILD/ofsrep" "$BUILD/ofsrep-rawnfs"; do
	[[ -x $f ]] || die "$f not built (run 'make bench', or give the build directory)"
done
for c in fio gnuplot fusermount3 "$PY" nsenter; do
	command -v "$c" >/dev/null || die "$c not found (run 'make deps')"
done
for w in "${WORKLOADS[@]}"; do
	[[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' in BENCH_WORKLOADS"
done
if [[ $GLUSTER != 0 ]]; then
	for c in glusterd gluster glusterfs; do
		command -v "$c" >/dev/null || die "$c not found: GlusterFS is not installed (run 'make deps', or BENCH_GLUSTER=0)"
	done
fi
((RAND_IOS % JOBS == 0)) || die "BENCH_RAND_IOS ($RAND_IOS) must be a multiple of BENCH_JOBS ($JOBS)"

# ---------------------------------------------------------------- lab and mounts

SYSTEMS=(raw ofsrep journal full async)	# the rotation order
[[ $GLUSTER == 0 ]] || SYSTEMS+=(gluster)
if [[ -n ${BENCH_SYSTEMS:-} ]]; then
	picked=()
	for s in $BENCH_SYSTEMS; do
		[[ " ${SYSTEMS[*]} " == *" $s "* ]] ||
			die "BENCH_SYSTEMS: unknown system '$s' (choose from: ${SYSTEMS[*]}; gluster needs BENCH_GLUSTER=1)"
		picked+=("$s")
	done
	SYSTEMS=("${picked[@]}")
fi
MOUNTED=()			# ofsrep daemons, mounted per repetition
for s in "${SYSTEMS[@]}"; do
	[[ $s == raw || $s == gluster ]] || MOUNTED+=("$s")
done
[[ " ${SYSTEMS[*]} " == *" gluster "* ]] || GLUSTER=0
# shellcheck source=bench/gluster.sh
. "$BENCHDIR/gluster.sh"
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
	full) echo "secondary=$OFSREP_SECONDARY_URL,mode=full,node=$((100 + REP)),allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}" ;;
	async) echo "secondary=$OFSREP_SECONDARY_URL,mode=async,node=$((200 + REP)),allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}" ;;
	freeze) echo "secondary=$OFSREP_SECONDARY_URL,journal,node=$((300 + REP)),failback_settle=2,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}" ;;
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
	for sys in "${MOUNTED[@]}" freeze; do umount_system "$sys" || :; done
	gl_stop || :
	[[ -n $GL_NS ]] && note "GlusterFS netns $GL_NS left: ip netns delete $GL_NS"
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
	MNT=([ofsrep]=$LAB/mnt [journal]=$LAB/mnt-journal [full]=$LAB/mnt-full
	     [async]=$LAB/mnt-async [freeze]=$LAB/mnt-freeze [gluster]=$LAB/mnt-gluster)
	BDIR=([ofsrep]=$LAB/mnt/ofsrep-bench
	      [journal]=$LAB/mnt-journal/ofsrep-journal-bench
	      [full]=$LAB/mnt-full/ofsrep-full-bench
	      [async]=$LAB/mnt-async/ofsrep-async-bench
	      [freeze]=$LAB/mnt-freeze/ofsrep-freeze-bench
	      [gluster]=$LAB/mnt-gluster/ofsrep-gluster-bench)
	LOG=([ofsrep]=$LAB/ofsrep.log [journal]=$LAB/ofsrep-journal.log
	     [full]=$LAB/ofsrep-full.log [async]=$LAB/ofsrep-async.log
	     [freeze]=$LAB/ofsrep-freeze.log [gluster]=$LAB/gl/log/client.log)
	rm -f "$OUT"/latest-ofsrep*.log "$OUT"/latest-gluster-*.log
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$REPO/tools/ofsrep-lab" start --dir "$LAB" --no-mount >"$LAB/env.sh" ||
		die "the lab did not start"
	# shellcheck disable=SC1091
	. "$LAB/env.sh"
	[[ -n ${OFSREP_PRIMARY_URL:-} ]] || die "the lab printed no OFSREP_PRIMARY_URL"
	[[ -n ${OFSREP_SECONDARY_URL:-} ]] || die "the lab printed no OFSREP_SECONDARY_URL"
	mkdir -p "$LAB/out"
	if [[ $GLUSTER != 0 ]]; then
		gl_start "$LAB/gl" "${MNT[gluster]}" ||
			die "GlusterFS did not come up (logs in $LAB/gl/log; BENCH_GLUSTER=0 runs without it)"
		mkdir -p "${BDIR[gluster]}"
		note "GlusterFS $GL_VOL replica 2 in netns $GL_NS, client pid $GL_CLIENT_PID"
	fi
}

# NAS b's export on this machine's disk (docs/lab.md) and the journal of
# node N in it (docs/journal-format.md).
journal_dir() { echo "$LAB/b/export/.ofsrep/journal/$1"; }

# ---------------------------------------------------------------- measuring

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# cpu_ticks PID...: utime+stime of the daemons (all threads), clock ticks.
cpu_ticks() {
	local s f p t=0
	for p; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12]))	# fields 14 and 15, counted from field 3
	done
	echo $t
}

# hwm_kib PID...: the sum of their VmHWM.
hwm_kib() {
	local k v p t=0
	for p; do
		while read -r k v _; do
			[[ $k == VmHWM: ]] && t=$((t + v))
		done < <(cat "/proc/$p/status" 2>/dev/null)
	done
	echo $t
}

# daemon_pids SYSTEM: the processes whose CPU and RSS a run is charged.
daemon_pids() {
	case $1 in
	raw) ;;
	gluster) echo "$GL_CLIENT_PID $(gl_brick_pid 1) $(gl_brick_pid 2)" ;;
	*) echo "${PID[$1]}" ;;
	esac
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
	randread4k) fio_job "$sys" randread "$RAND_IOS" "$out" ;;
	randread4k_16) fio_job "$sys" randread16 $((RAND_IOS / JOBS)) "$out" ;;
	create | stat | unlink | createfsync)
		run "$PY" "$BENCHDIR/meta.py" "$wl" "${BDIR[$sys]}" "$NFILES" >"$out" ;;
	office)
		run "$PY" "$BENCHDIR/meta.py" "$wl" "${BDIR[$sys]}" "$OFFICE_ROUNDS" >"$out" ;;
	esac
}

# has_workload SYSTEM WORKLOAD: ofsrep-rawnfs has no random read, fsync'd
# create or office mix; the freeze rows are measured separately.
has_workload() {
	case $1-$2 in
	*-freeze_*) return 1 ;;
	raw-randread* | raw-createfsync | raw-office) return 1 ;;
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
	journal | full | async) echo "$LAB/a/export/ofsrep-$1-bench/data" ;;
	gluster) echo "$LAB/gl/b1/ofsrep-gluster-bench/data" ;;
	esac
}

# Reads the NAS's copies of all three sequential files locally, not
# through any system.  This VM's disk is a file on the host, with the
# host's cache under it: without this the file written last was read about
# twice as fast as the others, whichever system it belonged to.  After it,
# all files stand equally in the host's cache, and a "cold" read is cold
# in this machine's page cache for all.
level_host_cache() {
	local sys f files=()
	for sys in "${SYSTEMS[@]}"; do
		f=$(backing_file "$sys")
		[[ -f $f ]] && files+=("$f")
	done
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
	local sys=$1 wl=$2 rep=$3 out kind=jsonl c0=0 cpu=- hwm=- t0 pids p
	has_workload "$sys" "$wl" || return 0
	out=$LAB/out/$sys-$wl-$rep.json
	pids=$(daemon_pids "$sys")
	if [[ $sys != raw ]]; then
		[[ $wl == create* || $wl == stat || $wl == unlink || $wl == office ]] || kind=fio
	fi
	prepare "$sys" "$wl"
	# seqread_warm: prepare() put the file in the NAS's page cache;
	# ofsrep's own cache of it is dropped at open (keep_cache=0)
	if [[ $wl == seqread_warm ]]; then sync; else drop_caches; fi
	if [[ -n $pids ]]; then
		for p in $pids; do echo 5 >"/proc/$p/clear_refs"; done	# resets VmHWM
		# shellcheck disable=SC2086
		c0=$(cpu_ticks $pids)
	fi
	t0=$(now_us)
	if ! run_system "$sys" "$wl" "$out"; then
		cat "$out" >&2 2>/dev/null || :
		die "$sys $wl (repetition $rep) failed"
	fi
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		cpu=$(awk -v t=$(($(cpu_ticks $pids) - c0)) -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "%.2f", t / hz }')
		# shellcheck disable=SC2086
		hwm=$(hwm_kib $pids)
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
	for sys in "${SYSTEMS[@]}"; do
		[[ $sys == raw ]] && continue
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
	# the note in latest.md is about the journal-mode daemon's
	(($1 < 100)) && printf '%s %s %s\n' "$1" "$bytes" "$nfiles" >>"$JOURNALS"
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
	drop_journal $((100 + rep))
	drop_journal $((200 + rep))
}

# ---------------------------------------------------------------- failover freeze

FREEZE_AT=2	# seconds into the writer's run when the NAS or brick goes

# freeze_record SYSTEM WORKLOAD REP OUT PIDS C0: the runs.tsv line.
freeze_record() {
	local cpu hwm
	# shellcheck disable=SC2086
	cpu=$(awk -v t=$(($(cpu_ticks $5) - $6)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.2f", t / hz }')
	# shellcheck disable=SC2086
	hwm=$(hwm_kib $5)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" freeze "$4" \
		"$cpu" "$hwm" >>"$RUNS"
}

# nas_a CMD: tools/ofsrep-lab nas a CMD on this run's lab.
nas_a() { "$REPO/tools/ofsrep-lab" nas a "$1" --dir "$LAB" >>"$LAB/nas.log" 2>&1; }

# ofsrep_healthy: the freeze mount serves from NAS a again and is in sync.
ofsrep_healthy() { "$BUILD/ofsrep" status "${MNT[freeze]}" >/dev/null 2>&1; }

# freeze_ofsrep WORKLOAD REP: a journal-mode mount alone (the others are
# unmounted), the writer, NAS a killed or stopped at FREEZE_AT and back at
# half the run; then wait for the failback before the unmount.
freeze_ofsrep() {
	local wl=$1 rep=$2 out wpid c0 pids t0 back
	out=$LAB/out/journal-$wl-$rep.json
	REP=$rep
	mount_system freeze
	pids=${PID[freeze]}
	echo 5 >"/proc/$pids/clear_refs"
	c0=$(cpu_ticks "$pids")
	t0=$(now_us)
	run "$PY" "$BENCHDIR/freeze.py" "${BDIR[freeze]}" "$FREEZE_SECS" >"$out" &
	wpid=$!
	sleep "$FREEZE_AT"
	back=$(awk -v d="$FREEZE_SECS" -v a="$FREEZE_AT" 'BEGIN { print (d / 2 > a + 1 ? d / 2 - a : 1) }')
	if [[ $wl == freeze_kill ]]; then
		nas_a kill || note "ofsrep-lab nas a kill failed (see $LAB/nas.log)"
		sleep "$back"
		nas_a start || die "ofsrep-lab nas a start failed (see $LAB/nas.log)"
	else
		nas_a stop || note "ofsrep-lab nas a stop failed (see $LAB/nas.log)"
		sleep "$back"
		nas_a cont || die "ofsrep-lab nas a cont failed (see $LAB/nas.log)"
	fi
	wait "$wpid" || die "freeze writer on ofsrep ($wl) failed: $(cat "$out")"
	freeze_record journal "$wl" "$rep" "$out" "$pids" "$c0"
	# failback=auto after failback_settle=2: back on NAS a before the next
	wait_for 90 ofsrep_healthy || note "ofsrep freeze mount not healthy 90 s after NAS a came back ($wl): unmounting anyway"
	umount_system freeze
	drop_journal $((300 + rep))
	printf '  %-7s %-15s %6.1f s\n' journal "$wl" \
		"$(awk -v t=$(($(now_us) - t0)) 'BEGIN { print t / 1e6 }')" >&2
}

# freeze_gluster WORKLOAD REP: brick 1 SIGKILLed (back with volume start
# force) or SIGSTOPped (SIGCONT) at FREEZE_AT, back at half the run, or
# for the hung case after 50 s at least: GlusterFS's default
# network.ping-timeout is 42 s, and that wait is what is measured.
freeze_gluster() {
	local wl=$1 rep=$2 out wpid c0 pids bp dur=$FREEZE_SECS back t0
	out=$LAB/out/gluster-$wl-$rep.json
	[[ $wl == freeze_hang ]] && ((dur < 60)) && dur=60
	back=$(awk -v d="$dur" -v a="$FREEZE_AT" 'BEGIN { print (d / 2 > a + 1 ? d / 2 - a : 1) }')
	[[ $wl == freeze_hang ]] && back=50
	pids=$(daemon_pids gluster)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	bp=$(gl_brick_pid 1) || die "no PID for GlusterFS brick 1 (gluster volume status $GL_VOL)"
	t0=$(now_us)
	run "$PY" "$BENCHDIR/freeze.py" "${BDIR[gluster]}" "$dur" >"$out" &
	wpid=$!
	sleep "$FREEZE_AT"
	if [[ $wl == freeze_kill ]]; then
		# the killed brick's ticks die with it: count them up to the kill
		c0=$((c0 - $(cpu_ticks "$bp")))
		kill -KILL "$bp"
		sleep "$back"
		gl_brick_restart || die "GlusterFS brick 1 did not come back (volume start $GL_VOL force)"
	else
		kill -STOP "$bp"
		sleep "$back"
		kill -CONT "$bp"
	fi
	wait "$wpid" || die "freeze writer on GlusterFS ($wl) failed: $(cat "$out")"
	freeze_record gluster "$wl" "$rep" "$out" "$pids $(gl_brick_pid 1)" "$c0"
	printf '  %-7s %-15s %6.1f s\n' gluster "$wl" \
		"$(awk -v t=$(($(now_us) - t0)) 'BEGIN { print t / 1e6 }')" >&2
}

# freeze_reps: repetitions of the freeze rows (3, quick 1).
freeze_phase() {
	local wl rep n
	n=${BENCH_FREEZE_REPS:-$([[ $VARIANT == quick ]] && echo 1 || echo 2)}
	for wl in freeze_kill freeze_hang; do
		[[ " ${WORKLOADS[*]} " == *" $wl "* ]] || continue
		for ((rep = 1; rep <= n; rep++)); do
			note "$wl $rep/$n"
			freeze_ofsrep "$wl" "$rep"
			[[ $GLUSTER != 0 ]] || continue
			if [[ $wl == freeze_hang && $VARIANT == quick ]]; then
				continue	# 60 s each: full variant only
			fi
			freeze_gluster "$wl" "$rep"
		done
	done
}

# ---------------------------------------------------------------- report

report() {
	local wall=$1 commit title sub
	commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$REPO" status --porcelain -- fs replica journal 2>/dev/null) ]]; then
		commit="$commit+dirty"
	fi
	local glnote=()
	[[ $GLUSTER == 0 ]] || glnote=(--note "GlusterFS $(glusterfs --version | head -1 | awk '{ print $2 }') replica 2 (defaults: network.ping-timeout 42 s, cluster.quorum-type auto), two bricks on this disk, FUSE client, in netns $GL_NS; CPU/RSS = FUSE client glusterfs + both brick glusterfsd (sum)")
	title="ofsrep benchmark: raw NFS, ofsrep modes, GlusterFS replica 2 ($VARIANT)"
	sub="$VARIANT, $REPS reps, $(date -u '+%F %H:%M') UTC, commit $commit"
	mkdir -p "$OUT"
	"$PY" "$BENCHDIR/report.py" "$RUNS" "$OUT" --title "$title" \
		--note "$(date -u '+%F %T') UTC, commit $commit, $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
		--note "$REPS repetitions; seq file $SIZE; $RAND_IOS random 4 KiB writes ($JOBS jobs: $((RAND_IOS / JOBS)) each); $NFILES files, $OFFICE_ROUNDS office rounds" \
		--note "ofsrep -o primary_only,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS} on NAS a of tools/ofsrep-lab (nfs-ganesha, VFS FSAL, over a veth)" \
		--note "ofsrep-journal -o secondary=NAS_B,journal,node=REP,allow_other${MOUNT_OPTS:+,$MOUNT_OPTS}: the same NAS a, journal on NAS b (same lab, same disk); $(journal_note)" \
		--note "ofsrep-full / ofsrep-async: -o mode=full / mode=async, otherwise as ofsrep-journal (own node ids)" \
		"${glnote[@]}" \
		--note "freeze: $FREEZE_SECS s writer (4 KiB write+fsync loop), NAS a / brick 1 lost from ${FREEZE_AT} s; ofsrep journal mode alone on the lab; GlusterFS hung case 60 s with the brick back after 50 s$([[ $VARIANT == quick ]] && echo '; quick: GlusterFS hung case skipped')" \
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
	freeze_phase
	report $((($(now_us) - t0) / 1000000))
}

main
