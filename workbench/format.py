"""Numbers people can read: the one formatter of parameter and metric values.

The CLI (``workbench show``, ``best``, ``trials``), the dashboard's tables, Compare, chart
tooltips and axis labels all show a value through :func:`format_value`: a few significant
digits, an exponent for very small or very large magnitudes, never a value rounded to
something it is not (``alpha = 1.7e-06`` never shows as ``0.000002``). :func:`exact_value`
gives the full value, for a tooltip or a copy.

Example:
    >>> format_value(1.7e-06)
    '1.7e-06'
    >>> format_value(0.0012750002362980645)
    '0.001275'
    >>> format_value(7.459343285726558e-05)
    '7.459e-05'
    >>> format_value(0.91234), format_value(12.3456), format_value(12345.678)
    ('0.9123', '12.35', '12346')
    >>> format_value(123456789.0), format_value(2.0), format_value(-0.25)
    ('1.235e+08', '2', '-0.25')
    >>> format_value(3), format_value(True), format_value("adam"), format_value(None), format_value(float("nan"))
    ('3', 'True', 'adam', '-', '-')
    >>> exact_value(0.0012750002362980645)
    '0.0012750002362980645'
"""

from __future__ import annotations

import math
import numbers
from typing import Any

#: Significant digits shown by default.
DIGITS = 4
#: Magnitudes below this (and not zero) are written with an exponent.
SMALL = 1e-3
#: Magnitudes at or above this are written with an exponent.
LARGE = 1e6
#: What a missing value (``None``, NaN) is shown as.
MISSING = "-"


def format_value(value: Any, digits: int = DIGITS) -> str:
    """A parameter or metric value as people read it: ``digits`` significant digits, an exponent past
    :data:`SMALL`/:data:`LARGE`, whole numbers and booleans as they are, the integer part never rounded away.

    Example:
        >>> [format_value(v) for v in (1e-3, 0.00099999, 999999.4, 1e6, -3.0e-9, 0.0, float("inf"))]
        ['0.001', '0.001', '999999', '1e+06', '-3e-09', '0', 'inf']
        >>> format_value(3.14159265, digits=6)
        '3.14159'
    """
    if value is None:
        return MISSING
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if not isinstance(value, numbers.Real):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    digits = max(1, digits)
    magnitude = abs(x)
    if magnitude >= LARGE or (magnitude < 1 and abs(float(f"{x:.{digits - 1}e}")) < SMALL):
        return _exponent(x, digits)
    # Whole digits are never rounded away (12345.678 -> 12346, not 1.235e+04); below 1, `digits` significant ones.
    decimals = max(0, digits - math.floor(math.log10(magnitude)) - 1)
    text = _trim(f"{x:.{decimals}f}")
    if abs(float(text)) >= LARGE:  # 999999.6 -> 1000000: write it as the large number it became
        return _exponent(x, digits)
    return "0" if float(text) == 0 else text


def _exponent(x: float, digits: int) -> str:
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{_trim(mantissa)}e{exponent}"


def format_distinct(values: list[Any], digits: int = DIGITS) -> list[str]:
    """:func:`format_value` for values shown side by side (a row of Compare): numbers that differ never read
    the same, so as many more digits as that takes (up to the exact values).

    Example:
        >>> format_distinct([0.1234567, 0.1234589, "adam", None])
        ['0.123457', '0.123459', 'adam', '-']
        >>> format_distinct([2.0, 2])
        ['2', '2']
    """
    for d in range(max(1, digits), 18):
        shown = [format_value(v, d) for v in values]
        seen: dict[str, float] = {}
        if all(seen.setdefault(text, x) == x for text, x in _numbers(values, shown)):
            return shown
    return [exact_value(v) for v in values]


def _numbers(values: list[Any], shown: list[str]) -> list[tuple[str, float]]:
    """(shown text, value) of the numbers (not booleans, not NaN) among ``values``."""
    return [
        (text, float(v))
        for v, text in zip(values, shown, strict=True)
        if isinstance(v, numbers.Real) and not isinstance(v, bool) and not math.isnan(float(v))
    ]


def exact_value(value: Any) -> str:
    """The full value (shortest text that reads back to the same float), for a tooltip or a copy.

    Example:
        >>> exact_value(1.7e-06), exact_value(0.1 + 0.2), exact_value(None), exact_value(7)
        ('1.7e-06', '0.30000000000000004', '-', '7')
    """
    if value is None:
        return MISSING
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        return MISSING if math.isnan(x) else repr(x)
    return str(value)


def _trim(text: str) -> str:
    """``1.2300`` -> ``1.23``, ``2.000`` -> ``2`` (the digits after the point that say nothing)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
