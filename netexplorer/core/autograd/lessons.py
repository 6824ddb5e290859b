"""The tutorial's first half as lessons, in its order, each a few statements.

"What is PyTorch?" (tensors, operations, the numpy bridge, CUDA tensors) then
"Autograd: automatic differentiation" (requires_grad, grad_fn, backward, the
vector–Jacobian product, no_grad), and last the three errors learners meet
first. Each step is one console statement with a note on what to look at; a
person steps through, edits and re-runs them. Steps marked `needs_cuda` are not
run where torch.cuda.is_available() is false: `without_cuda` says what they
would do. Steps marked `fails` show an error on purpose.

Plain data, no torch: the lesson list is shown before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LessonStep:
    code: str
    note: str = ""
    needs_cuda: bool = False
    without_cuda: str = ""
    fails: bool = False  # the step shows an error on purpose


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    intro: str
    steps: tuple[LessonStep, ...]


S = LessonStep

LESSONS: tuple[Lesson, ...] = (
    Lesson("tensors", "1 · Tensors",
           "A tensor is an n-dimensional array, like numpy's ndarray, that can also live "
           "on a GPU. Construct a few and look at each one on the right.",
           (S("x = torch.empty(5, 3)",
              "uninitialised: whatever was in that memory, so the values are arbitrary"),
            S("x = torch.rand(5, 3)", "uniform random numbers in [0, 1)"),
            S("x = torch.zeros(5, 3, dtype=torch.long)", "zeros, of dtype long (int64)"),
            S("x = torch.tensor([5.5, 3])", "straight from data"),
            S("x = x.new_ones(5, 3, dtype=torch.double)",
              "new_* methods take sizes and keep x's dtype and device unless told"),
            S("x = torch.randn_like(x, dtype=torch.float)",
              "same size as x, new dtype, normal random values"),
            S("x.size()", "torch.Size is a tuple: it supports every tuple operation"))),
    Lesson("operations", "2 · Operations",
           "Addition, four ways. A method ending in _ changes its tensor in place: watch "
           "y's version counter go up.",
           (S("x = torch.rand(5, 3)"),
            S("y = torch.rand(5, 3)"),
            S("x + y", "the operator"),
            S("torch.add(x, y)", "the function"),
            S("result = torch.empty(5, 3)"),
            S("torch.add(x, y, out=result)", "into an output tensor: result changes in place"),
            S("y.add_(x)", "in place: y itself changes and its version goes up"),
            S("x[:, 1]", "numpy-like indexing: the second column"),
            S("x = torch.randn(4, 4)"),
            S("y = x.view(16)", "view: the same memory, another shape"),
            S("z = x.view(-1, 8)", "-1 is inferred from the other dimensions"),
            S("x.size(), y.size(), z.size()"),
            S("one = torch.randn(1)"),
            S("one.item()", "a one-element tensor's value as a Python number"))),
    Lesson("numpy", "3 · The NumPy bridge",
           "A CPU tensor and the numpy array made from it share their memory: change one "
           "and the other changes too.",
           (S("a = torch.ones(5)"),
            S("b = a.numpy()", "b is a numpy view of a's memory"),
            S("a.add_(1)", "only a is changed… and b shows the change too"),
            S("b"),
            S("c = np.ones(5)"),
            S("d = torch.from_numpy(c)", "and the other way: d uses c's memory"),
            S("np.add(c, 1, out=c)", "numpy changes c in place, so d changes"),
            S("d"))),
    Lesson("cuda", "4 · CUDA tensors",
           "Tensors move between devices with .to(). Where a CUDA GPU exists these steps "
           "run there; where none does, each says what it would do.",
           (S("x = torch.randn(3)"),
            S("torch.cuda.is_available()", "True where PyTorch sees a CUDA GPU"),
            S('device = torch.device("cuda")', "a CUDA device object", needs_cuda=True,
              without_cuda="would name the first GPU, cuda:0"),
            S("y = torch.ones_like(x, device=device)", "made directly on the GPU",
              needs_cuda=True,
              without_cuda="would make y, three ones, directly in the GPU's memory"),
            S("x = x.to(device)", "copied to the GPU", needs_cuda=True,
              without_cuda="would copy x to the GPU: x.device would read cuda:0"),
            S("z = x + y", "computed on the GPU", needs_cuda=True,
              without_cuda="would add on the GPU; z would live there, device cuda:0"),
            S('z.to("cpu", torch.double)', "back to the CPU, changing dtype on the way",
              needs_cuda=True,
              without_cuda="would copy z back to the CPU as float64: tensor([…], "
                           "dtype=torch.float64)"))),
    Lesson("autograd", "5 · Autograd",
           "requires_grad=True makes autograd record every operation on x. Each result "
           "knows the function that made it (grad_fn); backward() follows those back and "
           "leaves d(out)/dx in x.grad. Watch the graph on the right grow.",
           (S("x = torch.ones(2, 2, requires_grad=True)", "a leaf that requires grad"),
            S("y = x + 2", "an operation: y has a grad_fn"),
            S("y.grad_fn", "AddBackward0: the node that made y"),
            S("z = y * y * 3"),
            S("out = z.mean()", "out = mean(3(x+2)²) = 27 here"),
            S("out.backward()", "one number, so no argument is needed"),
            S("x.grad", "d(out)/dx = 3(x+2)/2 = 4.5 everywhere"),
            S("a = torch.randn(2, 2)"),
            S("a = (a * 3) / (a - 1)"),
            S("a.requires_grad", "False: nothing asked for it"),
            S("a.requires_grad_(True)", "in place: from now on autograd records"),
            S("b = (a * a).sum()"),
            S("b.grad_fn", "SumBackward0"))),
    Lesson("vjp", "6 · Vector–Jacobian product",
           "For a y with several elements autograd computes vᵀ·J for a vector v you give "
           "backward(). Here y = x·2ᵏ, so x.grad is 2ᵏ·v.",
           (S("torch.manual_seed(0)", "the same random x each time"),
            S("x = torch.randn(3, requires_grad=True)"),
            S("y = x * 2"),
            S("while y.data.norm() < 1000:\n    y = y * 2", "doubled until its norm reaches "
              "1000"),
            S("y / x", "2ᵏ: how many doublings it took"),
            S("v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)"),
            S("y.backward(v)", "the vector–Jacobian product vᵀ·J"),
            S("x.grad", "2ᵏ·v"),
            S("x.requires_grad"),
            S("with torch.no_grad():\n    print((x ** 2).requires_grad)",
              "inside no_grad nothing is recorded"))),
    Lesson("errors", "7 · When autograd says no",
           "Three errors everyone meets once, and what they mean.",
           (S("x = torch.ones(3, requires_grad=True)"),
            S("y = (x * x).sum()"),
            S("y.backward()", "fine the first time"),
            S("y.backward()", "the graph's saved values are gone", fails=True),
            S("y = x * 2"),
            S("y.backward()", "y has three elements: backward needs a vector",
              fails=True),
            S("y = x + 1"),
            S("z = y * y", "multiplication saves y for the backward pass"),
            S("y.add_(1)", "in place: y's version goes from 0 to 1"),
            S("z.sum().backward()", "autograd notices that y changed", fails=True))),
)


def lesson(key: str) -> Lesson:
    """The lesson called `key`; KeyError naming the keys if there is none."""
    for item in LESSONS:
        if item.key == key:
            return item
    raise KeyError(f"no lesson {key!r}: choose one of {', '.join(item.key for item in LESSONS)}")
