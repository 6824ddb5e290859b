"""`netexplorer autograd` and `netexplorer graph`: the lab's console and the model
graph, headless.

    netexplorer autograd "x = torch.ones(2, 2, requires_grad=True)" "y = x + 2" \\
        "out = (y * y * 3).mean()" "out.backward()" "x.grad"
    netexplorer autograd --lesson autograd
    netexplorer graph --model lenet --dot lenet.dot --svg lenet.svg

The statements run through the same evaluator as the Autograd tab (every
refusal and limit the same), one after another; each is echoed after `>>>` and
what it returns is printed the way Python's prompt (and the tutorial) prints
it. The exit status is 1 when a statement was refused or failed, unless it is
a lesson's step that fails on purpose.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_FAILED = 1


def add_commands(commands: Any, add_model_arguments: Any) -> None:
    """Register both commands on the parser's subparsers (cli/main.py calls this;
    `add_model_arguments` is its --model/--spec pair)."""
    from netexplorer.core.autograd.lessons import LESSONS

    autograd = commands.add_parser(
        "autograd", help="run tensor statements through the lab's safe evaluator and print "
                         "each result, like the tutorial's first half")
    autograd.add_argument("statements", nargs="*", metavar="STATEMENT",
                          help='a statement in Python syntax, e.g. "x = torch.ones(2, 2, '
                               'requires_grad=True)"; each runs after the one before')
    autograd.add_argument("--lesson", choices=[lesson.key for lesson in LESSONS],
                          help="run a preloaded lesson's steps first")
    autograd.add_argument("--tensors", action="store_true",
                          help="at the end, list every tensor: shape, dtype, device, "
                               "requires_grad, is_leaf, grad_fn, version")
    autograd.set_defaults(handler=cmd_autograd)

    graph = commands.add_parser(
        "graph", help="trace one forward pass and loss of a model through autograd and "
                      "print the graph's nodes grouped by layer")
    add_model_arguments(graph)
    graph.add_argument("--loss", default="cross-entropy",
                       help="the loss traced: cross-entropy, nll or mse "
                            "(default: cross-entropy)")
    graph.add_argument("--dot", type=Path, metavar="FILE", help="also write the graph as "
                                                                "Graphviz DOT")
    graph.add_argument("--svg", type=Path, metavar="FILE", help="also write it as an SVG "
                                                                "picture")
    graph.set_defaults(handler=cmd_graph)


def cmd_autograd(args: argparse.Namespace) -> int:
    from netexplorer.cli.main import CommandError
    from netexplorer.core.autograd.console import Console
    from netexplorer.core.autograd.lessons import LessonStep, lesson

    if not args.statements and not args.lesson:
        raise CommandError("give statements to run, or --lesson NAME")
    console = Console()
    steps = list(lesson(args.lesson).steps) if args.lesson else []
    steps += [LessonStep(statement) for statement in args.statements]
    failed = False
    state = None
    for step in steps:
        print(_prompt(step.code))
        state = console.run_step(step.code, step.needs_cuda, step.without_cuda)
        failed |= not state.ok and not step.fails
        for output in state.outputs:
            print(output.text if output.kind in ("value", "printed", "refused") else
                  f"# {output.text}" if output.kind == "changed" else
                  f"{output.kind}: {output.text}")
    if args.tensors:
        print(_tensor_table(state.tensors if state is not None else ()))
    return EXIT_FAILED if failed else 0


def _prompt(code: str) -> str:
    lines = code.splitlines() or [""]
    return "\n".join([f">>> {lines[0]}"] + [f"... {line}" for line in lines[1:]])


def _tensor_table(records: Any) -> str:
    rows = [("name", "shape", "dtype", "device", "requires_grad", "is_leaf", "grad_fn",
             "version")]
    for r in records:
        rows.append((r.name, "×".join(map(str, r.shape)) or "scalar", r.dtype, r.device,
                     str(r.requires_grad), str(r.is_leaf), r.grad_fn or "–",
                     "–" if r.version is None else str(r.version)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def cmd_graph(args: argparse.Namespace) -> int:
    from netexplorer.cli.main import CommandError, load_spec_argument
    from netexplorer.core.autograd.model_graph import trace_model
    from netexplorer.core.autograd.writers import to_text, write_graph
    from netexplorer.core.train_config import LOSSES

    if args.loss not in LOSSES:
        raise CommandError(f"--loss is one of {', '.join(LOSSES)}, not {args.loss!r}")
    spec = load_spec_argument(args)
    graph = trace_model(spec, args.loss)
    sys.stdout.write(f"{graph.title}\n\n{to_text(graph)}")
    for path, kind in ((args.dot, "dot"), (args.svg, "svg")):
        if path is not None:
            try:
                write_graph(path, graph, kind)
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
            print(f"wrote {path}")
    return 0
