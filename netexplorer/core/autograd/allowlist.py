"""What a console statement may name, call and read — nothing else is reachable.

The lists are written out rather than derived (say, "every public torch
function") because torch and numpy grow: a function added upstream that writes
a file or loads pickled data must stay out until someone reads it and adds it
here. What is left out on purpose: anything that reads or writes files
(`save`, `load`, `tofile`, `fromfile`, `dump`), touches raw memory
(`storage`, `untyped_storage`, `data_ptr`, `from_file`, `frombuffer`, `ctypes`),
takes a Python callable (`apply_`, `register_hook`), or reaches Python's
internals (every name beginning with `_`).

This module is plain data: no torch, so the GUI can read it before torch loads.
"""

from __future__ import annotations

# Functions of `torch` a statement may call. Factories first, then maths.
TORCH_FUNCTIONS = frozenset({
    # making tensors
    "empty", "zeros", "ones", "rand", "randn", "randint", "full", "eye", "arange",
    "linspace", "tensor", "as_tensor", "from_numpy", "empty_like", "zeros_like",
    "ones_like", "rand_like", "randn_like", "full_like", "manual_seed",
    # arithmetic and maths
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "sin", "cos",
    "tanh", "sigmoid", "relu", "clamp", "where", "matmul", "mm", "dot", "outer",
    "sum", "mean", "std", "var", "max", "min", "argmax", "argmin", "norm", "prod",
    "softmax", "log_softmax",
    # shapes
    "cat", "stack", "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "t",
    "permute", "numel",
    # comparing
    "eq", "allclose", "equal", "is_tensor", "isfinite", "isnan",
    # autograd and devices
    "no_grad", "enable_grad", "is_grad_enabled", "device",
})

# Non-callable values of `torch`: the dtypes.
TORCH_VALUES = frozenset({
    "float", "float16", "float32", "float64", "half", "double", "bfloat16", "int",
    "int8", "int16", "int32", "int64", "long", "uint8", "bool",
})

# torch.cuda: whether there is a GPU, and which.
CUDA_FUNCTIONS = frozenset({"is_available", "device_count", "get_device_name",
                            "current_device"})

# torch.nn.functional, named `F` in the console as in most PyTorch code.
FUNCTIONAL_FUNCTIONS = frozenset({
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "mse_loss", "cross_entropy",
    "nll_loss", "linear", "conv2d", "max_pool2d", "avg_pool2d", "one_hot", "dropout",
})

# numpy, named `np`: enough for the bridge (making arrays, `np.add(a, 1, out=a)`).
NUMPY_FUNCTIONS = frozenset({
    "ones", "zeros", "full", "arange", "linspace", "eye", "array", "asarray",
    "add", "subtract", "multiply", "divide", "exp", "sqrt", "abs", "sum", "mean",
    "max", "min", "allclose", "array_equal",
})
NUMPY_VALUES = frozenset({"float32", "float64", "int32", "int64", "uint8", "bool_"})

# Tensor attributes that are data, read (and requires_grad / grad set) like fields.
TENSOR_FIELDS = frozenset({
    "shape", "dtype", "device", "requires_grad", "grad", "grad_fn", "is_leaf", "data",
    "T", "mT", "ndim", "is_cuda", "layout",
})
# The fields a statement may assign: `x.requires_grad = True`, `x.grad = None`.
TENSOR_SETTABLE = frozenset({"requires_grad", "grad"})

# Tensor methods that compute, convert or describe. In-place ones end in `_`.
TENSOR_METHODS = frozenset({
    # describing
    "size", "dim", "numel", "item", "tolist", "numpy", "element_size", "stride",
    "is_contiguous", "is_floating_point", "type",
    # shapes and copies
    "view", "view_as", "reshape", "reshape_as", "flatten", "squeeze", "unsqueeze", "t",
    "transpose", "permute", "expand", "expand_as", "repeat", "contiguous", "clone",
    "detach", "detach_", "index_select", "masked_fill", "masked_fill_",
    # dtypes and devices
    "to", "cpu", "cuda", "double", "float", "half", "long", "int", "bool", "type_as",
    "new_ones", "new_zeros", "new_full", "new_empty", "new_tensor",
    # autograd
    "requires_grad_", "backward", "retain_grad",
    # arithmetic, out of place and in place
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "pow", "pow_", "neg",
    "neg_", "abs", "abs_", "exp", "exp_", "log", "log_", "sqrt", "sqrt_", "sin", "cos",
    "tanh", "tanh_", "sigmoid", "sigmoid_", "relu", "relu_", "clamp", "clamp_", "zero_",
    "fill_", "copy_", "uniform_", "normal_", "matmul", "mm", "dot", "softmax",
    "log_softmax",
    # reducing and comparing
    "sum", "mean", "std", "var", "max", "min", "argmax", "argmin", "norm", "prod", "all",
    "any", "eq", "ne", "lt", "gt", "le", "ge", "allclose", "equal",
})

# numpy arrays: what the bridge lesson needs, and nothing that writes or exposes memory.
NDARRAY_FIELDS = frozenset({"shape", "dtype", "ndim", "size", "T"})
NDARRAY_METHODS = frozenset({"sum", "mean", "max", "min", "reshape", "copy", "tolist",
                             "astype", "item", "flatten", "transpose", "fill"})

# A grad_fn node: the edges autograd follows, its name, and an AccumulateGrad's leaf.
NODE_FIELDS = frozenset({"next_functions", "variable"})
NODE_METHODS = frozenset({"name"})

# torch.Size, torch.device and torch.dtype.
SIZE_METHODS = frozenset({"numel"})
DEVICE_FIELDS = frozenset({"type", "index"})
DTYPE_FIELDS = frozenset({"is_floating_point", "itemsize"})

# Python's own functions the console offers (print writes to the console).
BUILTINS = frozenset({"print", "len", "abs", "min", "max", "round", "float", "int",
                      "bool", "range", "True", "False", "None"})

# Names people try that reach files, code or internals: refused by name, with a reason.
FORBIDDEN_NAMES = {
    "open": "the console never reads or writes files",
    "getattr": "attributes are written out (x.grad), so the console can check each one",
    "setattr": "attributes are written out (x.requires_grad = True)",
    "delattr": "attributes are written out",
    "hasattr": "attributes are written out",
    "eval": "the console runs your statements itself",
    "exec": "the console runs your statements itself",
    "compile": "the console runs your statements itself",
    "globals": "it would reach the console's own workings",
    "locals": "it would reach the console's own workings",
    "vars": "it would reach the console's own workings",
    "dir": "it would reach the console's own workings",
    "type": "it would reach Python's internals; x.dtype says a tensor's type",
    "object": "it would reach Python's internals",
    "input": "the console reads statements only",
    "breakpoint": "the console cannot be paused",
    "help": "the lessons and tooltips explain the functions",
    "exit": "the console has no process of its own to end",
    "quit": "the console has no process of its own to end",
    "memoryview": "the console does not touch raw memory",
}

# The console's own names, which statements may use but not rebind.
RESERVED_NAMES = frozenset({"torch", "np", "F"}) | BUILTINS

# Every attribute name any type allows: an attribute outside this set is refused
# before the statement runs, whatever it would be applied to.
ALL_ATTRIBUTES = (TORCH_FUNCTIONS | TORCH_VALUES | CUDA_FUNCTIONS | FUNCTIONAL_FUNCTIONS
                  | NUMPY_FUNCTIONS | NUMPY_VALUES | TENSOR_FIELDS | TENSOR_METHODS
                  | NDARRAY_FIELDS | NDARRAY_METHODS | NODE_FIELDS | NODE_METHODS
                  | SIZE_METHODS | DEVICE_FIELDS | DTYPE_FIELDS
                  | {"cuda", "nn", "functional"})

# Things people reach for that are left out, and why (a refusal names the reason).
WHY_NOT = {
    "save": "the console never writes files",
    "load": "the console never reads files (loading can run code)",
    "tofile": "the console never writes files",
    "fromfile": "the console never reads files",
    "dump": "the console never writes files",
    "dumps": "it would pickle the array",
    "storage": "the console does not touch raw memory",
    "untyped_storage": "the console does not touch raw memory",
    "data_ptr": "the console does not touch raw memory",
    "from_file": "the console never reads files",
    "frombuffer": "the console does not touch raw memory",
    "ctypes": "the console does not touch raw memory",
    "register_hook": "it takes a Python function, and the console defines none",
    "apply_": "it takes a Python function, and the console defines none",
}
