"""How long closing the window during training takes, from the close to the end of
the process.

Each run starts the real app in a fresh process (offscreen), starts training,
closes the window once the first batches have been reported, and times the
process's exit. The unit test (tests/ui/test_close_during_training.py) only
checks that this ends cleanly; the time belongs here, where a noisy machine's
figure is a median of several runs, not a pass/fail in CI.

    python benchmarks/bench_close.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.test_close_during_training import run_and_close

TARGET_S = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    times = []
    with tempfile.TemporaryDirectory() as folder:
        # The app's runs, data and config in the temporary folder: a person's stored
        # runs would be listed into the session, and the script starts training only
        # in a session without runs (it would wait forever).
        os.environ.update(NETEXPLORER_RUNS=f"{folder}/runs", NETEXPLORER_DATA=f"{folder}/data",
                          XDG_CONFIG_HOME=f"{folder}/config", XDG_DATA_HOME=f"{folder}/share")
        for i in range(args.runs):
            _out, err, took = run_and_close(Path(folder) / f"s{i}.ini")
            if "Destroyed while thread" in err:
                print("the process aborted with a running QThread", file=sys.stderr)
                return 1
            times.append(took)
            print(f"run {i + 1}: {took:.2f} s", flush=True)
    median = statistics.median(times)
    verdict = "ok" if median <= TARGET_S else "over target"
    print(f"close during training → process exit: median {median:.2f} s, max "
          f"{max(times):.2f} s over {len(times)} runs (target ≤ {TARGET_S:.1f} s: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
