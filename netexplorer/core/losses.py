"""The loss functions a run can use, defined once for training and evaluation.

- cross-entropy: on raw scores (logits), the usual choice for classification;
- nll: negative log-likelihood on log-probabilities, for models ending in logsoftmax;
- mse: mean squared error against one-hot targets, as in the tutorial's first net.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from netexplorer.core.train_config import LOSSES  # the names, importable without torch


def batch_loss(name: str, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean loss of a batch (what backward() runs on)."""
    if name == "cross-entropy":
        return F.cross_entropy(outputs, labels)
    if name == "nll":
        return F.nll_loss(outputs, labels)
    if name == "mse":
        return F.mse_loss(outputs, _one_hot(labels, outputs))
    raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")


def sample_losses(name: str, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One loss per sample, for "hardest examples" galleries."""
    if name == "cross-entropy":
        return F.cross_entropy(outputs, labels, reduction="none")
    if name == "nll":
        return F.nll_loss(outputs, labels, reduction="none")
    if name == "mse":
        return (outputs - _one_hot(labels, outputs)).pow(2).mean(dim=1)
    raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")


def probabilities(name: str, outputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities implied by the outputs: exp for log-probabilities
    (nll), softmax otherwise."""
    return outputs.exp() if name == "nll" else outputs.softmax(dim=1)


def _one_hot(labels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels, like.shape[1]).to(like.dtype)
