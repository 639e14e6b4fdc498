"""``workbench.format``: the one formatter of parameter and metric values (CLI, dashboard tables, compare, charts)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from workbench import format as fmt
from workbench.format import exact_value, format_distinct, format_value


def test_doctests() -> None:
    assert doctest.testmod(fmt).failed == 0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1.7e-06, "1.7e-06"),  # never 0.000002
        (0.0012750002362980645, "0.001275"),
        (7.459343285726558e-05, "7.459e-05"),
        (0.96217, "0.9622"),
        (-12.5, "-12.5"),
        (12345.678, "12346"),  # whole digits are never rounded away
        (2.5e9, "2.5e+09"),
        (np.float64(3e-7), "3e-07"),
        (np.int64(20), "20"),
        (0.0, "0"),
        (-0.0, "0"),
        (math.nan, "-"),
        (None, "-"),
        (-math.inf, "-inf"),
        (False, "False"),
        ("l2", "l2"),
    ],
)
def test_format_value(value: object, shown: str) -> None:
    assert format_value(value) == shown


def test_formatted_values_read_back_close_to_the_value() -> None:
    """Four significant digits at least, over magnitudes from 1e-12 to 1e12."""
    rng = np.random.default_rng(0)
    for x in 10.0 ** rng.uniform(-12, 12, 2000) * rng.choice([-1, 1], 2000):
        assert float(format_value(x)) == pytest.approx(x, rel=5e-4)


def test_values_side_by_side_stay_distinct() -> None:
    assert format_distinct([0.30000001, 0.3, "adam"]) == ["0.30000001", "0.3", "adam"]
    assert format_distinct([1.0, 1.0 + 1e-15]) == ["1", exact_value(1.0 + 1e-15)]
