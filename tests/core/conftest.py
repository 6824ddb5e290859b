"""Fixtures for the core tests: datasets loaded once per session, one CPU thread."""

from __future__ import annotations

import pytest
import torch

from netexplorer.core.data import Dataset, load_dataset


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """One intra-op thread while the core tests run: steadier timings on a shared
    2-core machine, and the same reductions in every run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits8() -> Dataset:
    """The bundled digits at their native 1×8×8 (1,438 train / 359 test)."""
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits32() -> Dataset:
    """The bundled digits adapted to LeNet's 1×32×32."""
    return load_dataset("digits", input_shape=(1, 32, 32))


@pytest.fixture(scope="session")
def digits28() -> Dataset:
    """The bundled digits at deep-sigmoid's and mnist-cnn's 1×28×28."""
    return load_dataset("digits", input_shape=(1, 28, 28))
