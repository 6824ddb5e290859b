#!/usr/bin/env bash
# Every benchmark in turn, with its default settings, each timed; what each prints
# is its figures against issue 18's targets. `make bench` runs this.
#
#     benchmarks/run_all.sh [PYTHON]      (default: .venv/bin/python)
#
# A benchmark below its target does not stop the others; the exit status is that
# of the first one that exited non-zero (a crash, or bench_startup's missed target).
set -u
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
status=0
start_all=$SECONDS
for bench in bench_training bench_inspection bench_store bench_gui bench_views \
             bench_startup bench_close bench_gpu; do
    echo "=== $bench"
    start=$SECONDS
    "$PY" "benchmarks/$bench.py" || { rc=$?; echo "($bench exited $rc)"; \
                                       [ "$status" -eq 0 ] && status=$rc; }
    echo "=== $bench took $((SECONDS - start)) s"
    echo
done
echo "all benchmarks took $((SECONDS - start_all)) s"
exit "$status"
