#!/usr/bin/env bash
# The whole suite, N times in a row, on a fresh clone of HEAD, while another process
# keeps one core busy: a suite is green every time or it is broken.
#
#   tools/stress_tests.sh [N] [pytest args…]     e.g. tools/stress_tests.sh 10
#   tools/stress_tests.sh 1 --random-order       one run with the tests shuffled
#
# The clone gets its own .venv through `make test` (as CI does); logs are kept
# in the folder it prints, and the clone (6 GB with its .venv) is removed at the
# end: kept, a few sessions of stress runs filled the disk. Exits non-zero unless
# every run passed.
set -u
runs=${1:-10}
shift $(( $# > 0 ? 1 : 0 ))
extra="$*"
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/netexplorer-stress.XXXXXX")
echo "fresh clone of $(git -C "$repo" rev-parse --short HEAD) in $work/clone"
git clone --quiet "$repo" "$work/clone" || exit 1
cd "$work/clone" || exit 1

# One core kept busy, as a second job on a CI machine would.
( while :; do :; done ) &
busy=$!
trap 'kill $busy 2>/dev/null; cd /; rm -rf "$work/clone"' EXIT

passed=0
for i in $(seq 1 "$runs"); do
    log="$work/run$i.log"
    start=$(date +%s)
    if make test PYTEST_ARGS="-p no:cacheprovider $extra" >"$log" 2>&1; then
        passed=$((passed + 1))
        result="passed"
    else
        result="FAILED ($log)"
    fi
    summary=$(grep -E "^[0-9]+ (passed|failed)|^=+ .*(passed|failed)" "$log" | tail -1)
    echo "run $i: $result in $(( $(date +%s) - start )) s — ${summary:-no summary}"
    grep -E "^(FAILED|ERROR) " "$log" | sed 's/^/    /'
done
echo "$passed of $runs runs passed"
[ "$passed" -eq "$runs" ]
