"""The console's evaluator: Python syntax, a whitelist of what it may do.

A statement is parsed with `ast` and checked whole before any of it runs: only
the node types below, no name or attribute beginning with `_`, no name that
reaches files, code or internals (`open`, `getattr`, `eval` …), and no
attribute outside the allow-list (allowlist.py) — so `().__class__`,
`__import__('os')`, `lambda: 0`, `[i for i in x]`, `torch.save(x, 'f')` and
`x.numpy().tofile('f')` are refused before anything happens. Then it is
interpreted node by node (never compiled or exec'd): every attribute is checked
against what its object's type allows, every call against the allow-list it
came from, and every tensor result's size before it is made (limits.py).

Names a statement binds are kept only when it succeeds: a refused, failed or
stopped statement leaves every name as it was. In-place changes it made to
tensors that already existed (`y.add_(x)`, then an error) stay, as in Python.

The time limit (TIME_LIMIT_S) is checked between the statement's parts, so a
loop is stopped as soon as it runs past it. One torch operation cannot be
interrupted from Python once started; that is why sizes and FLOPs are bounded
first (limits.py), so that no single operation runs for long.
"""

from __future__ import annotations

import ast
import math
import operator
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from netexplorer.core.autograd import allowlist as allowed
from netexplorer.core.autograd.limits import (
    MAX_ELEMENTS,
    MAX_SEQUENCE,
    Refused,
    check_elements,
    check_length,
    check_numpy_call,
    check_operator,
    check_subscript,
    check_torch_call,
)

# Seconds one statement may run, checked between its parts.
TIME_LIMIT_S = 5.0
# Passes of one loop.
MAX_LOOP = 10_000
# Elements in all the tensors and arrays the console's names hold together.
MAX_HELD_ELEMENTS = 5 * MAX_ELEMENTS
# Characters print() may write per statement.
MAX_PRINTED = 100_000


class Stopped(Exception):
    """A statement that ran past a limit while running (time, loop passes)."""


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow, ast.MatMult: operator.matmul, ast.LShift: operator.lshift,
           ast.RShift: operator.rshift, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
           ast.BitXor: operator.xor}
_IN_PLACE = {ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul,
             ast.Div: operator.itruediv, ast.FloorDiv: operator.ifloordiv,
             ast.Mod: operator.imod, ast.Pow: operator.ipow, ast.MatMult: operator.imatmul,
             ast.LShift: operator.ilshift, ast.RShift: operator.irshift,
             ast.BitAnd: operator.iand, ast.BitOr: operator.ior, ast.BitXor: operator.ixor}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
    ast.Invert: operator.invert}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}

_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.Delete, ast.If, ast.While,
    ast.For, ast.Break, ast.Continue, ast.Pass, ast.With, ast.withitem, ast.Name,
    ast.Load, ast.Store, ast.Del, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.Call, ast.keyword, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.IfExp, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)

# Why a construct is refused, in a learner's words.
_REFUSED_NODES: dict[type, str] = {
    ast.Import: "import is not allowed: torch, F (torch.nn.functional) and np are already "
                "there",
    ast.ImportFrom: "import is not allowed: torch, F (torch.nn.functional) and np are "
                    "already there",
    ast.Lambda: "lambda is not allowed: the console defines no functions",
    ast.FunctionDef: "def is not allowed: the console defines no functions",
    ast.AsyncFunctionDef: "def is not allowed: the console defines no functions",
    ast.ClassDef: "class is not allowed: the console defines no classes",
    ast.ListComp: "a list comprehension is not allowed: use tensor operations (x * 2, "
                  "torch.stack) or a for loop",
    ast.SetComp: "a set comprehension is not allowed: use tensor operations or a for loop",
    ast.DictComp: "a dict comprehension is not allowed: use tensor operations or a for loop",
    ast.GeneratorExp: "a generator expression is not allowed: use tensor operations or a "
                      "for loop",
    ast.JoinedStr: "f-strings are not allowed: write print('y is', y)",
    ast.Dict: "dict literals are not allowed: the console works with tensors and lists",
    ast.Set: "set literals are not allowed: the console works with tensors and lists",
    ast.Starred: "*arguments are not allowed: write the arguments out",
    ast.Try: "try is not allowed: an error is shown with an explanation instead",
    ast.Raise: "raise is not allowed",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Return: "return is not allowed outside a function, and the console defines none",
    ast.Yield: "yield is not allowed",
    ast.Await: "await is not allowed",
    ast.NamedExpr: "the walrus operator := is not allowed: assign on its own line",
    ast.Assert: "assert is not allowed: compare and look at the result (x.grad == 4.5)",
}


@dataclass(frozen=True)
class Namespace:
    """A module as the console offers it: only its allowed members."""

    name: str
    members: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"<{self.name}: {len(self.members)} names>"


def _namespace(name: str, module: Any, names: frozenset[str],
               extra: Mapping[str, Any] | None = None) -> Namespace:
    members = {n: getattr(module, n) for n in sorted(names) if hasattr(module, n)}
    members.update(extra or {})
    return Namespace(name, members)


def console_globals() -> dict[str, Any]:
    """The names every console starts with: torch, F, np (each as a Namespace)."""
    import torch.nn.functional as functional

    f = _namespace("torch.nn.functional", functional, allowed.FUNCTIONAL_FUNCTIONS)
    cuda = _namespace("torch.cuda", torch.cuda, allowed.CUDA_FUNCTIONS)
    nn = Namespace("torch.nn", {"functional": f})
    torch_ns = _namespace("torch", torch, allowed.TORCH_FUNCTIONS | allowed.TORCH_VALUES,
                          {"cuda": cuda, "nn": nn})
    numpy_ns = _namespace("np", np, allowed.NUMPY_FUNCTIONS | allowed.NUMPY_VALUES)
    return {"torch": torch_ns, "F": f, "np": numpy_ns}


@dataclass(frozen=True)
class StatementResult:
    """What one top-level statement did: its value when it is an expression (shown
    like Python's prompt shows it), what it printed, and the names it bound."""

    source: str
    value: Any
    has_value: bool
    printed: str
    assigned: tuple[str, ...]


def _refuse_node(node: ast.AST) -> None:
    reason = _REFUSED_NODES.get(type(node))
    if reason is not None:
        raise Refused(reason)
    if not isinstance(node, _ALLOWED_NODES):
        raise Refused(f"{type(node).__name__} statements and expressions are not allowed in "
                      f"the console")


def _check_name(name: str, store: bool) -> None:
    if name.startswith("_"):
        raise Refused(f"{name}: names beginning with _ are not allowed (they reach Python's "
                      f"internals)")
    if name in allowed.FORBIDDEN_NAMES:
        raise Refused(f"{name} is not allowed: {allowed.FORBIDDEN_NAMES[name]}")
    if store and name in allowed.RESERVED_NAMES:
        raise Refused(f"{name} is one of the console's own names; choose another name")


def _check_attribute(attr: str) -> None:
    if attr == "_version":
        raise Refused("_version: attributes beginning with _ are not allowed; the tensor "
                      "view shows every tensor's version counter")
    if attr.startswith("_"):
        raise Refused(f"{attr}: attributes beginning with _ are not allowed (they reach "
                      f"Python's internals)")
    if attr in allowed.WHY_NOT:
        raise Refused(f"{attr} is not allowed: {allowed.WHY_NOT[attr]}")
    if attr not in allowed.ALL_ATTRIBUTES:
        raise Refused(f"{attr} is not an attribute the console allows (see the list under "
                      f"the console's help)")


def _check_target(target: ast.expr) -> None:
    if isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            _check_target(element)
    elif isinstance(target, ast.Attribute):
        if target.attr not in allowed.TENSOR_SETTABLE:
            raise Refused(f"only a tensor's requires_grad and grad can be assigned, not "
                          f".{target.attr}")
    elif not isinstance(target, ast.Name | ast.Subscript):
        raise Refused("only names, x[...] and a tensor's requires_grad or grad can be "
                      "assigned")


def check_tree(tree: ast.AST) -> None:
    """Refuse the statement if any part of it is outside the whitelist. Runs nothing."""
    for node in ast.walk(tree):
        _refuse_node(node)
        if isinstance(node, ast.Name):
            _check_name(node.id, isinstance(node.ctx, ast.Store | ast.Del))
        elif isinstance(node, ast.Attribute):
            _check_attribute(node.attr)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bytes):
                raise Refused("bytes literals are not allowed: the console works with "
                              "numbers and tensors")
            if isinstance(node.value, str):
                check_length("a string", len(node.value))
        elif isinstance(node, ast.keyword) and node.arg is None:
            raise Refused("**keyword arguments are not allowed: write them out")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                _check_target(target)
        elif isinstance(node, ast.Delete):
            if not all(isinstance(t, ast.Name) for t in node.targets):
                raise Refused("del takes names only: del x")
        elif isinstance(node, ast.With):
            for item in node.items:
                _check_with_item(item)


def _check_with_item(item: ast.withitem) -> None:
    expr = item.context_expr
    ok = (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
          and isinstance(expr.func.value, ast.Name) and expr.func.value.id == "torch"
          and expr.func.attr in ("no_grad", "enable_grad") and not expr.args)
    if not ok:
        raise Refused("with is allowed only as `with torch.no_grad():` or "
                      "`with torch.enable_grad():`")
    if item.optional_vars is not None:
        raise Refused("with torch.no_grad() takes no `as` name")


def parse(source: str) -> list[ast.stmt]:
    """The statements of `source`, checked; SyntaxError or Refused if not runnable."""
    tree = ast.parse(source, mode="exec")
    check_tree(tree)
    return tree.body


def _label(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node) or type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "…"


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _held_elements(values: Iterator[Any]) -> int:
    total = 0
    seen: set[int] = set()
    for value in values:
        if isinstance(value, torch.Tensor | np.ndarray) and id(value) not in seen:
            seen.add(id(value))
            total += int(value.size if isinstance(value, np.ndarray) else value.numel())
    return total


class Evaluator:
    """Runs checked statements against `names` (the person's variables).

    `around_backward(tensor)` gives a context manager that wraps every call of a
    tensor's backward() (the console records the gradients flowing through the
    graph there). Not thread-safe: one thread runs one evaluator's statements.
    """

    def __init__(self, *, time_limit_s: float = TIME_LIMIT_S,
                 around_backward: Callable[[Any], AbstractContextManager[Any]] | None = None
                 ) -> None:
        self.names: dict[str, Any] = {}
        self.time_limit_s = time_limit_s
        self._globals = console_globals()
        self._builtins: dict[str, Any] = {
            "print": self._print, "len": len, "abs": abs, "round": round, "float": float,
            "int": int, "bool": bool, "range": self._range, "min": self._min,
            "max": self._max, "True": True, "False": False, "None": None}
        self._around_backward = around_backward
        self._known = self._known_functions()
        self._deadline = math.inf
        self._printed: list[str] = []
        self._printed_chars = 0
        self._source = ""

    # ------------------------------------------------------------------ running

    def run(self, source: str) -> list[StatementResult]:
        """Run every statement of `source` in turn; stop at the first that fails
        (its exception propagates; the earlier ones' names are kept)."""
        results = []
        for statement in parse(source):
            results.append(self.run_statement(statement, source))
        return results

    def run_statement(self, statement: ast.stmt, source: str) -> StatementResult:
        """Run one checked top-level statement; its names are kept only if it succeeds."""
        self._source = source
        self._printed, self._printed_chars = [], 0
        scope = dict(self.names)
        self._deadline = time.perf_counter() + self.time_limit_s
        value, has_value = None, False
        if isinstance(statement, ast.Expr):
            value, has_value = self._eval(statement.value, scope), True
            self._check_size(_label(source, statement.value), value)
        else:
            self._exec(statement, scope)
        held = _held_elements(iter(scope.values()))
        if held > MAX_HELD_ELEMENTS:
            raise Refused(f"the console's names would hold {held:,} elements together; the "
                          f"limit is {MAX_HELD_ELEMENTS:,}: del some names first")
        assigned = tuple(n for n, v in scope.items()
                         if n not in self.names or self.names[n] is not v)
        self.names = scope
        return StatementResult(_label(source, statement), value, has_value,
                               "".join(self._printed), assigned)

    def _tick(self) -> None:
        if time.perf_counter() > self._deadline:
            raise Stopped(f"stopped after {self.time_limit_s:g} s, the console's time limit "
                          f"for one statement")

    # ------------------------------------------------------------------ statements

    def _exec_body(self, body: list[ast.stmt], scope: dict[str, Any]) -> None:
        for statement in body:
            self._exec(statement, scope)

    def _exec(self, node: ast.stmt, scope: dict[str, Any]) -> None:
        self._tick()
        if isinstance(node, ast.Expr):
            self._eval(node.value, scope)
        elif isinstance(node, ast.Assign):
            value = self._eval(node.value, scope)
            self._check_size(_label(self._source, node.value), value)
            for target in node.targets:
                self._assign(target, value, scope)
        elif isinstance(node, ast.AugAssign):
            self._augmented(node, scope)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                assert isinstance(target, ast.Name)  # check_tree allows names only
                if target.id not in scope:
                    raise NameError(f"name {target.id!r} is not defined")
                del scope[target.id]
        elif isinstance(node, ast.If):
            self._exec_body(node.body if self._eval(node.test, scope) else node.orelse, scope)
        elif isinstance(node, ast.While):
            self._while(node, scope)
        elif isinstance(node, ast.For):
            self._for(node, scope)
        elif isinstance(node, ast.With):
            self._with(node, scope)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        # ast.Pass: nothing

    def _loop_passes(self) -> Iterator[int]:
        for passes in range(MAX_LOOP + 1):
            if passes == MAX_LOOP:
                raise Stopped(f"stopped after {MAX_LOOP:,} passes of the loop, the "
                              f"console's limit")
            self._tick()
            yield passes

    def _while(self, node: ast.While, scope: dict[str, Any]) -> None:
        for _ in self._loop_passes():
            if not self._eval(node.test, scope):
                self._exec_body(node.orelse, scope)
                return
            if not self._run_loop_body(node.body, scope):
                return

    def _for(self, node: ast.For, scope: dict[str, Any]) -> None:
        items = iter(self._eval(node.iter, scope))
        for _ in self._loop_passes():
            try:
                item = next(items)
            except StopIteration:
                self._exec_body(node.orelse, scope)
                return
            self._assign(node.target, item, scope)
            if not self._run_loop_body(node.body, scope):
                return

    def _run_loop_body(self, body: list[ast.stmt], scope: dict[str, Any]) -> bool:
        """False when the body broke out of the loop."""
        try:
            self._exec_body(body, scope)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def _with(self, node: ast.With, scope: dict[str, Any]) -> None:
        managers = [self._eval(item.context_expr, scope) for item in node.items]
        with _all(managers):
            self._exec_body(node.body, scope)

    def _assign(self, target: ast.expr, value: Any, scope: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            scope[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            values = list(value)
            if len(values) != len(target.elts):
                raise ValueError(f"{len(target.elts)} names for {len(values)} values")
            for element, item in zip(target.elts, values):
                self._assign(element, item, scope)
        elif isinstance(target, ast.Subscript):
            owner = self._eval(target.value, scope)
            if not isinstance(owner, torch.Tensor | np.ndarray | list):
                raise Refused("x[...] = value works on tensors, arrays and lists only")
            owner[self._eval(target.slice, scope)] = value
        elif isinstance(target, ast.Attribute):
            owner = self._eval(target.value, scope)
            if not isinstance(owner, torch.Tensor):
                raise Refused(f".{target.attr} can be assigned on a tensor only")
            setattr(owner, target.attr, value)

    def _augmented(self, node: ast.AugAssign, scope: dict[str, Any]) -> None:
        op = _IN_PLACE[type(node.op)]
        label = _label(self._source, node)
        right = self._eval(node.value, scope)
        if isinstance(node.target, ast.Name):
            if node.target.id not in scope:
                raise NameError(f"name {node.target.id!r} is not defined")
            left = scope[node.target.id]
            check_operator(label, op, left, right)
            scope[node.target.id] = op(left, right)
            return
        assert isinstance(node.target, ast.Subscript)  # check_tree allows these two only
        owner = self._eval(node.target.value, scope)
        index = self._eval(node.target.slice, scope)
        left = owner[index]
        check_operator(label, op, left, right)
        owner[index] = op(left, right)

    # ------------------------------------------------------------------ expressions

    def _eval(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        self._tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._lookup(node.id, scope)
        if isinstance(node, ast.Attribute):
            return self._attribute(self._eval(node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, scope), self._eval(node.right, scope)
            op = _BINARY[type(node.op)]
            check_operator(_label(self._source, node), op, left, right)
            return op(left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, scope))
        if isinstance(node, ast.BoolOp):
            return self._bool_op(node, scope)
        if isinstance(node, ast.Compare):
            return self._compare(node, scope)
        if isinstance(node, ast.Subscript):
            value, index = self._eval(node.value, scope), self._eval(node.slice, scope)
            check_subscript(_label(self._source, node), value, index)
            return value[index]
        if isinstance(node, ast.Slice):
            return slice(*(None if part is None else self._eval(part, scope)
                           for part in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Tuple | ast.List):
            check_length(_label(self._source, node), len(node.elts))
            items = [self._eval(element, scope) for element in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.IfExp):
            chosen = node.body if self._eval(node.test, scope) else node.orelse
            return self._eval(chosen, scope)
        raise Refused(f"{type(node).__name__} is not allowed in the console")

    def _lookup(self, name: str, scope: dict[str, Any]) -> Any:
        for source in (scope, self._globals, self._builtins):
            if name in source:
                return source[name]
        raise NameError(f"name {name!r} is not defined")

    def _bool_op(self, node: ast.BoolOp, scope: dict[str, Any]) -> Any:
        value: Any = None
        for operand in node.values:
            value = self._eval(operand, scope)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _compare(self, node: ast.Compare, scope: dict[str, Any]) -> Any:
        left = self._eval(node.left, scope)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators):
            right = self._eval(comparator, scope)
            result = _COMPARE[type(op)](left, right)
            if not result:
                return result
            left = right
        return result

    # ------------------------------------------------------------------ attributes and calls

    def _attribute(self, owner: Any, attr: str) -> Any:
        what, names = _allowed_attributes(owner)
        if isinstance(owner, Namespace):
            if attr in owner.members:
                return owner.members[attr]
            raise Refused(f"{owner.name}.{attr} is not one of the functions the console "
                          f"allows")
        if attr not in names:
            raise Refused(f".{attr} is not allowed on {what}")
        return getattr(owner, attr)

    def _known_functions(self) -> dict[int, tuple[str, str]]:
        """Every function a statement can reach by name, by id: (where, name)."""
        known: dict[int, tuple[str, str]] = {}

        def add(namespace: Namespace) -> None:
            for name, member in namespace.members.items():
                if isinstance(member, Namespace):
                    add(member)
                elif callable(member):
                    known[id(member)] = (namespace.name, name)

        for namespace in self._globals.values():
            add(namespace)
        for name, member in self._builtins.items():
            if callable(member):
                known[id(member)] = ("builtins", name)
        return known

    def _call(self, node: ast.Call, scope: dict[str, Any]) -> Any:
        function = self._eval(node.func, scope)
        args = [self._eval(arg, scope) for arg in node.args]
        kwargs = {kw.arg: self._eval(kw.value, scope) for kw in node.keywords
                  if kw.arg is not None}
        label = _label(self._source, node)
        guard: AbstractContextManager[Any] = nullcontext()
        where, name, owner = self._classify(function)
        if where == "np":
            check_numpy_call(label, name, args, kwargs)
        elif where in ("torch", "torch.nn.functional", "tensor"):
            check_torch_call(label, name, function, args, kwargs, owner)
            if name == "backward" and self._around_backward is not None:
                guard = self._around_backward(owner)
        elif where == "unknown":
            raise Refused(f"{label}: calling this is not allowed in the console")
        with guard:
            result = function(*args, **kwargs)
        self._check_size(label, result)
        return result

    def _classify(self, function: Any) -> tuple[str, str, Any]:
        """(where the function comes from, its name, the object it is a method of)."""
        if id(function) in self._known:
            where, name = self._known[id(function)]
            return where, name, None
        owner = getattr(function, "__self__", None)
        name = getattr(function, "__name__", "")
        if isinstance(owner, torch.Tensor):
            return "tensor", name, owner
        if owner is not None and not isinstance(owner, type):
            what, names = _allowed_attributes(owner)
            if name in names:
                return what, name, owner
        if function is torch.device:
            return "torch", "device", None
        return "unknown", name, None

    def _check_size(self, label: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            check_elements(label, int(value.numel()), tuple(value.shape))
        elif isinstance(value, np.ndarray):
            check_elements(label, int(value.size), value.shape)
        elif isinstance(value, str | list | tuple):
            check_length(label, len(value))

    # ------------------------------------------------------------------ the builtins

    def _print(self, *values: Any, sep: str = " ", end: str = "\n") -> None:
        text = str(sep).join(str(v) for v in values) + str(end)
        room = MAX_PRINTED - self._printed_chars
        if room > 0:
            self._printed.append(text[:room])
            self._printed_chars += min(len(text), room)

    @staticmethod
    def _range(*args: int) -> range:
        numbers = range(*args)
        check_length(f"range{args}", len(numbers))
        return numbers

    @staticmethod
    def _min(*values: Any) -> Any:
        _python_values_only("min", values)
        return min(*values)

    @staticmethod
    def _max(*values: Any) -> Any:
        _python_values_only("max", values)
        return max(*values)


def _python_values_only(name: str, values: tuple[Any, ...]) -> None:
    if any(isinstance(v, torch.Tensor | np.ndarray) for v in values):
        raise Refused(f"{name}() of a tensor goes element by element in Python: write "
                      f"x.{name}() or torch.{name}(x)")


def _allowed_attributes(owner: Any) -> tuple[str, frozenset[str]]:
    """What kind of object `owner` is (in words), and the attributes it allows."""
    if isinstance(owner, Namespace):
        return owner.name, frozenset(owner.members)
    if isinstance(owner, torch.Tensor):
        return "a tensor", allowed.TENSOR_FIELDS | allowed.TENSOR_METHODS
    if isinstance(owner, np.ndarray):
        return "a numpy array", allowed.NDARRAY_FIELDS | allowed.NDARRAY_METHODS
    if isinstance(owner, torch.autograd.graph.Node):
        return "a grad_fn node", allowed.NODE_FIELDS | allowed.NODE_METHODS
    if isinstance(owner, torch.Size):
        return "a torch.Size", allowed.SIZE_METHODS
    if isinstance(owner, torch.device):
        return "a torch.device", allowed.DEVICE_FIELDS
    if isinstance(owner, torch.dtype):
        return "a torch.dtype", allowed.DTYPE_FIELDS
    return f"a {type(owner).__name__}", frozenset()


class _all:
    """Enter several context managers (torch.no_grad() …) as one."""

    def __init__(self, managers: list[Any]) -> None:
        self._managers = managers
        self._entered: list[Any] = []

    def __enter__(self) -> None:
        for manager in self._managers:
            manager.__enter__()
            self._entered.append(manager)

    def __exit__(self, *exc: Any) -> None:
        while self._entered:
            self._entered.pop().__exit__(*exc)


__all__ = ["MAX_ELEMENTS", "MAX_LOOP", "MAX_SEQUENCE", "TIME_LIMIT_S", "Evaluator",
           "Namespace", "Refused", "StatementResult", "Stopped", "check_tree",
           "console_globals", "parse"]
