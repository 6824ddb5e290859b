"""evaluate() and EvalReport on hand-built splits whose answers are known.

The model returns a fixed row of outputs per sample (the input holds the sample's
index), so every number — accuracy, losses, confidences, the confusion matrix —
can be written down beforehand or computed with torch.nn.functional directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netexplorer.core.data import Split
from netexplorer.core.evaluation import EvalReport, evaluate

CLASSES = ("cat", "dog", "bird", "fish")  # no fish in the split
LABELS = [0, 0, 0, 1, 1, 2, 2, 2]
LOGITS = [  # predicted class, and whether it is right, in the comments
    [3.0, 0.0, 0.0, 0.0],  # 0  cat   right
    [0.0, 2.5, 0.0, 0.0],  # 1  dog   wrong (cat)
    [1.0, 0.0, 0.0, 0.0],  # 2  cat   right
    [0.0, 4.0, 0.0, 0.0],  # 3  dog   right
    [0.0, 0.0, 0.0, 1.5],  # 4  fish  wrong (dog)
    [0.0, 0.0, 2.0, 0.0],  # 5  bird  right
    [5.0, 0.0, 0.0, 0.0],  # 6  cat   wrong (bird), the most confident mistake
    [0.0, 0.0, 0.5, 0.0],  # 7  bird  right
]
PREDICTED = [0, 1, 0, 1, 3, 2, 0, 2]
CONFUSION = [[2, 1, 0, 0],
             [0, 1, 0, 1],
             [1, 0, 2, 0],
             [0, 0, 0, 0]]


class FixedOutputs(nn.Module):
    """Outputs row i of `table` for an input holding i; records its mode per call."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table.clone(), requires_grad=False)
        self.modes: list[bool] = []
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        self.batch_sizes.append(int(x.shape[0]))
        return self.table[x.reshape(x.shape[0], -1)[:, 0].long()]


def index_split(labels) -> Split:
    n = len(labels)
    return Split(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1),
                 torch.tensor(labels, dtype=torch.int64),
                 torch.zeros(n, 1, 1, 1, dtype=torch.uint8))


LOGITS_T = torch.tensor(LOGITS)
LABELS_T = torch.tensor(LABELS)
ONE_HOT = F.one_hot(LABELS_T, 4).float()


def outputs_for(loss: str) -> torch.Tensor:
    """What a model trained for `loss` outputs: log-probabilities for nll."""
    return LOGITS_T.log_softmax(dim=1) if loss == "nll" else LOGITS_T


def expected_losses(loss: str) -> torch.Tensor:
    if loss == "mse":
        return (LOGITS_T - ONE_HOT).pow(2).mean(dim=1)
    return F.cross_entropy(LOGITS_T, LABELS_T, reduction="none")  # nll of log_softmax: same


def expected_mean(loss: str) -> float:
    if loss == "mse":
        return float(F.mse_loss(LOGITS_T, ONE_HOT))
    if loss == "nll":
        return float(F.nll_loss(LOGITS_T.log_softmax(dim=1), LABELS_T))
    return float(F.cross_entropy(LOGITS_T, LABELS_T))


def run(loss: str = "cross-entropy", **options) -> EvalReport:
    return evaluate(FixedOutputs(outputs_for(loss)), index_split(LABELS), loss=loss,
                    classes=CLASSES, **options)


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return run()


# ------------------------------------------------------------------------ numbers


def test_accuracy_and_mean_loss(report):
    assert report.count == 8
    assert report.accuracy == 5 / 8
    assert report.loss == pytest.approx(expected_mean("cross-entropy"), rel=1e-6)


def test_confusion_matrix_counts(report):
    assert report.confusion.dtype == np.int64
    np.testing.assert_array_equal(report.confusion, CONFUSION)  # rows true, columns predicted
    assert report.confusion.sum() == report.count
    np.testing.assert_array_equal(report.confusion.sum(axis=1), np.bincount(LABELS, minlength=4))


def test_per_class_accuracy_with_an_absent_class(report):
    acc = report.per_class_accuracy
    assert acc.dtype == np.float64 and acc.shape == (4,)
    np.testing.assert_allclose(acc[:3], [2 / 3, 1 / 2, 2 / 3])
    assert math.isnan(acc[3])


def test_per_sample_predictions_confidences_and_losses(report):
    np.testing.assert_array_equal(report.labels, LABELS)
    np.testing.assert_array_equal(report.predictions, PREDICTED)
    assert report.predictions.dtype == np.int64
    assert report.confidences.dtype == np.float32 and report.losses.dtype == np.float32
    np.testing.assert_allclose(report.confidences, LOGITS_T.softmax(dim=1).max(dim=1).values,
                               rtol=1e-6)
    np.testing.assert_allclose(report.losses, expected_losses("cross-entropy"), rtol=1e-6)
    assert report.classes == CLASSES


@pytest.mark.parametrize("loss", ["cross-entropy", "mse", "nll"])
def test_each_loss(loss):
    got = run(loss)
    assert got.loss == pytest.approx(expected_mean(loss), rel=1e-6)
    np.testing.assert_allclose(got.losses, expected_losses(loss), rtol=1e-5, atol=1e-7)
    # nll's outputs are log-probabilities: exp gives the same confidences as softmax
    np.testing.assert_allclose(got.confidences, LOGITS_T.softmax(dim=1).max(dim=1).values,
                               rtol=1e-5)
    np.testing.assert_array_equal(got.predictions, PREDICTED)
    np.testing.assert_array_equal(got.confusion, CONFUSION)
    assert got.accuracy == 5 / 8


# ---------------------------------------------------------------- galleries, cells


def test_misclassified_most_confident_first(report):
    np.testing.assert_array_equal(report.misclassified(), [6, 1, 4])


def test_hardest_by_loss(report):
    reference = torch.argsort(expected_losses("cross-entropy"), descending=True).tolist()
    np.testing.assert_array_equal(report.hardest(), reference)
    np.testing.assert_array_equal(report.hardest(3), [6, 1, 4])
    assert len(report.hardest(100)) == 8
    assert len(report.hardest(0)) == 0


@pytest.mark.parametrize("true, predicted, indices", [
    (0, 0, [0, 2]), (0, 1, [1]), (1, 3, [4]), (2, 0, [6]), (2, 2, [5, 7]), (3, 3, []),
    (1, 0, []),
])
def test_cell_indices(report, true, predicted, indices):
    np.testing.assert_array_equal(report.cell(true, predicted), indices)


def test_cells_partition_the_samples(report):
    cells = [report.cell(t, p) for t in range(4) for p in range(4)]
    assert sorted(i for cell in cells for i in cell) == list(range(8))
    assert [len(c) for c in cells] == [n for row in CONFUSION for n in row]


def test_nothing_misclassified():
    perfect = evaluate(FixedOutputs(F.one_hot(LABELS_T, 4).float() * 3), index_split(LABELS),
                       classes=CLASSES)
    assert perfect.accuracy == 1.0
    assert len(perfect.misclassified()) == 0
    np.testing.assert_array_equal(np.diag(perfect.confusion), [3, 2, 3, 0])


# ------------------------------------------------------------------------- tables


def test_per_class_lines(report):
    lines = report.per_class_lines()
    assert len(lines) == 4
    for name, line in zip(CLASSES, lines):
        assert line.startswith(f"Accuracy of {name}")
    assert "66.7 %" in lines[0] and "(3 images)" in lines[0]
    assert "50.0 %" in lines[1] and "(2 images)" in lines[1]
    assert "n/a" in lines[3] and "(0 images)" in lines[3]
    assert len({line.index(":") for line in lines}) == 1  # the colons line up


def test_confusion_lines(report):
    head, *rows = report.confusion_lines()
    assert head.split()[:4] == list(CLASSES) and "predicted" in head
    assert [row.split() for row in rows] == [[name] + [str(v) for v in counts]
                                             for name, counts in zip(CLASSES, CONFUSION)]
    assert len({len(row) for row in rows}) == 1


# ------------------------------------------------------------- modes and batching


@pytest.mark.parametrize("training", [True, False])
def test_mode_is_eval_inside_and_restored_after(training):
    model = FixedOutputs(LOGITS_T)
    model.train(training)
    evaluate(model, index_split(LABELS), classes=CLASSES)
    assert model.modes and not any(model.modes)
    assert model.training is training


def test_mode_is_restored_when_the_model_fails():
    class Broken(FixedOutputs):
        def forward(self, x):
            raise RuntimeError("boom")

    model = Broken(LOGITS_T)
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(model, index_split(LABELS), classes=CLASSES)
    assert model.training


def test_no_gradients_are_recorded():
    table = nn.Parameter(LOGITS_T.clone())

    class Trainable(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = table

        def forward(self, x):
            return self.table[x.reshape(x.shape[0], -1)[:, 0].long()] * 1.0

    evaluate(Trainable(), index_split(LABELS), classes=CLASSES)
    assert table.grad is None


@pytest.mark.parametrize("batch_size", [1, 3, 7, 8])
def test_small_batches_give_identical_results(report, batch_size):
    model = FixedOutputs(LOGITS_T)
    got = evaluate(model, index_split(LABELS), classes=CLASSES, batch_size=batch_size)
    assert model.batch_sizes == [min(batch_size, 8 - s) for s in range(0, 8, batch_size)]
    assert got.accuracy == report.accuracy and got.loss == report.loss
    for name in ("per_class_accuracy", "confusion", "labels", "predictions", "confidences",
                 "losses"):
        np.testing.assert_array_equal(getattr(got, name), getattr(report, name), err_msg=name)


def test_real_linear_layer_on_flat_inputs():
    """nn.Linear with fixed weights: class k scores 2·x_k − x_0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 3))
    with torch.no_grad():
        model[1].weight.copy_(2 * torch.eye(3) - torch.tensor([[1.0, 0, 0]] * 3))
        model[1].bias.zero_()
    x = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 3, 1], [0.5, 0, 0.1]])
    labels = [0, 1, 2, 2, 1]
    split = Split(x.view(5, 1, 1, 3), torch.tensor(labels),
                  torch.zeros(5, 1, 1, 3, dtype=torch.uint8))
    got = evaluate(model, split)  # classes and their count come from the model's output
    logits = model(x.view(5, 1, 1, 3)).detach()
    np.testing.assert_array_equal(got.predictions, [0, 1, 2, 1, 0])
    assert got.classes == ("0", "1", "2")
    assert got.accuracy == 3 / 5
    assert got.loss == pytest.approx(float(F.cross_entropy(logits, torch.tensor(labels))))
    np.testing.assert_array_equal(got.confusion, [[1, 0, 0], [1, 1, 0], [0, 1, 1]])


def test_empty_split():
    got = evaluate(FixedOutputs(LOGITS_T), index_split([]), classes=CLASSES)
    assert got.count == 0
    assert math.isnan(got.accuracy) and math.isnan(got.loss)
    np.testing.assert_array_equal(got.confusion, np.zeros((4, 4)))
    assert all(math.isnan(a) for a in got.per_class_accuracy)
    assert len(got.misclassified()) == 0 and len(got.hardest()) == 0
    assert len(got.per_class_lines()) == 4


def test_num_classes_without_names():
    got = evaluate(FixedOutputs(LOGITS_T), index_split(LABELS), num_classes=4)
    assert got.classes == ("0", "1", "2", "3")
    np.testing.assert_array_equal(got.confusion, CONFUSION)


def test_explicit_cpu_device(report):
    got = run(device="cpu")
    np.testing.assert_array_equal(got.confusion, report.confusion)
