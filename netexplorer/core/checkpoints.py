"""Checkpoints: everything needed to evaluate a model later or resume its training.

A checkpoint is data, never code. It holds the ModelSpec as JSON (not a pickled
module), the weights, the optimizer and schedule state, the training config, the
report history, the dataset's name, classes and normalisation, and library
versions. It is written atomically (temporary file in the same folder, fsync,
os.replace), so a crash mid-save leaves the previous checkpoint intact, and read
with torch.load(weights_only=True), so a crafted file cannot run code.

Nothing in a checkpoint is trusted more than a person's typing: the sizes its zip
declares are checked before anything is unpacked (a zip bomb is refused without
inflating it), the weights must have the model's types and be finite, and the
dataset name and normalisation go through the checks a user's would.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netexplorer import __version__
from netexplorer.core.data import Dataset, Normalization, check_dataset_name
from netexplorer.core.errors import CheckpointError, DatasetError
from netexplorer.core.files import write_atomically
from netexplorer.core.formatting import format_shape
from netexplorer.core.specs import MAX_PARAMETERS, ModelSpec, SpecError, build_model, format_bytes
from netexplorer.core.training import TrainConfig, Trainer

__all__ = ["Checkpoint", "CheckpointError", "PlainStateDict", "checkpoint_of",
           "load_checkpoint", "load_weights", "save_checkpoint", "saved_state",
           "write_saved_state"]

FORMAT = "netexplorer-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".ckpt"
# What the largest model a spec allows needs unpacked: its float32 weights, Adam's
# two moments of each, and room for the rest. A checkpoint declaring more is refused
# before anything is read into memory.
MAX_CHECKPOINT_BYTES = 16 * MAX_PARAMETERS
# torch.save stores its zip members uncompressed, so a checkpoint unpacks to about
# its own size; a file whose members would inflate far beyond it is a zip bomb.
MAX_INFLATION = 4
_ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells its zip format from a bare pickle
# Where other programs keep a state_dict inside a dict: the PyTorch tutorial's "general
# checkpoint" (model_state_dict beside the optimizer's), Lightning and others.
_STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")


class PlainStateDict(CheckpointError):
    """The file holds weights by name and no model — what the PyTorch tutorial's
    `torch.save(net.state_dict(), PATH)` writes. load_weights loads it into a
    ModelSpec whose layer names and shapes fit."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded checkpoint. `trainer_state` is None for weights-only checkpoints."""

    spec: ModelSpec
    model_state: dict[str, torch.Tensor]
    config: TrainConfig | None = None
    trainer_state: dict[str, Any] | None = None
    dataset_name: str | None = None
    classes: tuple[str, ...] = ()
    normalization: Normalization | None = None
    versions: dict[str, str] = field(default_factory=dict)
    saved_at: str = ""

    @property
    def history(self) -> dict[str, list]:
        if self.trainer_state is None:
            return {"epochs": [], "step_losses": [], "step_lrs": []}
        return self.trainer_state["history"]

    @property
    def epochs_done(self) -> int:
        return int(self.trainer_state["position"]["epoch"]) if self.trainer_state else 0

    def build_model(self) -> nn.Module:
        """The spec's module with the saved weights; CheckpointError on a mismatch."""
        try:
            model = build_model(self.spec)
        except SpecError as exc:
            raise CheckpointError(f"the checkpoint's model spec is invalid: {exc}") from None
        try:
            model.load_state_dict(self.model_state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = first[1].strip() if len(first) > 1 else first[0] if first else ""
            raise CheckpointError(f"the checkpoint's weights do not fit its model "
                                  f"'{self.spec.name}': {detail}") from None
        return model


def save_checkpoint(path: str | os.PathLike, trainer: Trainer | None = None, *,
                    spec: ModelSpec | None = None, model: nn.Module | None = None,
                    dataset: Dataset | None = None, config: TrainConfig | None = None) -> Path:
    """Write a checkpoint atomically and return its path.

    Pass a Trainer to save everything needed to resume; or spec and model (and
    optionally the dataset and config) for a weights-only checkpoint. Weights that
    hold NaN or infinity are refused with a CheckpointError: such a file could
    never be loaded, and writing it would replace the good checkpoint there.
    """
    payload = _payload(f"not saved to {path}", trainer, spec, model, dataset, config)
    return _write_atomically(Path(path), payload)


def saved_state(trainer: Trainer, *, copy: bool = True) -> dict[str, Any]:
    """What save_checkpoint would write for `trainer` now, copied: kept in memory
    (the run store's best epoch) and written later with write_saved_state.

    With copy=False its tensors are the trainer's own (no time spent copying them):
    valid only until the trainer's next step, for writing at once — the run store
    writes last.ckpt and best.ckpt of the same moment from one state."""
    state = _payload("cannot keep this state", trainer)
    return _copied(state) if copy else state


def _copied(value: Any) -> Any:
    """A copy of a checkpoint's contents: every tensor cloned, every container new;
    numbers and text, which cannot change, shared. (copy.deepcopy does the same
    work through its memo and reduce protocol, several times slower.)"""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value) if _only_scalars(value) else [_copied(v) for v in value]
    if isinstance(value, tuple):
        return value if _only_scalars(value) else tuple(_copied(v) for v in value)
    if value is None or isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


_SCALARS = (bool, int, float, str, bytes)
_SCALAR_TYPES = frozenset((bool, int, float, str, bytes, type(None)))


def _only_scalars(values: list | tuple) -> bool:
    """Whether a list holds only numbers or text (a run's every step's loss): copied
    whole, not element by element."""
    return all(type(v) in _SCALAR_TYPES for v in values)


def write_saved_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write what saved_state kept, atomically, as a checkpoint file."""
    return _write_atomically(Path(path), state)


def checkpoint_of(trainer: Trainer) -> Checkpoint:
    """Where `trainer` stands, as a Checkpoint held in memory: what save_checkpoint
    would write and load_checkpoint read back, with every tensor copied (the next
    run's optimizer never shares a buffer with this one's). The GUI continues a run
    from it exactly as `netexplorer train --resume` continues from a file."""
    payload = copy.deepcopy(_payload("cannot continue this run", trainer))
    return _parse(Path(trainer.spec.name if trainer.spec else "model"), payload)


def _payload(refusal: str, trainer: Trainer | None = None, spec: ModelSpec | None = None,
             model: nn.Module | None = None, dataset: Dataset | None = None,
             config: TrainConfig | None = None) -> dict[str, Any]:
    """The checkpoint's contents (tensors on the CPU); `refusal` begins the message
    that refuses non-finite weights."""
    if trainer is not None:
        spec = spec or trainer.spec
        model = model or trainer.model
        dataset = dataset or trainer.dataset
        config = config or trainer.config
    if spec is None or model is None:
        raise CheckpointError("a checkpoint needs the model spec and the model "
                              "(train from a spec, or pass spec=)")
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    found = _first_non_finite(weights)
    if found is not None:  # it could never be loaded: keep whatever file is there
        key, count, total = found
        raise CheckpointError(f"{refusal}: tensor '{key}' holds {count:,} NaN or "
                              f"infinite value(s) of {total:,} (the run diverged); the file "
                              f"there, if any, is unchanged")
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "spec": spec.to_json(indent=None),
        "model": weights,
        "config": config.to_dict() if config is not None else None,
        "trainer": _to_cpu(trainer.state()) if trainer is not None else None,
        "dataset": None if dataset is None else {
            "name": dataset.name,
            "classes": list(dataset.classes),
            "mean": list(dataset.normalization.mean),
            "std": list(dataset.normalization.std),
            "input_shape": list(dataset.input_shape),
        },
        "versions": {"netexplorer": __version__, "torch": str(torch.__version__),
                     "python": platform.python_version(), **_torchvision_version()},
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _torchvision_version() -> dict[str, str]:
    """torchvision's version, without importing it when nothing has: the import takes
    over a second, and the run store's first checkpoint is written mid-run."""
    import sys

    module = sys.modules.get("torchvision")
    if module is not None:
        return {"torchvision": str(module.__version__)}
    return _installed_torchvision()


@functools.cache
def _installed_torchvision() -> dict[str, str]:
    """From the package's metadata (a third of a millisecond: once per process)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return {"torchvision": version("torchvision")}
    except PackageNotFoundError:  # pragma: no cover
        return {}


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if _only_scalars(value):  # every step's loss: nothing in it to move
            return type(value)(value)
        return type(value)(_to_cpu(v) for v in value)
    return value


def _write_atomically(path: Path, payload: dict[str, Any]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomically(path, lambda handle: torch.save(payload, handle))
    except OSError as exc:
        raise CheckpointError(f"cannot save to {path}: {exc.strerror or exc}") from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; CheckpointError for anything truncated, corrupt, foreign or
    hostile (PlainStateDict for a file of weights without a model: load_weights
    reads it). Only plain data is unpickled (weights_only=True): nothing in the file
    can run."""
    path = Path(path)
    return _parse(path, _read(path))


def load_weights(path: str | os.PathLike, spec: ModelSpec) -> Checkpoint:
    """The weights in `path` loaded into `spec`'s model, as a weights-only Checkpoint
    (no training settings, optimizer state or dataset: it evaluates, exports and
    starts a new run with a fresh optimizer).

    The file may be a plain state_dict (`torch.save(net.state_dict(), PATH)`, the
    PyTorch tutorial's way), a dict holding one under "model_state_dict" (the
    tutorial's general checkpoint) or "state_dict", or a netexplorer checkpoint. It
    is read as a checkpoint is — sizes checked first, torch.load(weights_only=True),
    every tensor of the model's type and finite — and its names and shapes must be
    the model's exactly; a CheckpointError names the first that is not.
    """
    return load_weights_into_fitting(path, [spec])


def load_weights_into_fitting(path: str | os.PathLike,
                              specs: Sequence[ModelSpec]) -> Checkpoint:
    """The weights in `path` (as load_weights reads them, once) loaded into the first
    of `specs` whose layer names and shapes they fit: the GUI offers the current
    model, then every preset, so the tutorial's `net.pth` opens as the LeNet it is.

    When none fits, the CheckpointError names the first misfit against specs[0]
    (the model the person has), and says how many others were tried."""
    if not specs:
        raise ValueError("load_weights_into_fitting needs at least one model spec")
    path = Path(path)
    state = _state_dict_of_file(path, specs[0])
    refusal: str | None = None
    for spec in specs:
        try:
            with torch.device("meta"):
                expected = build_model(spec).state_dict()
        except SpecError as exc:
            refusal = refusal or f"the model '{spec.name}' cannot be built: {exc}"
            continue
        misfit = _first_misfit(state, expected, spec.name)
        if misfit is None:
            return _weights_checkpoint(path, spec, state)
        refusal = refusal or f"{path.name} does not fit the model '{spec.name}': {misfit}"
    others = len(specs) - 1
    assert refusal is not None
    if others:
        refusal += f" (nor do they fit any of the {others} other model(s) tried: the presets)"
    raise CheckpointError(refusal)


def _state_dict_of_file(path: Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    state = _state_dict_in(_read(path))
    if state is None:
        raise CheckpointError(f"{path.name}: it holds no weights by name (a state_dict) "
                              f"to load into '{spec.name}'")
    return _without_wrapper_prefix(state)


def _weights_checkpoint(path: Path, spec: ModelSpec,
                        state: dict[str, torch.Tensor]) -> Checkpoint:
    problem = _weights_problem(spec, state)
    if problem is not None:
        raise CheckpointError(f"{path.name}: {problem}")
    checkpoint = Checkpoint(spec, dict(state))
    checkpoint.build_model()  # anything load_state_dict still refuses, said plainly
    return checkpoint


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"there is no checkpoint at {path}")
    _check_declared_sizes(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the loader raises many types for damaged files
        raise CheckpointError(_load_failure(path, exc)) from None


def _is_state_dict(value: Any) -> bool:
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                    for k, v in value.items()))


def _state_dict_in(data: Any) -> dict[str, torch.Tensor] | None:
    """The state_dict a file holds: itself, or one kept under a usual key."""
    if _is_state_dict(data):
        return data
    if isinstance(data, dict):
        for key in _STATE_DICT_KEYS:
            if _is_state_dict(data.get(key)):
                return data[key]
    return None


def _without_wrapper_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Names saved from a model wrapped in DataParallel begin with "module."."""
    prefix = "module."
    if all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _first_misfit(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor],
                  model: str) -> str | None:
    """The first name or shape that differs (in the model's order, then the file's),
    and how many more do; None when they all fit."""
    problems: list[str] = []
    for key, want in expected.items():
        have = state.get(key)
        if have is None:
            problems.append(f"the model's tensor '{key}' ({format_shape(want.shape)}) is "
                            f"missing from the file")
        elif tuple(have.shape) != tuple(want.shape):
            problems.append(f"tensor '{key}' is {format_shape(have.shape)} in the file but "
                            f"{format_shape(want.shape)} in the model")
    for key, have in state.items():
        if key not in expected:
            problems.append(f"the file's tensor '{key}' ({format_shape(have.shape)}) is not "
                            f"in the model")
    if not problems:
        return None
    more = len(problems) - 1
    return problems[0] + (f" ({more} more name(s) or shape(s) differ)" if more else "")


def _check_declared_sizes(path: Path) -> None:
    """Refuse a zip whose members would unpack to more than a checkpoint can hold.

    torch.load allocates every member at the size the zip's central directory
    declares, so these sizes are read first (zipfile reads the same directory
    and unpacks nothing): a 2 MB file declaring gigabytes never reaches it. A file
    that is not a zip is left to torch.load, which refuses it in its own words.
    """
    try:
        with open(path, "rb") as handle:
            is_zip = handle.read(4) == _ZIP_MAGIC
        if not is_zip:
            return
        file_size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise CheckpointError(_load_failure(path, exc)) from None
    limit = min(MAX_CHECKPOINT_BYTES, max(MAX_INFLATION * file_size, 1 << 20))
    if declared > limit:
        why = (f"more than any checkpoint holds ({format_bytes(MAX_CHECKPOINT_BYTES)})"
               if declared > MAX_CHECKPOINT_BYTES else
               f"over {MAX_INFLATION}× its size, where a checkpoint unpacks to about its size")
        raise CheckpointError(f"{path.name} was refused: its contents would unpack from "
                              f"{format_bytes(file_size)} to {format_bytes(declared)}, {why}; "
                              f"it is damaged or made to exhaust memory, not a checkpoint to "
                              f"load")


def _load_failure(path: Path, exc: Exception) -> str:
    text = str(exc)
    # The safe unpickler names the global it refused ("Unsupported global: GLOBAL x.y"
    # in older torch, "unsupported GLOBAL x.y whose module …" in newer). A pickle it
    # cannot even parse is refused too; other bytes are just damaged, not hostile.
    found = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", text, re.IGNORECASE)
    safe_loader = "weights only load failed" in text.lower()
    if found or (safe_loader and _starts_like_pickle(path)):
        what = f" ({found.group(1)})" if found else ""
        return (f"{path.name} was refused: it contains Python objects or code{what}, not just "
                f"data. A netexplorer checkpoint is plain data; this file may come from "
                f"another program or be hostile")
    detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text) if safe_loader else None
    first = (detail.group(1) if detail else text.strip().splitlines()[0] if text.strip()
             else type(exc).__name__)
    return (f"{path.name} is not a readable checkpoint (truncated or corrupt?): "
            f"{type(exc).__name__}: {first[:200]}")


def _starts_like_pickle(path: Path) -> bool:
    """A Python pickle of protocol 2 or later begins with PROTO and its number."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _parse(path: Path, data: Any) -> Checkpoint:
    def bad(message: str) -> CheckpointError:
        return CheckpointError(f"{path.name}: {message}")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        plain = _state_dict_in(data)
        if plain is not None:
            raise PlainStateDict(
                f"{path.name}: this is a plain state_dict ({len(plain)} tensors by name, as "
                f"torch.save(model.state_dict(), PATH) writes), not a netexplorer "
                f"checkpoint: it holds no model. Load it into a model whose layer names and "
                f"shapes fit (checkpoints.load_weights; on the command line, --model NAME "
                f"or --spec FILE)")
        raise bad("this is a PyTorch file but not a netexplorer checkpoint (another "
                  "program's file?)")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise bad(f"checkpoint format version {version!r}; this netexplorer reads version "
                  f"{FORMAT_VERSION}")
    try:
        spec = ModelSpec.from_json(data["spec"])
    except (KeyError, TypeError, SpecError) as exc:
        raise bad(f"its model spec is unusable: {exc}") from None
    state = data.get("model")
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise bad("its weights are missing or malformed")
    config = None
    if data.get("config") is not None:
        try:
            config = TrainConfig.from_dict(dict(data["config"]))
            config.validate()
        except (TypeError, ValueError) as exc:
            raise bad(f"its training settings are invalid: {exc}") from None
    trainer_state = data.get("trainer")
    if trainer_state is not None and not _valid_trainer_state(trainer_state):
        raise bad("its training state is malformed")
    dataset = data.get("dataset") or {}
    normalization = None
    classes: tuple[str, ...] = ()
    dataset_name = None
    try:
        if dataset:
            classes = tuple(str(c) for c in dataset["classes"])
            mean = tuple(float(m) for m in dataset["mean"])
            std = tuple(float(s) for s in dataset["std"])
            dataset_name = dataset.get("name")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise bad("its dataset description is malformed") from None
    if dataset:
        try:
            normalization = Normalization(mean, std)
        except DatasetError as exc:
            raise bad(str(exc)) from None
    if dataset_name is not None:
        try:
            check_dataset_name(dataset_name)  # as if the user had typed it
        except DatasetError as exc:
            raise bad(f"its dataset name is unusable: {exc}") from None
    problem = _weights_problem(spec, state)
    if problem is not None:
        raise bad(problem)
    versions = data.get("versions")
    if not isinstance(versions, dict):
        versions = {}
    checkpoint = Checkpoint(spec, state, config, trainer_state, dataset_name, classes,
                            normalization, {str(k): str(v) for k, v in versions.items()},
                            str(data.get("saved_at", "")))
    checkpoint.build_model()  # fail now, with a clear message, if the weights don't fit
    return checkpoint


def _weights_problem(spec: ModelSpec, state: dict[str, torch.Tensor]) -> str | None:
    """What is wrong with the saved weights' values, naming the tensor; None if nothing.

    load_state_dict copies into the model's own tensors, converting bool, int64 or
    complex values silently, and takes NaN and infinity as they come; the model
    would then evaluate to "loss nan". Each saved tensor must have the type of the
    model's (built on the meta device: nothing is allocated) and be finite. Names
    and shapes that do not fit are left to load_state_dict, which names them.
    """
    try:
        with torch.device("meta"):
            expected = build_model(spec).state_dict()
    except SpecError:
        return None  # build_model() says what is wrong with the spec
    for key, tensor in state.items():
        want = expected.get(key)
        if want is None:
            continue
        if tensor.layout != torch.strided or tensor.dtype != want.dtype:
            kind = (str(tensor.dtype).removeprefix("torch.") if tensor.layout == torch.strided
                    else f"a {str(tensor.layout).removeprefix('torch.')} tensor")
            return (f"its tensor '{key}' is {kind}, but the model's is "
                    f"{str(want.dtype).removeprefix('torch.')}: the file was not saved by "
                    f"netexplorer from this model, or was altered")
    found = _first_non_finite(state)
    if found is not None:
        key, count, total = found
        return (f"its tensor '{key}' holds {count:,} NaN or infinite value(s) of {total:,}: "
                f"the run diverged before it was saved; train again with a lower learning rate")
    return None


def _first_non_finite(state: dict[str, torch.Tensor]) -> tuple[str, int, int] | None:
    """(name, how many values, of how many) for the first tensor holding NaN or ±inf.

    Every checkpoint the run store writes mid-run passes here, so the usual answer
    (all finite) comes from one fused norm per kind of tensor and one sync: a NaN or
    an infinity anywhere makes its tensor's norm non-finite. A non-finite norm (or
    one that overflowed) sends it to the exact count, tensor by tensor."""
    if _all_finite(state.values()):
        return None
    for key, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                return key, count, tensor.numel()
    return None


def _all_finite(tensors) -> bool:
    """True when certainly no NaN or infinity is in `tensors`; False when one may be."""
    groups: dict[tuple[Any, Any], list[torch.Tensor]] = {}
    for tensor in tensors:
        if tensor.is_complex() or (tensor.is_floating_point() and tensor.layout != torch.strided):
            return False  # left to the exact count
        if tensor.is_floating_point() and tensor.numel():
            groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    try:
        norms = [torch.stack(torch._foreach_norm(group)) for group in groups.values()]
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return all(bool(n.isfinite().all()) for n in norms)


def _valid_trainer_state(state: Any) -> bool:
    try:
        position = state["position"]
        return (isinstance(state["optimizer"], dict)
                and all(isinstance(position[k], int) for k in ("epoch", "batch", "step"))
                and isinstance(state["epoch_rng"], torch.Tensor)
                and isinstance(state["rng"], torch.Tensor)
                and isinstance(state["history"]["epochs"], list)
                and isinstance(state["history"]["step_losses"], list))
    except (KeyError, TypeError):
        return False
