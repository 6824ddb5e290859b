"""Numbers as people read them."""

from __future__ import annotations

import math

import pytest

from netexplorer.core.formatting import plain


@pytest.mark.parametrize("value, text", [
    (0.236, "0.236"), (-0.236, "-0.236"), (4.19e-6, "4.19e-06"), (2.302585, "2.3"),
    (1234.5, "1.23e+03"), (math.nan, "–"), (None, "–"), (math.inf, "∞"), (-math.inf, "−∞"),
])
def test_plain_numbers_have_no_si_prefix(value, text):
    assert plain(value) == text
