"""Model specifications: a network as data, before it is a module.

A ModelSpec is the one definition of a model everywhere — model panel, presets on
disk, checkpoints, the CLI and generated code. Shapes, parameter counts and
mult-adds are inferred analytically layer by layer, so an invalid stack is
reported at the layer that breaks it (with a fix where one exists) and a summary
costs well under a millisecond per layer: cheap enough to recompute on every edit
and never allocating a weight. torch is imported only by build_model.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import keyword
import math
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from netexplorer.core.files import FileTooLarge, read_limited
from netexplorer.core.formatting import format_shape
from netexplorer.core.layers import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    LAYER_KINDS,
    MAX_SPATIAL,
    SIZE,
    LayerKind,
    ParamDef,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMAT = "netexplorer-model"
FORMAT_VERSION = 1

# Guards against specs that would allocate absurd memory. 100 M float32 weights
# are 400 MB before gradients and optimizer state (×3–4 with Adam): beyond what a
# small-network debugging tool should ever try to allocate on a laptop.
MAX_PARAMETERS = 100_000_000
# Values in one layer's output for one sample; a batch multiplies this again.
MAX_ACTIVATION_VALUES = 50_000_000
MAX_LAYERS = 1_000
MAX_INPUT_CHANNELS = 1_024
MAX_JSON_BYTES = 1_000_000
MAX_NAME_LENGTH = 64

# Public attributes of nn.Sequential: a layer named like one of them would shadow
# it (`model.to` replaced by a layer). tests/core/test_specs.py keeps this in sync.
RESERVED_NAMES = frozenset("""
T_destination add_module append apply bfloat16 buffers call_super_init children
compile cpu cuda double dump_patches eval extend extra_repr float forward get_buffer
get_extra_state get_parameter get_submodule half insert ipu load_state_dict modules
mtia named_buffers named_children named_modules named_parameters parameters pop
register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train training
type xpu zero_grad
""".split())

Shape = tuple[int, ...]


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its kind, its unique name, and the parameters given explicitly.

    Parameters left out take their defaults (or, for in_channels/in_features/
    num_features, the previous layer's output), so a spec stays short and keeps
    following the model when an earlier layer changes. Sequences are stored as
    tuples so that equality does not depend on list-versus-tuple.
    """

    kind: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", {k: _freeze(v) for k, v in dict(self.params).items()})

    def with_params(self, **changes: Any) -> LayerSpec:
        """A copy with parameters set; a value of None removes the parameter."""
        params = dict(self.params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return LayerSpec(self.kind, self.name, params)

    def renamed(self, name: str) -> LayerSpec:
        return LayerSpec(self.kind, name, self.params)

    def to_dict(self) -> dict[str, Any]:
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {"name": self.name, "kind": self.kind, "params": params}


@dataclass(frozen=True)
class ModelSpec:
    """A whole network: a name, a per-sample input shape (C, H, W) and its layers."""

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[LayerSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))

    # -- editing: every edit returns a new spec, which is what undo stacks want.
    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def with_layer(self, index: int, layer: LayerSpec) -> ModelSpec:
        layers = list(self.layers)
        layers[index] = layer
        return self.replace(layers=layers)

    def inserted(self, index: int, layer: LayerSpec) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(index, layer)
        return self.replace(layers=layers)

    def removed(self, index: int) -> ModelSpec:
        layers = list(self.layers)
        del layers[index]
        return self.replace(layers=layers)

    def moved(self, source: int, destination: int) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(destination, layers.pop(source))
        return self.replace(layers=layers)

    def index_of(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def unique_name(self, base: str) -> str:
        """`base` if unused, else base_2, base_3, … — for new and duplicated layers."""
        taken = {layer.name for layer in self.layers}
        stem = base.rstrip("0123456789_") or base
        if base not in taken:
            return base
        n = 2
        while f"{stem}_{n}" in taken:
            n += 1
        return f"{stem}_{n}"

    # -- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, *, check_shapes: bool = True) -> ModelSpec:
        return _guarded_spec_from_dict(data, check_shapes=check_shapes)

    @classmethod
    def from_json(cls, text: str | bytes, *, check_shapes: bool = True) -> ModelSpec:
        """Parse a spec, refusing anything malformed with a readable SpecError.

        The structure, kinds, names and every parameter are validated before a
        spec is returned. With check_shapes (the default) the layers must also fit
        together; the model panel passes False so that a stack saved mid-edit
        opens and shows its error beside the offending layer instead.
        """
        if isinstance(text, (bytes, bytearray)):
            if len(text) > MAX_JSON_BYTES:
                raise SpecError(f"the model file is {len(text):,} bytes; a model spec is "
                                f"at most {MAX_JSON_BYTES:,}")
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SpecError(f"the model file is not UTF-8 text ({exc.reason})") from None
        if not isinstance(text, str):
            raise SpecError(f"a model spec is JSON text, not {type(text).__name__}")
        if len(text) > MAX_JSON_BYTES:
            raise SpecError(f"the model file is {len(text):,} characters; a model spec is "
                            f"at most {MAX_JSON_BYTES:,}")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except SpecError:
            raise
        except json.JSONDecodeError as exc:
            raise SpecError(f"the model file is not valid JSON: {exc.msg} "
                            f"(line {exc.lineno}, column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:
            raise SpecError(f"the model file is not valid JSON: {exc}") from None
        return _guarded_spec_from_dict(data, check_shapes=check_shapes)


@dataclass(frozen=True)
class SpecFix:
    """A one-click repair for a SpecError.

    action is "set" (set `param` of layer `index` to `value`; None removes it),
    "insert" (insert `layer` at `index`) or "rename" (rename layer `index` to
    `value`).
    """

    description: str
    action: str
    index: int
    param: str | None = None
    value: Any = None
    layer: LayerSpec | None = None

    def apply(self, spec: ModelSpec) -> ModelSpec:
        if self.action == "set":
            if self.param is None:
                raise ValueError("a 'set' fix must name the param it sets")
            target = spec.layers[self.index]
            return spec.with_layer(self.index, target.with_params(**{self.param: self.value}))
        if self.action == "insert":
            if self.layer is None:
                raise ValueError("an 'insert' fix must carry the layer it inserts")
            return spec.inserted(self.index, self.layer)
        if self.action == "rename":
            return spec.with_layer(self.index, spec.layers[self.index].renamed(self.value))
        raise ValueError(f"unknown fix action {self.action!r}")


class SpecError(ValueError):
    """A spec that cannot become a model, said so a person can act on it.

    `layer` and `index` name the offending layer (None for whole-spec problems);
    `fix` is set where one obvious repair exists. `shape_error` is True when each
    value is fine but the layers do not fit together (a wrong in_features, a
    missing flatten): a stack saved mid-edit may hold such an error.
    """

    def __init__(self, message: str, *, layer: str | None = None, index: int | None = None,
                 fix: SpecFix | None = None, shape_error: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.index = index
        self.fix = fix
        self.shape_error = shape_error


def read_spec_file(path: str | os.PathLike, *, check_shapes: bool = True) -> ModelSpec:
    """The ModelSpec in the file at `path`, read without trusting its size.

    At most MAX_JSON_BYTES + 1 bytes are read, so a huge file (or /dev/zero) is
    refused with a SpecError before it fills the memory. OSError (missing, a
    folder, no permission) propagates for the caller to word with the path.
    """
    try:
        data = read_limited(path, MAX_JSON_BYTES)
    except FileTooLarge as exc:
        size = f"{exc.size:,} bytes" if exc.size is not None else \
            f"more than {MAX_JSON_BYTES:,} bytes"
        raise SpecError(f"{path} is {size}; a model spec is at most "
                        f"{MAX_JSON_BYTES:,} bytes: is this the right file?") from None
    return ModelSpec.from_json(data, check_shapes=check_shapes)


def _reject_constant(name: str) -> Any:
    raise SpecError(f"the model file contains {name}, which is not a valid number")


# ------------------------------------------------------------------- JSON validation


def _guarded_spec_from_dict(data: Any, *, check_shapes: bool) -> ModelSpec:
    # Values nested hundreds deep (within what json.loads accepts) overflow the
    # recursion of freezing and printing them; that is a malformed file too.
    try:
        return _spec_from_dict(data, check_shapes=check_shapes)
    except RecursionError:
        raise SpecError("the model file is nested too deeply to be a model spec") from None


def _spec_from_dict(data: Any, *, check_shapes: bool) -> ModelSpec:
    if not isinstance(data, dict):
        raise SpecError(f"a model spec is a JSON object, not {_json_type(data)}")
    allowed = {"format", "version", "name", "input_shape", "layers", "description"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"the model file has unknown field(s) {', '.join(map(repr, unknown))}; "
                        f"expected {', '.join(sorted(allowed))}")
    if "format" in data and data["format"] != FORMAT:
        raise SpecError(f"this is not a netexplorer model file (format {data['format']!r}, "
                        f"expected {FORMAT!r})")
    for key in ("version", "name", "input_shape", "layers"):
        if key not in data:
            raise SpecError(f"the model file has no {key!r} field")
    version = data["version"]
    if not _is_int(version):
        raise SpecError(f"'version' must be an integer, not {_json_type(version)}")
    if version != FORMAT_VERSION:
        newer = " (made by a newer netexplorer?)" if version > FORMAT_VERSION else ""
        raise SpecError(f"the model file has format version {version}{newer}; "
                        f"this netexplorer reads version {FORMAT_VERSION}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise SpecError("'name' must be a non-empty string of at most 200 characters")
    shape = data["input_shape"]
    if not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(s) for s in shape):
        raise SpecError(f"'input_shape' must be three integers [C, H, W], got {shape!r:.60}")
    layers_data = data["layers"]
    if not isinstance(layers_data, list):
        raise SpecError(f"'layers' must be a list, not {_json_type(layers_data)}")
    if len(layers_data) > MAX_LAYERS:
        raise SpecError(f"the model has {len(layers_data):,} layers; at most {MAX_LAYERS:,} "
                        f"are supported")
    layers = []
    for i, item in enumerate(layers_data):
        where = f"layer {i + 1}"
        if not isinstance(item, dict):
            raise SpecError(f"{where} must be an object with name, kind and params, "
                            f"not {_json_type(item)}", index=i)
        extra = sorted(set(item) - {"name", "kind", "params"})
        if extra:
            raise SpecError(f"{where} has unknown field(s) {', '.join(map(repr, extra))}", index=i)
        for key in ("name", "kind"):
            if not isinstance(item.get(key), str):
                raise SpecError(f"{where} needs a string {key!r}", index=i)
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise SpecError(f"{where} ('{item['name']}'): 'params' must be an object, "
                            f"not {_json_type(params)}", index=i)
        layers.append(LayerSpec(item["kind"], item["name"], params))
    spec = ModelSpec(name, tuple(shape), tuple(layers))
    # Normalise numbers the way the catalogue types them (an int given for a float).
    spec = spec.replace(layers=[_normalise_numbers(layer) for layer in spec.layers])
    summary = summarize(spec, strict=False)
    error = summary.error
    if error is not None and (check_shapes or not error.shape_error):
        raise error
    if error is not None:
        # summarize stopped at the shape error: names, kinds and values after it
        # must still be validated before the spec is returned.
        seen: dict[str, int] = {}
        for i, layer in enumerate(spec.layers):
            _check_name(spec, layer, i, seen)
            _check_params(layer, _check_kind(layer, i), i)
    return spec


def _normalise_numbers(layer: LayerSpec) -> LayerSpec:
    info = LAYER_KINDS.get(layer.kind)
    if info is None:
        return layer
    params = dict(layer.params)
    for p in info.params:
        value = params.get(p.name)
        if p.type == FLOAT and _is_int(value):
            params[p.name] = float(value)
    return LayerSpec(layer.kind, layer.name, params)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                         type(value).__name__)


def _is_int(value: Any) -> TypeGuard[int]:
    """An int, not a bool (JSON's true must not pass for 1); a TypeGuard, so a value
    it accepts is an int to mypy too."""
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ shape inference

# How mult-adds are counted: torchinfo 1.8's rule, which charges every parameter
# once per output position it is used at. A person checking a row by hand needs it.
MACS_RULE = ("as torchinfo 1.8 counts them, per sample: a convolution, (weights + biases) × "
             "output height × width; a linear or batch-norm layer, its parameters (a "
             "batch-norm's 2 per channel, whatever the image size); any other layer, 0")


@dataclass(frozen=True)
class LayerSummary:
    """One row of the summary table."""

    index: int
    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    resolved: Mapping[str, Any]  # every parameter, defaults and inferred values filled in


@dataclass(frozen=True)
class Summary:
    """What torchinfo shows: per-layer shapes, parameters and mult-adds, and totals.

    With summarize(strict=False) an invalid spec gives the rows up to the first
    bad layer and the error that stopped it.
    """

    name: str
    input_shape: Shape
    rows: tuple[LayerSummary, ...]
    error: SpecError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def param_bytes(self) -> int:
        return 4 * self.total_params

    @property
    def activation_values(self) -> int:
        """Values stored per sample across all layer outputs (a forward pass's memory)."""
        return sum(math.prod(r.output_shape) for r in self.rows)


def summarize(spec: ModelSpec, *, strict: bool = True) -> Summary:
    """Infer every layer's output shape, parameter count and mult-adds.

    Mult-adds per sample follow torchinfo 1.8's rule (MACS_RULE), so every row
    and total matches what torchinfo prints for the same model at batch size 1.
    Raises the first SpecError when strict.
    """
    rows: list[LayerSummary] = []
    try:
        _check_input_shape(spec.input_shape)
        if not spec.layers:
            raise SpecError("the model has no layers: add at least one layer")
        if len(spec.layers) > MAX_LAYERS:
            raise SpecError(f"the model has {len(spec.layers):,} layers; at most "
                            f"{MAX_LAYERS:,} are supported")
        state = _FlowState(shape=tuple(spec.input_shape))
        seen: dict[str, int] = {}
        total = 0
        for i, layer in enumerate(spec.layers):
            _check_name(spec, layer, i, seen)
            info = _check_kind(layer, i)
            params = _check_params(layer, info, i)
            row = _infer(layer, info, params, state, i, spec)
            total += row.params
            if total > MAX_PARAMETERS:
                raise SpecError(
                    f"{layer.kind} '{layer.name}' brings the model to {total:,} parameters "
                    f"({format_bytes(4 * total)} of weights): the limit is {MAX_PARAMETERS:,}; "
                    f"use fewer units or channels", layer=layer.name, index=i)
            values = math.prod(row.output_shape)
            if values > MAX_ACTIVATION_VALUES:
                raise SpecError(
                    f"{layer.kind} '{layer.name}' outputs {format_shape(row.output_shape)} = "
                    f"{values:,} values per image: the limit is {MAX_ACTIVATION_VALUES:,}; "
                    f"reduce channels or add pooling before it", layer=layer.name, index=i)
            rows.append(row)
    except SpecError as error:
        if strict:
            raise
        return Summary(spec.name, tuple(spec.input_shape), tuple(rows), error)
    return Summary(spec.name, tuple(spec.input_shape), tuple(rows))


def class_count_error(spec: ModelSpec, summary: Summary, classes: int,
                      dataset: str) -> SpecError | None:
    """The model's outputs against the dataset's classes, checked as the model is
    edited rather than when Train is pressed: a SpecError (with its one-click fix)
    when a valid model does not give one score per class, else None.

    The fix sets out_features of the last linear layer when only layers that keep
    its outputs follow it (activations, dropout, softmax); otherwise it appends
    what is missing: a flatten for a model that ends on images, then a linear
    layer of `classes` outputs."""
    if not summary.ok or classes <= 0 or not summary.rows:
        return None
    out = tuple(summary.output_shape)
    if out == (classes,):
        return None
    have = f"the model gives {format_shape(out)} values per image but {dataset} has " \
           f"{classes} classes"
    last = _last_linear_feeding_the_output(summary)
    if last is not None:
        row = summary.rows[last]
        fix = SpecFix(f"set out_features of '{row.name}' to {classes}", "set", last,
                      "out_features", classes)
        return SpecError(f"{have}: set out_features of '{row.name}' to {classes}",
                         layer=row.name, index=last, fix=fix)
    end = len(spec.layers)
    if len(out) != 1:
        layer = LayerSpec("flatten", spec.unique_name("flatten"))
        return SpecError(f"{have}: flatten it and end it with a linear layer of {classes} "
                         f"outputs", fix=SpecFix("add a flatten layer", "insert", end,
                                                 layer=layer))
    layer = LayerSpec("linear", spec.unique_name("fc"), {"out_features": classes})
    return SpecError(f"{have}: end it with a linear layer of {classes} outputs",
                     fix=SpecFix(f"add a linear layer of {classes} outputs", "insert", end,
                                 layer=layer))


def _last_linear_feeding_the_output(summary: Summary) -> int | None:
    """The index of the linear layer whose outputs the model gives, unchanged."""
    width = summary.rows[-1].output_shape
    for row in reversed(summary.rows):
        if tuple(row.output_shape) != tuple(width) or len(width) != 1:
            return None
        if row.kind == "linear":
            return row.index
    return None


def validate(spec: ModelSpec) -> None:
    """Raise the first SpecError of `spec`, if any."""
    summarize(spec, strict=True)


def format_bytes(n: int) -> str:
    """'246.8 KB' — decimal units, as summaries print sizes."""
    size: float = n  # scaled down by 1000 per unit; `n` stays the exact byte count
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1000
    return f"{size} B"  # pragma: no cover


def _check_input_shape(shape: Sequence[int]) -> None:
    if len(shape) != 3 or not all(_is_int(s) and s > 0 for s in shape):
        raise SpecError(f"the input shape must be three positive integers (C, H, W), "
                        f"got {tuple(shape)!r}")
    c, h, w = shape
    if c > MAX_INPUT_CHANNELS:
        raise SpecError(f"the input has {c:,} channels; at most {MAX_INPUT_CHANNELS:,} "
                        f"are supported")
    if h > MAX_SPATIAL or w > MAX_SPATIAL:
        raise SpecError(f"the input is {h}×{w}; at most {MAX_SPATIAL}×{MAX_SPATIAL} "
                        f"is supported")
    if c * h * w > MAX_ACTIVATION_VALUES:
        raise SpecError(f"the input {format_shape(shape)} has {c * h * w:,} values; "
                        f"the limit is {MAX_ACTIVATION_VALUES:,}")


def _check_name(spec: ModelSpec, layer: LayerSpec, i: int, seen: dict[str, int]) -> None:
    name = layer.name
    if not isinstance(name, str) or not name:
        raise SpecError(f"layer {i + 1} has no name: give it one", index=i,
                        fix=SpecFix(f"name it {spec.unique_name(layer.kind)!r}", "rename", i,
                                    value=spec.unique_name(str(layer.kind or "layer"))))
    # Python reads identifiers in NFKC form: `self.fc１` in generated code is `fc1`, and
    # `ｔｏ` is `to`. A name that normalisation changes would make the exported module
    # differ from the trained model (other attribute, clashing or reserved), so it is
    # refused and the normalised spelling offered.
    folded = unicodedata.normalize("NFKC", name)
    look_alike = folded != name
    if (look_alike or len(name) > MAX_NAME_LENGTH or not name.isidentifier()
            or keyword.iskeyword(name) or name.startswith("_") or name in RESERVED_NAMES):
        if look_alike:
            why = (f"Python reads as {folded!r:.80} (it holds Unicode compatibility "
                   f"characters, e.g. full-width letters or digits)")
        elif name in RESERVED_NAMES:
            why = "is reserved by PyTorch modules"
        else:
            why = ("must use letters, digits and underscores, start with a letter and be "
                   f"at most {MAX_NAME_LENGTH} characters")
        clean = "".join(ch if ch.isalnum() or ch == "_" else "_"
                        for ch in folded)[:MAX_NAME_LENGTH]
        clean = clean.lstrip("_0123456789") or "layer"
        if keyword.iskeyword(clean) or clean in RESERVED_NAMES:
            clean += "_layer"
        suggestion = spec.unique_name(clean)
        raise SpecError(f"layer {i + 1} is named {name!r:.80}, which {why}: "
                        f"rename it, e.g. to {suggestion!r}", layer=name, index=i,
                        fix=SpecFix(f"rename it to {suggestion!r}", "rename", i, value=suggestion))
    if name in seen:
        suggestion = spec.unique_name(name)
        raise SpecError(f"two layers are named {name!r} (layers {seen[name] + 1} and {i + 1}): "
                        f"names must be unique — rename layer {i + 1}, e.g. to {suggestion!r}",
                        layer=name, index=i,
                        fix=SpecFix(f"rename it to {suggestion!r}", "rename", i, value=suggestion))
    seen[name] = i


def _check_kind(layer: LayerSpec, i: int) -> LayerKind:
    info = LAYER_KINDS.get(layer.kind) if isinstance(layer.kind, str) else None
    if info is None:
        close = difflib.get_close_matches(str(layer.kind).lower(), LAYER_KINDS, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"layer '{layer.name}' has unknown kind {layer.kind!r:.40}{hint} "
                        f"Known kinds: {', '.join(LAYER_KINDS)}", layer=layer.name, index=i)
    return info


def _check_params(layer: LayerSpec, info: LayerKind, i: int) -> dict[str, Any]:
    """Validate given parameters and return all of them with defaults filled in."""
    label = f"{layer.kind} '{layer.name}'"
    for key in layer.params:
        if info.param(key) is None:
            names = info.param_names
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" — did you mean {close[0]!r}?" if close else ""
            known = f"its parameters are {', '.join(names)}" if names else "it takes no parameters"
            raise SpecError(f"{label} has no parameter {key!r:.40}{hint} ({known})",
                            layer=layer.name, index=i,
                            fix=SpecFix(f"remove {key!r}", "set", i, param=key, value=None))
    resolved: dict[str, Any] = {}
    for p in info.params:
        if p.name not in layer.params:
            if p.required:
                raise SpecError(f"{label} needs {p.name}" + (f" ({p.help})" if p.help else ""),
                                layer=layer.name, index=i)
            resolved[p.name] = p.default
            continue
        resolved[p.name] = _check_value(label, layer, i, p, layer.params[p.name])
    return resolved


def _check_value(label: str, layer: LayerSpec, i: int, p: ParamDef, value: Any) -> Any:
    def fail(expected: str) -> SpecError:
        return SpecError(f"{label}: {p.name} must be {expected}, got {value!r:.40}",
                         layer=layer.name, index=i)

    bounds = _bounds(p)
    if value is None and (p.optional or p.inferred):
        return None
    if p.type == INT:
        if not _is_int(value) or not _in_range(value, p):
            raise fail(f"an integer {bounds}")
        return value
    if p.type == FLOAT:
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value) or not _in_range(value, p)):
            raise fail(f"a number {bounds}")
        return float(value)
    if p.type == BOOL:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if p.type == CHOICE:
        if value not in p.choices:
            raise fail(f"one of {', '.join(map(repr, p.choices))}")
        return value
    if p.type == SIZE:
        items = value if isinstance(value, tuple) else (value,)
        if len(items) not in (1, 2) or not all(_is_int(v) and _in_range(v, p) for v in items):
            raise fail(f"an integer {bounds} or a pair of them")
        return value
    raise AssertionError(f"unknown parameter type {p.type}")  # pragma: no cover


def _bounds(p: ParamDef) -> str:
    if p.minimum is not None and p.maximum is not None:
        return f"from {p.minimum:g} to {p.maximum:g}"
    if p.minimum is not None:
        return f"of at least {p.minimum:g}"
    return ""


def _in_range(value: float, p: ParamDef) -> bool:
    return ((p.minimum is None or value >= p.minimum)
            and (p.maximum is None or value <= p.maximum))


def _pair(value: Any) -> tuple[int, int]:
    return (value[0], value[1]) if isinstance(value, tuple) else (value, value)


def _same_form(h: int, w: int) -> Any:
    """A fix value in the form the user wrote it: an int if h == w, else a pair."""
    return h if h == w else (h, w)


@dataclass
class _FlowState:
    """What flows between layers: the current per-sample shape and, after a
    flatten, the feature-map shape it came from (for messages like "256 (16×4×4)")."""

    shape: Shape
    flat_from: Shape | None = None


def _infer(layer: LayerSpec, info: LayerKind, params: dict[str, Any], state: _FlowState,
           i: int, spec: ModelSpec) -> LayerSummary:
    label = f"{layer.kind} '{layer.name}'"
    shape_in = state.shape
    kind = layer.kind
    n_params = 0
    macs = 0

    def fail(message: str, fix: SpecFix | None = None) -> SpecError:
        return SpecError(f"{label} {message}", layer=layer.name, index=i, fix=fix,
                         shape_error=True)

    def need_map(instead: str) -> tuple[int, int, int]:
        if len(shape_in) != 3:
            raise fail(f"needs a C×H×W feature map but receives {shape_in[0]:,} flat features"
                       f"{_origin(state)}: {instead}")
        return shape_in  # narrowed to three ints by the length check above

    if kind == "conv2d":
        c, h, w = need_map("move it before the flatten layer")
        if params["in_channels"] is None:
            params["in_channels"] = c
        elif params["in_channels"] != c:
            raise fail(f"expects {params['in_channels']} input channels but receives {c} "
                       f"({format_shape(shape_in)}): set in_channels to {c}",
                       SpecFix(f"set in_channels to {c}", "set", i, "in_channels", c))
        groups = params["groups"]
        out_c = params["out_channels"]
        if c % groups or out_c % groups:
            raise fail(f"has groups={groups}, which must divide both its {c} input channels "
                       f"and its {out_c} output channels",
                       SpecFix("set groups to 1", "set", i, "groups", None))
        kh, kw = _pair(params["kernel_size"])
        sh, sw = _pair(params["stride"])
        ph, pw = _pair(params["padding"])
        dh, dw = _pair(params["dilation"])
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            fit_h = max(1, (h + 2 * ph - 1) // dh + 1)
            fit_w = max(1, (w + 2 * pw - 1) // dw + 1)
            fit = _same_form(min(kh, fit_h), min(kw, fit_w))
            raise fail(f"with a {kh}×{kw} kernel shrinks its {h}×{w} input to nothing "
                       f"(output {max(oh, 0)}×{max(ow, 0)}): use kernel_size at most "
                       f"{fit if isinstance(fit, int) else format_shape(fit)}, add padding, "
                       f"or remove a pooling layer before it",
                       SpecFix(f"set kernel_size to {fit}", "set", i, "kernel_size", fit))
        shape_out: Shape = (out_c, oh, ow)
        per_output = (c // groups) * kh * kw
        n_params = out_c * per_output + (out_c if params["bias"] else 0)
        macs = n_params * oh * ow
    elif kind in ("maxpool2d", "avgpool2d"):
        c, h, w = need_map("pool before flattening")
        kh, kw = _pair(params["kernel_size"])
        stride = params["stride"] if params["stride"] is not None else params["kernel_size"]
        sh, sw = _pair(stride)
        ph, pw = _pair(params["padding"])
        if ph > kh // 2 or pw > kw // 2:
            raise fail(f"has padding {format_shape(_pair(params['padding']))} but PyTorch allows "
                       f"at most half the kernel ({kh // 2}×{kw // 2} for a {kh}×{kw} kernel)",
                       SpecFix("set padding to 0", "set", i, "padding", None))
        oh = _pool_out(h, kh, sh, ph, params["ceil_mode"])
        ow = _pool_out(w, kw, sw, pw, params["ceil_mode"])
        if oh < 1 or ow < 1:
            fit = _same_form(min(kh, h + 2 * ph), min(kw, w + 2 * pw))
            raise fail(f"with a {kh}×{kw} window shrinks its {h}×{w} input to nothing: use "
                       f"kernel_size at most {fit if isinstance(fit, int) else format_shape(fit)} "
                       f"or remove a pooling layer before it",
                       SpecFix(f"set kernel_size to {fit}", "set", i, "kernel_size", fit))
        shape_out = (c, oh, ow)
    elif kind == "adaptiveavgpool2d":
        c, _, _ = need_map("pool before flattening")
        oh, ow = _pair(params["output_size"])
        shape_out = (c, oh, ow)
    elif kind in ("batchnorm2d", "batchnorm1d"):
        if kind == "batchnorm2d":
            c = need_map("use batchnorm1d for flat features")[0]
            what = "channels"
        else:
            if len(shape_in) != 1:
                raise fail(f"needs flat features but receives a {format_shape(shape_in)} "
                           f"feature map: use batchnorm2d here, or flatten first")
            c = shape_in[0]
            what = "features"
        if params["num_features"] is None:
            params["num_features"] = c
        elif params["num_features"] != c:
            raise fail(f"expects {params['num_features']} {what} but receives {c} "
                       f"({format_shape(shape_in)}): set num_features to {c}",
                       SpecFix(f"set num_features to {c}", "set", i, "num_features", c))
        shape_out = shape_in
        n_params = 2 * c if params["affine"] else 0
        macs = n_params
    elif kind == "dropout2d":
        need_map("use dropout for flat features")
        shape_out = shape_in
    elif kind == "flatten":
        shape_out = (math.prod(shape_in),)
    elif kind == "linear":
        if len(shape_in) != 1:
            flat = math.prod(shape_in)
            name = spec.unique_name("flatten")
            raise fail(f"receives a {format_shape(shape_in)} feature map but needs flat "
                       f"features: add a flatten layer before it (giving {flat:,} features)",
                       SpecFix("insert a flatten layer before it", "insert", i,
                               layer=LayerSpec("flatten", name)))
        f = shape_in[0]
        if params["in_features"] is None:
            params["in_features"] = f
        elif params["in_features"] != f:
            raise fail(f"expects {params['in_features']:,} input features but receives {f:,}"
                       f"{_origin(state)}: set in_features to {f}",
                       SpecFix(f"set in_features to {f}", "set", i, "in_features", f))
        out_f = params["out_features"]
        n_params = f * out_f + (out_f if params["bias"] else 0)
        macs = n_params
        shape_out = (out_f,)
    elif kind in ("softmax", "logsoftmax"):
        dims = len(shape_in) + 1  # with the batch dimension
        if not -dims <= params["dim"] < dims:
            raise fail(f"has dim={params['dim']} but its input has {dims} dimensions with the "
                       f"batch: use dim=1", SpecFix("set dim to 1", "set", i, "dim", None))
        shape_out = shape_in
    else:  # element-wise: activations and dropout keep the shape
        shape_out = shape_in

    if kind == "flatten" and len(shape_in) == 3:
        state.flat_from = shape_in
    elif shape_out != shape_in:
        state.flat_from = None
    state.shape = shape_out
    return LayerSummary(i, layer.name, kind, shape_in, shape_out, n_params, macs, params)


def _origin(state: _FlowState) -> str:
    return f" ({format_shape(state.flat_from)})" if state.flat_from else ""


def _pool_out(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    span = size + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # PyTorch drops a window that starts in padding
        out -= 1
    return max(out, 0)


# ------------------------------------------------------------------------ building


def build_model(spec: ModelSpec) -> torch.nn.Sequential:
    """An nn.Sequential whose submodules carry the spec's layer names.

    The spec is validated first, so nothing is allocated for a spec that is
    invalid or too large; `model.conv1.weight` and named_parameters() use the
    names a person gave the layers.
    """
    from collections import OrderedDict

    from torch import nn

    summary = summarize(spec, strict=True)
    modules = OrderedDict()
    for row in summary.rows:
        cls = getattr(nn, LAYER_KINDS[row.kind].torch_name)
        modules[row.name] = cls(**dict(row.resolved))
    return nn.Sequential(modules)


# ------------------------------------------------------------------------ printing


def format_count(n: int) -> str:
    return f"{n:,}"


def format_summary(summary: Summary) -> str:
    """A torchinfo-style table: layer, kind, output shape, params, mult-adds, totals."""
    header = ("Layer", "Kind", "Output shape", "Params", "Mult-adds")
    body = [(r.name, r.kind, format_shape(r.output_shape), format_count(r.params),
             format_count(r.macs)) for r in summary.rows]
    rows = [("input", "", format_shape(summary.input_shape), "", "")] + body
    widths = [max(len(str(row[c])) for row in [header] + rows) for c in range(5)]

    def line(row: Sequence[str]) -> str:
        left = [str(row[c]).ljust(widths[c]) for c in range(3)]
        right = [str(row[c]).rjust(widths[c]) for c in range(3, 5)]
        return "  ".join(left + right).rstrip()

    rule = "─" * len(line(header))
    out = [f"Model: {summary.name}", rule, line(header), rule]
    out += [line(row) for row in rows]
    out.append(rule)
    out.append(f"Total params: {summary.total_params:,}")
    out.append(f"Mult-adds per sample: {summary.total_macs:,} ({summary.total_macs / 1e6:.2f} M), "
               f"as torchinfo 1.8 counts them (biases and batch-norm included)")
    out.append(f"Weights: {format_bytes(summary.param_bytes)}; activations per sample: "
               f"{format_bytes(4 * summary.activation_values)}")
    if summary.error is not None:
        out.append(f"Error: {summary.error}")
    return "\n".join(out)
