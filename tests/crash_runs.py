"""Real `netexplorer train` processes on one runs folder, SIGKILLed at random points
(or left to finish), for the run store's fault tests and for longer runs by hand:

    .venv/bin/python -m tests.crash_runs PLANS.json > results.jsonl

PLANS.json holds one plan or a list of them, run one after the other. A plan:
{"runs_dir", "argv" (train's arguments), "tries", "concurrency", "seed", "kill_within":
[low, high] seconds after the run says its id (null: never kill), "batches_per_epoch",
and optionally "extra": more arguments for try i, the i-th of the list taken in turn
(with "batches_per_epoch" a list taken in turn beside it)}. One JSON line per try: its
pid, run id, when its id was printed and when it was killed (time.time()), the last
step it printed before the kill and before the kill minus 2 s, its exit status, and
the plan's place in the list.

Importing torch, the CLI and scikit-learn takes seconds of CPU, more than a tiny run:
this process imports them once, with one intra-op thread and no parallel work done
(so forking is safe), then forks one child per try, which calls the CLI's main() as
`netexplorer train …` would and is killed with SIGKILL — the kernel ends it at once,
as a power cut or the OOM killer would, without any of its cleanup.
"""

from __future__ import annotations

import json
import os
import random
import re
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN_LINE = re.compile(r"^Run (\d{8}-\d{6}-[0-9a-f]{6})\b")
STEP_LINE = re.compile(r"^\[(\d+), +(\d+)\] loss: ")


@dataclass
class Try:
    number: int
    pid: int
    fd: int
    buffer: bytes = b""
    run_id: str | None = None
    started: float | None = None
    kill_at: float | None = None
    killed_at: float | None = None
    batches_per_epoch: int = 0
    printed: list[tuple[float, int]] = field(default_factory=list)  # (time, global step)
    lines: int = 0
    done: bool = False


def prepare() -> None:
    """Everything the children need, imported (and torch's lazy imports run) once."""
    os.environ["NETEXPLORER_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    import sklearn.datasets  # noqa: F401 - the digits loader's import, seconds of it
    import torch.utils.tensorboard

    import netexplorer.cli.main
    import netexplorer.cli.run  # noqa: F401 - imported for the children

    # The first optimizer made in a process imports torch._dynamo (about a second).
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def start(number: int, argv: list[str], logs: Path) -> Try:
    read, write = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: `netexplorer train …`, its stdout into the pipe
        code = 70
        try:
            os.close(read)
            os.dup2(write, 1)
            err = os.open(logs / f"try-{number}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(err, 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            from netexplorer.cli.main import main

            code = main(argv)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(write)
    os.set_blocking(read, False)
    return Try(number, pid, read)


def take_lines(t: Try, data: bytes, plan: dict, rng: random.Random) -> None:
    now = time.time()
    t.buffer += data
    *lines, t.buffer = t.buffer.split(b"\n")
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        t.lines += 1
        found = RUN_LINE.match(line)
        if found and t.run_id is None:
            t.run_id, t.started = found.group(1), now
            if plan.get("kill_within"):
                low, high = plan["kill_within"]
                t.kill_at = time.monotonic() + rng.uniform(low, high)
        step = STEP_LINE.match(line)
        if step:
            epoch, batch = int(step.group(1)), int(step.group(2))
            t.printed.append((now, (epoch - 1) * t.batches_per_epoch + batch))


def result(t: Try, status: int) -> dict:
    def last_before(moment: float | None) -> int:
        if moment is None:
            return max((s for _, s in t.printed), default=0)
        return max((s for when, s in t.printed if when <= moment), default=0)

    return {"try": t.number, "pid": t.pid, "run_id": t.run_id, "started": t.started,
            "batches_per_epoch": t.batches_per_epoch,
            "killed_at": t.killed_at, "printed_last": last_before(t.killed_at),
            "printed_2s_before": last_before(t.killed_at - 2.0) if t.killed_at else None,
            "lines": t.lines, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}


def run(plan: dict, place: int = 0) -> None:
    rng = random.Random(plan.get("seed", 0))
    logs = Path(plan["runs_dir"]).parent / "crash-logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = ["train", *plan["argv"], "--runs-dir", plan["runs_dir"]]
    waiting = list(range(plan["tries"]))
    running: dict[int, Try] = {}
    selector = selectors.DefaultSelector()
    while waiting or running:
        while waiting and len(running) < plan.get("concurrency", 1):
            number = waiting.pop(0)
            extra = plan.get("extra") or [[]]
            t = start(number, argv + extra[number % len(extra)], logs)
            per_epoch = plan["batches_per_epoch"]
            t.batches_per_epoch = (per_epoch[number % len(per_epoch)]
                                   if isinstance(per_epoch, list) else per_epoch)
            running[t.fd] = t
            selector.register(t.fd, selectors.EVENT_READ)
        deadlines = [t.kill_at for t in running.values()
                     if t.kill_at is not None and t.killed_at is None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for key, _ in selector.select(timeout):
            t = running[key.fd]
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if data:
                take_lines(t, data, plan, rng)
            else:  # the child closed its stdout: it ended (or was killed)
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(t.pid, 0)
                del running[key.fd]
                print(json.dumps({"plan": place, **result(t, status)}), flush=True)
        now = time.monotonic()
        for t in running.values():
            if t.kill_at is not None and t.killed_at is None and now >= t.kill_at:
                os.kill(t.pid, signal.SIGKILL)
                t.killed_at = time.time()


def main() -> None:
    plans = json.loads(Path(sys.argv[1]).read_text())
    prepare()
    for number, plan in enumerate(plans if isinstance(plans, list) else [plans]):
        run(plan, number)


if __name__ == "__main__":
    main()
