"""The digits shipped in resources/ are scikit-learn's, prepared as every dataset
is stored; tools/make_digits.py remakes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netexplorer.core import digits
from netexplorer.core.errors import DatasetUnavailable

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_digits_are_scikit_learns():
    shipped, source = digits.read_digits(), digits.from_sklearn()
    assert shipped.images.dtype == np.uint8 and shipped.images.shape == (1797, 1, 8, 8)
    assert np.array_equal(shipped.images, source.images)
    assert np.array_equal(shipped.labels, source.labels)
    assert shipped.images.max() == 255  # 0..16 scaled, not left at 16


def test_the_tool_checks_the_file_against_scikit_learn():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "make_digits.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "identical" in out.stdout


def test_the_split_is_stratified_and_fixed():
    labels = digits.read_digits().labels
    mask = digits.stratified_test_mask(labels)
    assert np.array_equal(mask, digits.stratified_test_mask(labels))
    for c in range(10):
        share = mask[labels == c].mean()
        assert share == pytest.approx(digits.TEST_FRACTION, abs=0.01)
    assert not digits.stratified_test_mask(np.array([3]))[0]  # a class of one stays in train


def test_a_damaged_file_says_how_to_remake_it(tmp_path, monkeypatch):
    bad = tmp_path / digits.RESOURCE
    bad.write_bytes(b"not an npz")
    monkeypatch.setattr(digits, "resource", lambda name: bad)
    with pytest.raises(DatasetUnavailable, match="make_digits.py"):
        digits.read_digits()
    np.savez(bad, images=np.zeros((3, 1, 8, 8), np.uint8), labels=np.zeros(3, np.uint8))
    with pytest.raises(DatasetUnavailable, match="holds images"):
        digits.read_digits()
