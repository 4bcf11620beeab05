#!/bin/sh
# The test runner behind `make test` (and so behind CI).
#
#   tests/run-tests.sh [--unit-only] BUILD [SANITIZER_BUILD]
#
# 1. Every criterion unit-test binary in BUILD/tests (and SANITIZER_BUILD).
# 2. The integration suites in tests/integration (pytest; real ganesha NAS
#    boxes from tools/ofsrep-lab, a real FUSE mount) against BUILD/ofsrep,
#    then again against SANITIZER_BUILD/ofsrep (ASan+UBSan) with every
#    mount in journal mode (-o journal), where any sanitizer report written
#    by the daemon fails the run.
# Prints one closing line "N passed, N failed" and exits non-zero if
# anything failed.  OFSREP_LONG=1 selects the long randomized runs.
set -u
cd "$(dirname "$0")/.."

unit_only=0
if [ "${1:-}" = "--unit-only" ]; then
	unit_only=1
	shift
fi
[ $# -ge 1 ] || { echo "usage: $0 [--unit-only] BUILD [SANITIZER_BUILD]" >&2; exit 2; }

PY=/usr/bin/python3
passed=0
failed=0
results=$(mktemp -d /tmp/ofsrep-test-results.XXXXXX)
trap 'rm -rf "$results"' EXIT

# Criterion prints "[====] Synthesis: Tested: N | Passing: P | Failing: F | Crashing: C"
run_unit() {
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		out="$results/$(basename "$t").out"
		"$t" --jobs 2 >"$out" 2>&1
		rc=$?
		syn=$(grep "Synthesis" "$out" | tail -1)
		p=$(echo "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
		f=$(echo "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
		c=$(echo "$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
		p=${p:-0}; f=${f:-0}; c=${c:-0}
		if [ "$rc" -ne 0 ] && [ $((f + c)) -eq 0 ]; then
			f=1	# crashed before criterion could count
		fi
		echo "unit  $t: $p passed, $((f + c)) failed"
		[ $((f + c)) -gt 0 ] && cat "$out"
		passed=$((passed + p))
		failed=$((failed + f + c))
	done
}

# pytest's junit report gives exact counts.
run_integration() {
	build=$1
	label=$2
	mount_opts=$3
	shift 3
	xml="$results/$label.xml"
	asan_dir="$results/asan-$label"
	mkdir -p "$asan_dir"
	echo "== integration tests against $build/ofsrep ($label${mount_opts:+, $mount_opts})"
	OFSREP_BIN="$PWD/$build/ofsrep" \
	OFSREP_RAWNFS="$PWD/$build/ofsrep-rawnfs" \
	OFSREP_MOUNT_OPTS="$mount_opts" \
	ASAN_OPTIONS="log_path=$asan_dir/asan:detect_leaks=1" \
	LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
	UBSAN_OPTIONS="log_path=$asan_dir/ubsan:print_stacktrace=1" \
		$PY -m pytest -q -p no:cacheprovider --junitxml="$xml" \
		"${@:-tests/integration}"
	counts=$($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f, sk)
PYEOF
) || counts="0 1 0"
	set -- $counts
	passed=$((passed + $1))
	failed=$((failed + $2))
	if ls "$asan_dir"/* >/dev/null 2>&1; then
		echo "sanitizer reports from the daemon ($label):"
		cat "$asan_dir"/*
		failed=$((failed + 1))
	fi
}

for b in "$@"; do
	run_unit "$b"
done
if [ "$unit_only" = 0 ]; then
	# Everything in the default mode (journal), release and sanitized;
	# the other modes over the tests their code paths change.
	run_integration "$1" release ""
	[ $# -ge 2 ] && run_integration "$2" sanitizer ""
	run_integration "$1" primary-only "-o primary_only" \
		tests/integration/test_posix.py \
		tests/integration/test_randomops.py \
		tests/integration/test_faults_primary.py
	for mode in async full; do
		run_integration "$1" "mode-$mode" "-o mode=$mode" \
			tests/integration/test_journal_mirror.py \
			tests/integration/test_randomops.py
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
