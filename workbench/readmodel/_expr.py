"""Trial filters such as ``lr > 0.01 and state == "Succeeded"``, evaluated on the trial table without ``eval``.

Names are columns of the trial table: ``number``, ``state``, ``duration_s``, ``run_id``, ...,
and parameters and metrics by their bare name (``lr``, ``accuracy``) or in full
(``params.lr``, ``metrics.accuracy``; a bare name that is both a parameter and a metric is
refused as ambiguous). Allowed: comparisons (``== != < <= > >=``, chained), ``in`` / ``not
in`` with a list, ``and`` / ``or`` / ``not``, ``+ - * /`` on numbers and numeric columns, numbers,
strings, ``True``, ``False``, ``None``. Anything else is an :class:`ExpressionError` naming what is not
allowed. What an expression can build is bounded: arithmetic never makes text or lists (so
``"a" * 300000000`` is refused before it allocates anything), nesting is at most
:data:`MAX_DEPTH` deep, numbers are at most :data:`MAX_DIGITS` digits long; division by zero and
other arithmetic errors are messages too, never tracebacks.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"number": [0, 1, 2], "state": ["Succeeded", "Failed", "Succeeded"],
    ...                    "params.lr": [0.1, 0.001, 0.05]})
    >>> filter_trials(df, 'lr > 0.01 and state == "Succeeded"')["number"].tolist()
    [0, 2]
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError


class ExpressionError(WorkbenchError):
    """An expression that cannot be evaluated (the message says why)."""


_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CONSTANTS = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}
MAX_EXPRESSION = 2000
#: Deepest nesting of an expression (``- - - x`` or ``((x))`` count one level per operator or bracket).
MAX_DEPTH = 60
#: Longest integer literal (longer ones do not fit a float column's comparison anyway).
MAX_DIGITS = 30


def _resolve(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    hits = [c for c in (f"params.{name}", f"metrics.{name}") if c in frame.columns]
    if len(hits) == 1:
        return frame[hits[0]]
    if len(hits) > 1:
        raise ExpressionError(f"{name!r} is both a parameter and a metric: write params.{name} or metrics.{name}")
    names = sorted({c.split(".", 1)[-1] for c in frame.columns})
    raise ExpressionError(f"unknown name {name!r}; known: {', '.join(names)}")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _eval(node: ast.AST, frame: pd.DataFrame) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, frame)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return _integer(node.value)
        if isinstance(node.value, (float, str, bool)) or node.value is None:
            return node.value
        raise ExpressionError(f"constant {node.value!r} is not allowed")
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        return _resolve(frame, node.id)
    if isinstance(node, ast.Attribute):
        dotted = _dotted(node)
        if dotted is None:
            raise ExpressionError("only column names may be written with a dot (params.lr, metrics.loss)")
        return _resolve(frame, dotted)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, frame) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        values = [_as_bool(_eval(v, frame), frame) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = (out & v) if isinstance(node.op, ast.And) else (out | v)
        return out
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            return ~_as_bool(value, frame)
        if isinstance(node.op, ast.USub):
            return -_number(value)
        if isinstance(node.op, ast.UAdd):
            return _number(value)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right = _number(_eval(node.left, frame)), _number(_eval(node.right, frame))
        try:
            return _ARITH[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
    if isinstance(node, ast.Compare):
        left = _eval(node.left, frame)
        out = None
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, frame)
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, list):
                    raise ExpressionError("'in' needs a list on its right: state in ['Failed', 'Pruned']")
                if not isinstance(left, pd.Series):
                    raise ExpressionError("'in' needs a column on its left")
                res = left.isin(right)
                res = ~res if isinstance(op, ast.NotIn) else res
            elif type(op) in _CMP:
                res = _compare(_CMP[type(op)], left, right)
            else:
                raise ExpressionError(f"operator {type(op).__name__} is not allowed")
            out = res if out is None else (out & res)
            left = right
        return out
    raise ExpressionError(f"{type(node).__name__} is not allowed in a filter")


def _integer(value: int) -> int | float:
    if len(str(abs(value))) > MAX_DIGITS:
        raise ExpressionError(f"the number {str(value)[:12]}… has more than {MAX_DIGITS} digits")
    return value if abs(value) < 2**63 else float(value)  # past int64, columns compare with a float


def _number(value: Any) -> Any:
    """An operand of ``+ - * /``: a number or a numeric column (text and lists are refused: their size is unbounded)."""
    if isinstance(value, pd.Series):
        if pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value):
            return value
        raise ExpressionError(f"+ - * / work on numbers: column {value.name} is not numeric")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ExpressionError(f"+ - * / work on numbers, not on {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _depth(tree: ast.AST) -> int:
    """How deeply ``tree`` nests (iteratively: a deep tree must not exhaust the stack while it is measured)."""
    deepest = 0
    todo = [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _compare(op: Any, left: Any, right: Any) -> Any:
    try:
        return op(left, right)
    except TypeError:
        # Mixed types (a number compared with a string column): compare as text, NaN never matches.
        if isinstance(left, pd.Series):
            return left.map(lambda v: _safe(op, v, right)).astype(bool)
        if isinstance(right, pd.Series):
            return right.map(lambda v: _safe(op, left, v)).astype(bool)
        raise ExpressionError(f"cannot compare {left!r} with {right!r}") from None


def _safe(op: Any, a: Any, b: Any) -> bool:
    try:
        return bool(op(a, b))
    except TypeError:
        return False


def _as_bool(value: Any, frame: pd.DataFrame) -> pd.Series:
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value):
            return value.fillna(False).astype(bool)
        raise ExpressionError(f"the expression must compare columns, e.g. {value.name} > 0 (not {value.name} alone)")
    if isinstance(value, bool):
        return pd.Series(value, index=frame.index)
    raise ExpressionError(f"the expression must compare columns, not use {value!r} as a condition")


def mask(frame: pd.DataFrame, expression: str) -> pd.Series:
    """The rows of ``frame`` for which ``expression`` holds (a boolean Series)."""
    text = expression.strip()
    if not text:
        return pd.Series(True, index=frame.index)
    if len(text) > MAX_EXPRESSION:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"syntax error at column {err.offset}: {err.msg}") from None
    except (RecursionError, MemoryError, ValueError) as err:  # a parser limit: nesting, or a huge literal
        raise ExpressionError(f"the expression is too deeply nested or too large ({err})") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"the expression nests more than {MAX_DEPTH} levels deep")
    try:
        result = _eval(tree, frame)
    except ExpressionError:
        raise
    except (ArithmeticError, ValueError, TypeError) as err:  # e.g. an overflow, or a list compared with a column
        raise ExpressionError(f"cannot evaluate the expression: {err}") from None
    if not isinstance(result, pd.Series):
        raise ExpressionError("the expression must compare columns, e.g. lr > 0.01")
    return _as_bool(result, frame)


def filter_trials(frame: pd.DataFrame, expression: str) -> pd.DataFrame:
    """The rows of the trial table for which ``expression`` holds."""
    return frame[mask(frame, expression)]


def select_ranges(
    frame: pd.DataFrame,
    ranges: dict[str, tuple[float, float]],
    choices: dict[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """Rows with every ``ranges`` column within ``[low, high]`` and every ``choices`` column one of its values.

    What the Experiment page's parallel-coordinates brush selects (columns are full names such as
    ``params.lr``). Rows with a missing value in a constrained column are left out.

    Example:
        >>> df = pd.DataFrame({"params.lr": [0.1, 0.001, 0.05], "params.opt": ["sgd", "adam", "adam"]})
        >>> select_ranges(df, {"params.lr": (0.01, 1.0)}, {"params.opt": ["adam"]}).index.tolist()
        [2]
    """
    keep = pd.Series(True, index=frame.index)
    for col, (low, high) in ranges.items():
        keep &= frame[col].between(low, high)
    for col, allowed in (choices or {}).items():
        keep &= frame[col].isin(list(allowed))
    return frame[keep]


def ranges_expression(
    ranges: dict[str, tuple[float, float]], choices: dict[str, list[Any]] | None = None
) -> str | None:
    """The filter expression that selects what :func:`select_ranges` does (``None`` if a name is not an identifier).

    Example:
        >>> ranges_expression({"params.lr": (0.01, 1.0)}, {"params.opt": ["adam"]})
        "0.01 <= params.lr <= 1.0 and params.opt in ['adam']"
    """
    parts = []
    for col, (low, high) in ranges.items():
        parts.append(f"{float(low)!r} <= {col} <= {float(high)!r}")
    for col, allowed in (choices or {}).items():
        parts.append(f"{col} in {list(allowed)!r}")
    names = [*ranges, *(choices or {})]
    if not all(all(part.isidentifier() for part in name.split(".")) for name in names):
        return None
    return " and ".join(parts)
