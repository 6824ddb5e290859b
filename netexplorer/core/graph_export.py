"""The model as a traced graph: an ONNX file (Netron, onnxruntime, TensorRT …) and
a torch.export program (.pt2), the form PyTorch itself now builds on.

Both start from torch.export: a CPU copy of the model in eval mode is traced with
an example batch whose first dimension is declared dynamic, so the files take a
batch of any size. ONNX goes through torch.onnx.export's dynamo-based exporter at
opset ONNX_OPSET (stated in the file's opset_import and its metadata). A model a
tracer cannot take is tried again layer by layer, so the error names the layer
and gives the tracer's reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netexplorer.core.export import CARD_FILE, ExportError, ModelCard, frozen_copy, write_file

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = ["ONNX_OPSET", "BATCH_DIM", "INPUT_NAME", "exported_program", "save_exported_program",
           "save_onnx"]

# Opset 20: torch 2.14's default (no version conversion pass) and read by
# onnxruntime from 1.17 on, by Netron and by the other runtimes of 2024 on.
ONNX_OPSET = 20
BATCH_DIM = "batch"
INPUT_NAME = "images"
# torch.export specialises a dimension of size 0 or 1: the example batch is 2.
_EXAMPLE_BATCH = 2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _dynamic_batch() -> tuple[dict[int, Any]]:
    import torch

    return ({0: torch.export.Dim(BATCH_DIM, min=1)},)


def _example(card: ModelCard) -> torch.Tensor:
    import torch

    return torch.zeros(_EXAMPLE_BATCH, *card.spec.input_shape)


def _trace(module: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    import torch

    return torch.export.export(module, (example,), dynamic_shapes=_dynamic_batch())


def exported_program(model: nn.Module, card: ModelCard) -> torch.export.ExportedProgram:
    """The model traced by torch.export, batch dimension dynamic; ExportError naming
    the layer it cannot take."""
    frozen = frozen_copy(model)
    example = _example(card)
    try:
        return _trace(frozen, example)
    except Exception as exc:  # torch.export raises many kinds; each is the model's
        raise _located("torch.export", frozen, example, _trace, exc) from None


def save_exported_program(model: nn.Module, path: str | os.PathLike,
                          card: ModelCard) -> Path:
    """Write the torch.export program (torch.export.load reads it; its .module() runs
    it), the card inside as netexplorer.json."""
    import torch

    program = exported_program(model, card)
    extra = {CARD_FILE: card.to_json()}
    return write_file(path, lambda handle: torch.export.save(program, handle,
                                                             extra_files=extra))


def _to_onnx(module: nn.Module, example: torch.Tensor, output_name: str = "output") -> Any:
    import torch

    return torch.onnx.export(module, (example,), dynamo=True, opset_version=ONNX_OPSET,
                             dynamic_shapes=_dynamic_batch(), input_names=[INPUT_NAME],
                             output_names=[output_name], verbose=False)


def save_onnx(model: nn.Module, path: str | os.PathLike, card: ModelCard) -> Path:
    """Write plain ONNX (weights inside, no external data): one input `images` of
    N×C×H×W, one output named after the last layer, the card as metadata_props."""
    _require_onnx_exporter()
    frozen = frozen_copy(model)
    example = _example(card)
    try:
        program = _to_onnx(frozen, example, card.output_name)
    except Exception as exc:
        if type(exc).__name__ == "TorchExportError":  # step 1, the trace: torch.export's reason
            raise _located("ONNX (through torch.export)", frozen, example, _trace,
                           exc) from None
        raise _located("ONNX", frozen, example, _to_onnx, exc) from None
    onnx_model = program.model
    onnx_model.graph.name = card.spec.name
    onnx_model.doc_string = (f"{card.spec.name}: input {card.input_description()}. "
                             f"Exported by netexplorer at ONNX opset {ONNX_OPSET}.")
    onnx_model.metadata_props.update({**card.metadata(), "onnx_opset": str(ONNX_OPSET)})
    data = program.model_proto.SerializeToString()
    return write_file(path, lambda handle: handle.write(data))


def _require_onnx_exporter() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise ExportError(f"ONNX export needs the {' and '.join(missing)} package"
                          f"{'s' if len(missing) > 1 else ''}: pip install "
                          f"{' '.join(missing)}")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _located(what: str, model: nn.Module, example: torch.Tensor,
             attempt: Callable[[nn.Module, torch.Tensor], Any], exc: Exception) -> ExportError:
    """An ExportError naming the first layer `attempt` fails on alone (with the input
    it gets in the model), else the whole model's reason."""
    import torch

    children = list(model.named_children()) if isinstance(model, torch.nn.Sequential) else []
    x = example
    for name, layer in children:
        try:
            attempt(layer, x)
        except Exception as layer_exc:
            return ExportError(f"{what} cannot take layer '{name}' ({type(layer).__name__}): "
                               f"{_reason(layer_exc)}")
        with torch.no_grad():
            x = layer(x)
    return ExportError(f"{what} cannot take the model: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The first line of a tracer's message, without its colours."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
