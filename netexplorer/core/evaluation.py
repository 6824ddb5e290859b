"""Evaluation of a model on a split: accuracy, per-class accuracy, confusion
matrix and per-sample predictions — everything the evaluation view and the
tutorial's "Accuracy of plane: 69 %" table need, computed in batches on the
device and copied to the host once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from netexplorer.core import losses
from netexplorer.core.data import Split

EVAL_BATCH = 1024


@dataclass(frozen=True, eq=False)
class EvalReport:
    """Numbers only (numpy arrays, floats): safe to hand across threads."""

    accuracy: float
    loss: float
    per_class_accuracy: np.ndarray  # float, NaN for a class absent from the split
    confusion: np.ndarray  # int64 K×K; rows are true classes, columns predictions
    labels: np.ndarray  # int64 N
    predictions: np.ndarray  # int64 N
    confidences: np.ndarray  # float32 N: probability of the predicted class
    losses: np.ndarray  # float32 N
    classes: tuple[str, ...]

    @property
    def count(self) -> int:
        return int(self.labels.shape[0])

    def misclassified(self) -> np.ndarray:
        """Indices of wrong predictions, most confident mistakes first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        return wrong[np.argsort(-self.confidences[wrong], kind="stable")]

    def hardest(self, n: int | None = None) -> np.ndarray:
        """Indices sorted by loss, highest first."""
        order = np.argsort(-self.losses, kind="stable")
        return order if n is None else order[:n]

    def cell(self, true_class: int, predicted_class: int) -> np.ndarray:
        """Indices of the samples in one confusion-matrix cell."""
        return np.flatnonzero((self.labels == true_class) & (self.predictions == predicted_class))

    def per_class_lines(self) -> list[str]:
        """The tutorial's table: 'Accuracy for class: plane is 69.0 %'."""
        width = max((len(c) for c in self.classes), default=0)
        lines = []
        for name, acc, total in zip(self.classes, self.per_class_accuracy,
                                    self.confusion.sum(axis=1)):
            value = "  n/a" if np.isnan(acc) else f"{100 * acc:5.1f} %"
            lines.append(f"Accuracy of {name:<{width}} : {value}  ({int(total)} images)")
        return lines

    def confusion_lines(self) -> list[str]:
        names = [c[:6] for c in self.classes]
        width = max([len(n) for n in names] + [len(str(int(self.confusion.max(initial=0))))])
        head = " " * (width + 2) + " ".join(n.rjust(width) for n in names) + "   ← predicted"
        rows = [f"{names[i].rjust(width)}  " + " ".join(str(int(v)).rjust(width) for v in row)
                for i, row in enumerate(self.confusion)]
        return [head] + rows


def evaluate(model: torch.nn.Module, split: Split, *, loss: str = "cross-entropy",
             classes: Sequence[str] | None = None, num_classes: int | None = None,
             batch_size: int = EVAL_BATCH, device: torch.device | str | None = None,
             progress: Callable[[int, int], None] | None = None) -> EvalReport:
    """Run `model` over `split` without gradients and summarise the result.

    The split's tensors are used where they are (or moved once to `device`); the
    model's training mode is restored afterwards. `progress(done, total)` is told
    the images evaluated after each batch (the command line's progress line).
    """
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    images = split.images.to(device)
    labels = split.labels.to(device)
    k = num_classes or (len(classes) if classes is not None else None)
    was_training = model.training
    model.eval()
    outs_pred, outs_conf, outs_loss = [], [], []
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                out = model(images[start:start + batch_size])
                y = labels[start:start + batch_size]
                prob = losses.probabilities(loss, out)
                batch_conf, batch_pred = prob.max(dim=1)
                outs_pred.append(batch_pred)
                outs_conf.append(batch_conf.float())
                outs_loss.append(losses.sample_losses(loss, out, y).float())
                if k is None:
                    k = out.shape[1]
                if progress is not None:
                    progress(min(start + batch_size, images.shape[0]), images.shape[0])
    finally:
        model.train(was_training)
    k = k or 0
    if outs_pred:
        pred_t = torch.cat(outs_pred)
        confusion_t = torch.bincount(labels * k + pred_t, minlength=k * k).view(k, k)
        # One host copy for everything.
        pred, conf, loss_values, confusion, y_host = (
            t.cpu().numpy() for t in (pred_t, torch.cat(outs_conf), torch.cat(outs_loss),
                                      confusion_t, labels))
    else:
        pred = y_host = np.zeros(0, np.int64)
        conf = loss_values = np.zeros(0, np.float32)
        confusion = np.zeros((k, k), np.int64)
    names = tuple(classes) if classes is not None else tuple(str(i) for i in range(k))
    return report_of(y_host, pred, conf, loss_values, confusion, names)


def report_of(labels: np.ndarray, predictions: np.ndarray, confidences: np.ndarray,
              losses: np.ndarray, confusion: np.ndarray, classes: tuple[str, ...]
              ) -> EvalReport:
    """The EvalReport of per-image results: accuracy, mean loss and per-class
    accuracy derived the one way (an evaluation split across ranks joins its parts
    here too)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)
    n = len(labels)
    accuracy = float((predictions == labels).mean()) if n else float("nan")
    mean_loss = float(losses.astype(np.float64).mean()) if n else float("nan")
    return EvalReport(accuracy, mean_loss, per_class.astype(np.float64),
                      confusion.astype(np.int64), labels.astype(np.int64),
                      predictions.astype(np.int64), confidences.astype(np.float32),
                      losses.astype(np.float32), classes)
