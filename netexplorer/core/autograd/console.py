"""A console session: the person's names, their statements, and what to show.

Console.run(source) runs each statement of `source` through the evaluator and
returns a ConsoleState — plain records only: what each statement printed or
returned (the way Python's prompt shows it, like the tutorial's printouts),
which tensors changed in place (the version counter going up, and the names
that share their memory changing with them), every tensor and array the names
hold (snapshot.py), and the autograd graph behind them (graph.py). The first
statement that fails stops the rest; its error is said in a person's words
(messages.py).

Every backward() a statement calls is wrapped in a GradientRecorder, so that
the graph shows the gradient that flowed through each node as well as each
leaf's .grad.

A Console is used by one thread at a time (the GUI's console job thread, or
the CLI); only its ConsoleStates leave it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from netexplorer.core.autograd.evaluator import TIME_LIMIT_S, Evaluator, Stopped, parse
from netexplorer.core.autograd.graph import (
    GradientRecorder,
    RecordedGradient,
    trace_graph,
    walk,
)
from netexplorer.core.autograd.limits import Refused
from netexplorer.core.autograd.messages import explain
from netexplorer.core.autograd.outputs import (
    CHANGED,
    ERROR,
    NOTE,
    PRINTED,
    REFUSED,
    STOPPED,
    VALUE,
    ConsoleState,
    Output,
)
from netexplorer.core.autograd.snapshot import describe_all

# Arrays up to this size are compared before and after each statement, to see a
# change made through shared memory.
_COMPARED_ARRAY_SIZE = 100_000
_MAX_VALUE_TEXT = 4000

def _value_text(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_TEXT else text[:_MAX_VALUE_TEXT - 1] + "…"


class Console:
    """See the module doc."""

    def __init__(self, time_limit_s: float = TIME_LIMIT_S) -> None:
        self._gradients: dict[int, RecordedGradient] = {}
        self._evaluator = Evaluator(time_limit_s=time_limit_s,
                                    around_backward=self._recording)
        # The first meta-device call loads torch's shape rules (seconds): paid here,
        # before a person's first statement is timed.
        torch.empty(2, 2, device="meta") + torch.empty(2, device="meta")

    @property
    def names(self) -> Mapping[str, Any]:
        return self._evaluator.names

    def _recording(self, tensor: Any) -> GradientRecorder:
        return GradientRecorder(tensor, self._gradients)

    def reset(self) -> ConsoleState:
        """Forget every name."""
        self._evaluator.names = {}
        self._gradients.clear()
        return self.state((), ok=True, elapsed_s=0.0)

    def run(self, source: str) -> ConsoleState:
        """Run `source` (one or more statements); see the module doc."""
        started = time.perf_counter()
        outputs: list[Output] = []
        changes: dict[str, list[str]] = {}
        ok = True
        try:
            statements = parse(source)
        except SyntaxError as exc:
            where = f" (line {exc.lineno}, column {exc.offset})" if exc.lineno else ""
            outputs.append(Output(source, ERROR, f"not a Python statement: {exc.msg}{where}"))
            statements, ok = [], False
        except Refused as exc:
            outputs.append(Output(source, REFUSED, f"refused: {exc}"))
            statements, ok = [], False
        for statement in statements:
            before = self._before()
            try:
                result = self._evaluator.run_statement(statement, source)
            except Refused as exc:
                outputs.append(Output(source, REFUSED, f"refused: {exc}"))
                ok = False
            except Stopped as exc:
                outputs.append(Output(source, STOPPED, str(exc)))
                ok = False
            except Exception as exc:  # torch's and Python's errors, said for a person
                outputs.append(Output(source, ERROR, explain(exc, self.names)))
                ok = False
            else:
                if result.printed:
                    outputs.append(Output(result.source, PRINTED, result.printed.rstrip("\n")))
                if result.has_value and result.value is not None \
                        and not isinstance(result.value, torch.Generator):
                    outputs.append(Output(result.source, VALUE, _value_text(result.value)))
            changed = self._changes_since(before)
            for name, note in changed.items():
                changes.setdefault(name, []).append(note)
                outputs.append(Output(source, CHANGED, f"{name}: {note}"))
            if not ok:
                break
        return self.state(tuple(outputs), ok=ok, elapsed_s=time.perf_counter() - started,
                          changes=changes)

    def run_step(self, code: str, needs_cuda: bool = False, without_cuda: str = ""
                 ) -> ConsoleState:
        """Run a lesson's step; a step that needs a CUDA GPU, where there is none, is
        not run: its note says what it would do."""
        if needs_cuda and not torch.cuda.is_available():
            note = Output(code, NOTE, f"not run: this machine has no CUDA GPU. On one, "
                                      f"this step {without_cuda}.")
            return self.state((note,), ok=True, elapsed_s=0.0)
        return self.run(code)

    def state(self, outputs: tuple[Output, ...], *, ok: bool, elapsed_s: float,
              changes: Mapping[str, list[str]] | None = None) -> ConsoleState:
        """The ConsoleState of the names as they are now."""
        names = self.names
        roots = [(n, v) for n, v in names.items()
                 if isinstance(v, torch.Tensor) and v.requires_grad]
        graph = trace_graph(roots, gradients=self._gradients)
        reachable = {id(n) for n in walk([v.grad_fn for _, v in roots])}
        for key in [k for k in self._gradients if k not in reachable]:
            del self._gradients[key]
        return ConsoleState(outputs, describe_all(names, changes), graph, ok, elapsed_s,
                            torch.cuda.is_available())

    # ------------------------------------------------------------------ what changed

    def _before(self) -> dict[str, Any]:
        """Each name's value with its version counter (tensors) and, when small, a
        copy of its values: memory written through another name (numpy writing into
        a tensor's memory) changes no version counter."""
        seen: dict[str, Any] = {}
        for name, value in self.names.items():
            if isinstance(value, torch.Tensor):
                small = value.device.type == "cpu" and value.numel() <= _COMPARED_ARRAY_SIZE
                seen[name] = (value, int(value._version),
                              value.detach().clone() if small else None)
            elif isinstance(value, np.ndarray) and value.size <= _COMPARED_ARRAY_SIZE:
                seen[name] = (value, None, value.copy())
        return seen

    def _changes_since(self, before: Mapping[str, Any]) -> dict[str, str]:
        changed: dict[str, str] = {}
        for name, (value, version, copy) in before.items():
            if self.names.get(name) is not value:
                continue  # rebound: a new tensor, not a change
            if isinstance(value, torch.Tensor) and int(value._version) != version:
                changed[name] = (f"changed in place (version {version} → "
                                 f"{int(value._version)})")
            elif isinstance(value, torch.Tensor) and copy is not None \
                    and not torch.equal(value.detach(), copy):
                changed[name] = "changed through its memory (its version stays)"
            elif isinstance(value, np.ndarray) and not np.array_equal(value, copy,
                                                                       equal_nan=True):
                changed[name] = "changed in place"
        if changed:
            self._note_shared(changed)
        return changed

    def _note_shared(self, changed: dict[str, str]) -> None:
        """Say which changes came through shared memory (the numpy bridge)."""
        from netexplorer.core.autograd.snapshot import shared_memory

        shared = shared_memory({n: v for n, v in self.names.items()
                                if isinstance(v, torch.Tensor | np.ndarray)})
        for name in list(changed):
            partners = [p for p in shared.get(name, ()) if p in changed]
            if partners:
                changed[name] += f" — shares memory with {', '.join(partners)}"


__all__ = ["CHANGED", "ERROR", "NOTE", "PRINTED", "REFUSED", "STOPPED", "VALUE", "Console",
           "ConsoleState", "Output"]
