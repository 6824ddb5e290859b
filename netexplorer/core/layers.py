"""The catalogue of layer kinds a ModelSpec may use.

Each kind is described as data — its parameters with types, ranges and defaults —
so that validation, shape inference, the GUI's generated parameter forms and the
code generator all read one definition instead of keeping their own lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Parameter value types understood by validation and by the GUI's form builder.
INT = "int"  # an integer within [minimum, maximum]
FLOAT = "float"  # a finite float within [minimum, maximum]
BOOL = "bool"
CHOICE = "choice"  # one string of `choices`
SIZE = "size"  # an int or an (h, w) pair of ints, each within [minimum, maximum]

PARAM_TYPES = (INT, FLOAT, BOOL, CHOICE, SIZE)


@dataclass(frozen=True)
class ParamDef:
    """One parameter of a layer kind.

    `inferred` parameters (in_channels, in_features, num_features) may be left out
    of a spec; they are then taken from the previous layer's output. `optional`
    parameters default to None with a meaning given in `help` (a pooling stride of
    None means "same as the kernel").
    """

    name: str
    type: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    inferred: bool = False
    optional: bool = False
    default_from: str | None = None  # an optional parameter's fallback: another parameter
    help: str = ""


@dataclass(frozen=True)
class LayerKind:
    """A kind of layer: its name in specs, the torch class it builds, its parameters."""

    kind: str
    torch_name: str
    category: str
    params: tuple[ParamDef, ...]
    doc: str
    activation: bool = False  # ReLU-like: the inspector tracks dead units on these

    def param(self, name: str) -> ParamDef | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


# Upper bounds keep a typo (or a hostile file) from describing a layer that would
# allocate absurd memory; the totals are guarded separately in specs.py.
MAX_CHANNELS = 65_536
MAX_FEATURES = 10_000_000
MAX_KERNEL = 1_024
MAX_SPATIAL = 8_192

_INPLACE = ParamDef("inplace", BOOL, False, help="overwrite the input to save memory")


def _size(name: str, default: Any = None, *, required: bool = False, minimum: int = 1,
          maximum: int = MAX_KERNEL, optional: bool = False, default_from: str | None = None,
          help: str = "") -> ParamDef:
    return ParamDef(name, SIZE, default, minimum, maximum, required=required,
                    optional=optional, default_from=default_from, help=help)


LAYER_KINDS: dict[str, LayerKind] = {
    k.kind: k
    for k in (
        LayerKind(
            "conv2d", "Conv2d", "Convolution",
            (
                ParamDef("in_channels", INT, None, 1, MAX_CHANNELS, inferred=True,
                         help="channels of the input; inferred when left out"),
                ParamDef("out_channels", INT, None, 1, MAX_CHANNELS, required=True,
                         help="number of filters"),
                _size("kernel_size", required=True, help="filter height and width"),
                _size("stride", 1),
                _size("padding", 0, minimum=0),
                _size("dilation", 1),
                ParamDef("groups", INT, 1, 1, MAX_CHANNELS),
                ParamDef("bias", BOOL, True),
            ),
            "2-D convolution: slides out_channels learned filters over the image.",
        ),
        LayerKind(
            "maxpool2d", "MaxPool2d", "Pooling",
            (
                _size("kernel_size", required=True),
                _size("stride", None, optional=True, default_from="kernel_size",
                      help="defaults to kernel_size"),
                _size("padding", 0, minimum=0),
                ParamDef("ceil_mode", BOOL, False),
            ),
            "Keeps the largest value of each kernel_size window.",
        ),
        LayerKind(
            "avgpool2d", "AvgPool2d", "Pooling",
            (
                _size("kernel_size", required=True),
                _size("stride", None, optional=True, default_from="kernel_size",
                      help="defaults to kernel_size"),
                _size("padding", 0, minimum=0),
                ParamDef("ceil_mode", BOOL, False),
            ),
            "Averages each kernel_size window.",
        ),
        LayerKind(
            "adaptiveavgpool2d", "AdaptiveAvgPool2d", "Pooling",
            (_size("output_size", 1, maximum=MAX_SPATIAL, help="output height and width"),),
            "Averages down to a fixed output size whatever the input size.",
        ),
        LayerKind(
            "batchnorm2d", "BatchNorm2d", "Normalization",
            (
                ParamDef("num_features", INT, None, 1, MAX_CHANNELS, inferred=True,
                         help="channels of the input; inferred when left out"),
                ParamDef("eps", FLOAT, 1e-5, 1e-12, 1.0),
                ParamDef("momentum", FLOAT, 0.1, 0.0, 1.0),
                ParamDef("affine", BOOL, True),
            ),
            "Normalizes each channel over the batch, then scales and shifts it.",
        ),
        LayerKind(
            "batchnorm1d", "BatchNorm1d", "Normalization",
            (
                ParamDef("num_features", INT, None, 1, MAX_FEATURES, inferred=True,
                         help="features of the input; inferred when left out"),
                ParamDef("eps", FLOAT, 1e-5, 1e-12, 1.0),
                ParamDef("momentum", FLOAT, 0.1, 0.0, 1.0),
                ParamDef("affine", BOOL, True),
            ),
            "Normalizes each feature over the batch, then scales and shifts it.",
        ),
        LayerKind(
            "dropout", "Dropout", "Regularization",
            (ParamDef("p", FLOAT, 0.5, 0.0, 1.0, help="probability of zeroing a value"),
             _INPLACE),
            "Zeroes random values while training.",
        ),
        LayerKind(
            "dropout2d", "Dropout2d", "Regularization",
            (ParamDef("p", FLOAT, 0.5, 0.0, 1.0, help="probability of zeroing a channel"),
             _INPLACE),
            "Zeroes random whole channels while training.",
        ),
        LayerKind("flatten", "Flatten", "Reshape", (),
                  "Turns a C×H×W feature map into a vector of C·H·W features."),
        LayerKind(
            "linear", "Linear", "Linear",
            (
                ParamDef("in_features", INT, None, 1, MAX_FEATURES, inferred=True,
                         help="features of the input; inferred when left out"),
                ParamDef("out_features", INT, None, 1, MAX_FEATURES, required=True),
                ParamDef("bias", BOOL, True),
            ),
            "Fully connected layer: every output is a weighted sum of every input.",
        ),
        LayerKind("relu", "ReLU", "Activation", (_INPLACE,), "max(0, x).", activation=True),
        LayerKind(
            "leakyrelu", "LeakyReLU", "Activation",
            (ParamDef("negative_slope", FLOAT, 0.01, 0.0, 1.0), _INPLACE),
            "x for positive x, negative_slope·x otherwise.", activation=True,
        ),
        LayerKind(
            "elu", "ELU", "Activation",
            (ParamDef("alpha", FLOAT, 1.0, 0.0, 100.0), _INPLACE),
            "x for positive x, alpha·(exp(x) − 1) otherwise.", activation=True,
        ),
        LayerKind(
            "gelu", "GELU", "Activation",
            (ParamDef("approximate", CHOICE, "none", choices=("none", "tanh")),),
            "Gaussian error linear unit.", activation=True,
        ),
        LayerKind("tanh", "Tanh", "Activation", (), "Squashes to (−1, 1)."),
        LayerKind("sigmoid", "Sigmoid", "Activation", (), "Squashes to (0, 1)."),
        LayerKind(
            "softmax", "Softmax", "Output",
            (ParamDef("dim", INT, 1, -4, 3),),
            "Turns scores into probabilities (use with MSE, not cross-entropy).",
        ),
        LayerKind(
            "logsoftmax", "LogSoftmax", "Output",
            (ParamDef("dim", INT, 1, -4, 3),),
            "Log-probabilities; pair it with the NLL loss.",
        ),
    )
}

CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(k.category for k in LAYER_KINDS.values()))


def default_params(kind: str) -> dict[str, Any]:
    """Parameters a freshly added layer of `kind` starts with in an editor.

    Required parameters get a sensible starting value so that a new layer is
    valid wherever it fits; inferred ones stay out so they follow the model.
    """
    info = LAYER_KINDS[kind]
    starters = {"out_channels": 16, "out_features": 10,
                "kernel_size": 2 if info.category == "Pooling" else 3}
    return {p.name: starters[p.name] for p in info.params if p.required}
