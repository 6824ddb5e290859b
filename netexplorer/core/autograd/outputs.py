"""What a console run leaves to show, as plain records (no torch): the GUI reads
them before torch has loaded, and they are all that crosses from the console's
thread."""

from __future__ import annotations

from dataclasses import dataclass

from netexplorer.core.autograd.graph import AutogradGraph
from netexplorer.core.autograd.snapshot import TensorRecord

VALUE, PRINTED, ERROR, REFUSED, STOPPED, CHANGED, NOTE = (
    "value", "printed", "error", "refused", "stopped", "changed", "note")


@dataclass(frozen=True)
class Output:
    """One line (or block) of console output. `kind` is one of VALUE (what an
    expression returned), PRINTED, CHANGED (a tensor changed in place), ERROR,
    REFUSED, STOPPED or NOTE (what a step would do where it cannot run)."""

    source: str
    kind: str
    text: str


@dataclass(frozen=True)
class ConsoleState:
    """What a run leaves to show: its outputs, every tensor, the graph."""

    outputs: tuple[Output, ...]
    tensors: tuple[TensorRecord, ...]
    graph: AutogradGraph
    ok: bool
    elapsed_s: float
    cuda: bool
