"""Exports of a trained model that live on without netexplorer: ONNX and a
torch.export program (core/graph_export.py), a TorchScript file (legacy), a
standalone Python module generated from the ModelSpec, and text files (metrics
CSV) — each written atomically, so a failed export never leaves half a file where
a good one was. FORMATS lists them for the CLI and the Export menu alike.

Every model file carries a ModelCard: what a person opening it elsewhere (Netron,
onnxruntime, torch.export.load) needs to feed it — the input's shape and
normalisation, the class names, the spec it was built from.

The Python module is generated from the spec, the one definition of the model:
its `__init__` creates the layers with the spec's names and resolved parameters
and its `forward` applies them in order — the same modules build_model() puts in
an nn.Sequential — so the app's state_dict loads into it with strict=True and the
outputs are identical for the same weights.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netexplorer import __version__
from netexplorer.core.files import write_atomically
from netexplorer.core.formatting import format_shape
from netexplorer.core.layers import LAYER_KINDS
from netexplorer.core.specs import ModelSpec, summarize

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from netexplorer.core.checkpoints import Checkpoint
    from netexplorer.core.data import Dataset

__all__ = ["ExportError", "ExportFormat", "FORMATS", "ModelCard", "class_name", "frozen_copy",
           "python_source", "write_python", "write_text", "write_file", "save_torchscript",
           "PYTHON_FILTER", "TORCHSCRIPT_FILTER", "CSV_FILTER", "CARD_FILE"]

PYTHON_FILTER = "Python files (*.py);;All files (*)"
TORCHSCRIPT_FILTER = "TorchScript (*.pt);;All files (*)"
CSV_FILTER = "CSV files (*.csv);;All files (*)"
# The ModelCard's name inside a .pt2 or TorchScript archive (read back with
# extra_files={CARD_FILE: ""}); ONNX keeps it as metadata_props instead.
CARD_FILE = "netexplorer.json"


class ExportError(ValueError):
    """An export that could not be written; the message says what to do."""


@dataclass(frozen=True)
class ExportFormat:
    """One kind of file the model (or its run) can be exported as."""

    name: str  # the CLI's --format
    title: str  # what the menu and the help call it
    suffix: str
    file_filter: str
    needs_weights: bool = True  # False: the spec (python) or the history (csv) suffice
    legacy: bool = False  # kept while torch ships it; a newer format does the job


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("onnx", "ONNX", ".onnx", "ONNX models (*.onnx);;All files (*)"),
    ExportFormat("pt2", "torch.export program", ".pt2",
                 "torch.export programs (*.pt2);;All files (*)"),
    ExportFormat("torchscript", "TorchScript (legacy)", ".pt", TORCHSCRIPT_FILTER, legacy=True),
    ExportFormat("python", "Python module", ".py", PYTHON_FILTER, needs_weights=False),
    ExportFormat("csv", "metrics CSV", ".csv", CSV_FILTER, needs_weights=False),
)}


@dataclass(frozen=True)
class ModelCard:
    """What a model file says about itself beyond its weights: without it, a person
    holding only the .onnx has to guess the input's normalisation and which output
    is which class."""

    spec: ModelSpec
    dataset: str = ""
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @classmethod
    def of_checkpoint(cls, checkpoint: Checkpoint) -> ModelCard:
        norm = checkpoint.normalization
        return cls(checkpoint.spec, checkpoint.dataset_name or "", tuple(checkpoint.classes),
                   tuple(norm.mean) if norm else (), tuple(norm.std) if norm else ())

    @classmethod
    def of_dataset(cls, spec: ModelSpec, dataset: Dataset | None) -> ModelCard:
        if dataset is None:
            return cls(spec)
        norm = dataset.normalization
        return cls(spec, dataset.name, tuple(dataset.classes), tuple(norm.mean),
                   tuple(norm.std))

    @property
    def output_name(self) -> str:
        """The graph output's name, after what the last layer gives."""
        last = self.spec.layers[-1].kind if self.spec.layers else ""
        return {"softmax": "probabilities", "logsoftmax": "log_probabilities",
                "linear": "logits"}.get(last, "output")

    def input_description(self) -> str:
        text = (f"N×{format_shape(tuple(self.spec.input_shape))} float32 images, pixels "
                f"scaled to [0, 1]")
        if self.mean and self.std:
            text += f", then (x − mean) / std per channel with mean {list(self.mean)} and " \
                    f"std {list(self.std)}"
        return text

    def metadata(self) -> dict[str, str]:
        """Plain strings (ONNX metadata_props; Netron shows them as the model's
        properties)."""
        summary = summarize(self.spec, strict=True)
        out = f"N×{format_shape(summary.output_shape)} {self.output_name}"
        if self.classes:
            out += ", one per class in 'classes'"
        data = {"exported_by": f"netexplorer {__version__}", "model": self.spec.name,
                "input": self.input_description(), "output": out,
                "spec": self.spec.to_json(indent=None)}
        if self.dataset:
            data["dataset"] = self.dataset
        if self.classes:
            data["classes"] = json.dumps(list(self.classes))
        if self.mean and self.std:
            data["mean"] = json.dumps(list(self.mean))
            data["std"] = json.dumps(list(self.std))
        return data

    def to_json(self) -> str:
        return json.dumps(self.metadata(), indent=2)


def class_name(spec_name: str) -> str:
    """The generated class's name: 'cifar-net' → 'CifarNet', '3layer' → 'Net3layer'."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", spec_name) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Net"
    if not name[0].isalpha():
        name = "Net" + name
    return name


def _torch_defaults(torch_name: str) -> dict[str, Any]:
    from torch import nn

    signature = inspect.signature(getattr(nn, torch_name).__init__)
    return {name: p.default for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def _arguments(torch_name: str, resolved: dict[str, Any]) -> str:
    """Keyword arguments for the constructor: every resolved value that differs from
    torch's own default (leaving out one equal to the default builds the same
    module), in the catalogue's order."""
    defaults = _torch_defaults(torch_name)
    parts = []
    for name, value in resolved.items():
        if name in defaults and type(defaults[name]) is type(value) and defaults[name] == value:
            continue
        parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def python_source(spec: ModelSpec, name: str | None = None) -> str:
    """A standalone module defining `class <Name>(nn.Module)` for `spec`.

    Raises SpecError for an invalid spec (nothing to generate from).
    """
    summary = summarize(spec, strict=True)
    cls = class_name(name or spec.name)
    inits, calls = [], []
    for row in summary.rows:
        torch_name = LAYER_KINDS[row.kind].torch_name
        arguments = _arguments(torch_name, dict(row.resolved))
        inits.append(f"        self.{row.name} = nn.{torch_name}({arguments})"
                     f"  # → {format_shape(row.output_shape)}")
        calls.append(f"        x = self.{row.name}(x)")
    shape = tuple(spec.input_shape)
    out = format_shape(summary.output_shape)
    # The spec's name may hold any character: escaped, it cannot end the docstring.
    title = spec.name.encode("unicode_escape").decode("ascii").replace('"', "'")
    return f'''"""{cls}: the '{title}' network, generated by netexplorer {__version__}.

Input: a batch of {format_shape(shape)} images (N×{format_shape(shape)}); output: N×{out}.
{summary.total_params:,} parameters.

Load weights saved by netexplorer (File → Export → Checkpoint):

    model = {cls}()
    model.load_state_dict(load_checkpoint_weights("model.ckpt"))
    model.eval()

The layer names are the spec's, so the checkpoint's state_dict fits exactly.
Inputs must be prepared as in netexplorer: scaled to [0, 1], then normalised
with the dataset's mean and std (stored in the checkpoint under "dataset").
"""

import torch
from torch import nn

INPUT_SHAPE = {shape!r}


class {cls}(nn.Module):
    def __init__(self) -> None:
        super().__init__()
{chr(10).join(inits)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
{chr(10).join(calls)}
        return x


def load_checkpoint_weights(path: str) -> dict:
    """The model weights from a netexplorer checkpoint (read as data, never code)."""
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


if __name__ == "__main__":
    model = {cls}().eval()
    with torch.no_grad():
        print(model(torch.zeros(1, *INPUT_SHAPE)).shape)
'''


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) atomically: beside the target, then os.replace."""
    return write_file(path, lambda handle: handle.write(text.encode("utf-8")))


def write_python(path: str | os.PathLike, spec: ModelSpec) -> Path:
    return write_text(path, python_source(spec))


def frozen_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of `model` in eval mode, for tracing or scripting: the live model is
    left alone (it may be training, on another device)."""
    return copy.deepcopy(model).cpu().eval()


def save_torchscript(model: Any, path: str | os.PathLike, card: ModelCard | None = None
                     ) -> Path:
    """Script a CPU copy of `model` in eval mode and save it atomically (with the
    card as the archive's netexplorer.json, when given).

    The file loads anywhere with torch.jit.load, without netexplorer. TorchScript is
    deprecated upstream in favour of torch.export (FORMATS["pt2"]); the menu and the
    CLI call it legacy, so torch's FutureWarning is not passed on as well.
    """
    import torch

    frozen = frozen_copy(model)
    extra = {CARD_FILE: card.to_json()} if card is not None else {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        try:
            scripted = torch.jit.script(frozen)
        except Exception as exc:  # a custom module TorchScript cannot compile
            raise ExportError(f"TorchScript could not compile the model: {exc}") from None
        return write_file(path, lambda handle: torch.jit.save(scripted, handle,
                                                              _extra_files=extra))


def write_file(path: str | os.PathLike, write: Callable[[Any], Any]) -> Path:
    """write(handle) into `path` atomically; a failure is an ExportError saying what
    to do."""
    path = Path(path)
    try:
        return write_atomically(path, write)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc} — choose another "
                          f"folder or free some space") from None
