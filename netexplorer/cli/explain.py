"""`netexplorer explain CKPT --index N`: what the model says about one image and
why — its true class, the prediction, the three most probable classes — and the
saliency picture (gradient × input, Grad-CAM on the last convolution) as a PNG.

CKPT is read as `evaluate` reads it (cli.run.open_source): a checkpoint file, a
plain state_dict with --model/--spec, or a stored run by id, id prefix or name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from netexplorer.cli.main import CommandError
from netexplorer.cli.run import load_data, open_source
from netexplorer.core.data import require_images
from netexplorer.core.devices import describe, resolve_device
from netexplorer.core.explain import Explanation, explain_example
from netexplorer.core.explain_pictures import class_name, picture_title, write_saliency_png

TOP = 3


def default_picture(split: str, index: int) -> Path:
    """Where the picture goes without --out: the current folder, named for the image."""
    return Path(f"explain-{split}-{index}.png")


def run_explanation(args: argparse.Namespace, spec=None, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up now, so that redirect_stdout sees it
    source = open_source(args.checkpoint, getattr(args, "runs_dir", None), spec=spec,
                         which="best" if getattr(args, "best", False) else "last")
    checkpoint = source.checkpoint
    name = args.dataset or checkpoint.dataset_name or "digits"
    dataset = load_data(args, name, checkpoint.spec.input_shape, checkpoint.normalization)
    split = require_images(dataset, args.split)
    device = resolve_device(args.device)
    model = checkpoint.build_model().to(device)
    loss = checkpoint.config.loss if checkpoint.config else "cross-entropy"
    try:
        explanation = explain_example(model, split, args.index, split_name=args.split,
                                      loss=loss)
    except ValueError as exc:  # no such image or class, a model that is no classifier
        raise CommandError(str(exc)) from None
    classes = dataset.classes
    print(f"{checkpoint.spec.name} ({source.describe(args.checkpoint)}) on {dataset.name}, "
          f"{args.split} image #{args.index:,}, {describe(device)}", file=out)
    for line in explanation_lines(explanation, classes):
        print(line, file=out)
    path = args.out if args.out is not None else default_picture(args.split, args.index)
    try:
        written = write_saliency_png(path, explanation, dataset.normalization.mean,
                                     dataset.normalization.std, classes,
                                     picture_title(explanation, classes, checkpoint.spec.name))
    except OSError as exc:
        raise CommandError(f"cannot write the picture {path}: {exc.strerror or exc}") from None
    what = "gradient × input" + (f" and Grad-CAM on {explanation.cam_layer}"
                                 if explanation.cam_layer else " (no convolution: no Grad-CAM)")
    print(f"Saliency picture ({what}, for {class_name(classes, explanation.target)}): {written}",
          file=out)
    return 0


def explanation_lines(explanation: Explanation, classes: tuple[str, ...]) -> list[str]:
    """The true class, the prediction and the top classes in percent."""
    predicted = explanation.predicted
    lines = []
    if explanation.label is not None:
        lines.append(f"True class: {class_name(classes, explanation.label)}")
    verdict = "" if explanation.label is None else (
        " — right" if predicted == explanation.label else " — wrong")
    lines.append(f"Predicted:  {class_name(classes, predicted)} "
                 f"({100 * explanation.confidence:.1f} %){verdict}")
    top = explanation.top(TOP)
    lines.append(f"Top {len(top)}:")
    width = max(len(class_name(classes, c)) for c, _ in top)
    lines.extend(f"  {class_name(classes, c):<{width}}  {100 * p:5.1f} %" for c, p in top)
    return lines
