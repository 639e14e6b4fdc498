"""Step conditions: a tiny, safe expression language.

``when: "{{steps.evaluate.outputs.accuracy}} > 0.9 and {{params.deploy}} == true"``

References are written as in arguments; the rest is a Python-like expression
limited to comparisons, ``and``/``or``/``not``, ``in``, literals and lists.
Nothing is ever passed to ``eval``.

Example:
    >>> evaluate_condition("{{params.x}} > 2 and {{params.mode}} in ['a', 'b']",
    ...                    {"params.x": 3, "params.mode": "a"})
    True
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

_REF = re.compile(r"\{\{\s*(params\.[A-Za-z_][\w-]*|steps\.[A-Za-z0-9_.-]+?\.outputs\.[A-Za-z_][\w-]*)\s*\}\}")
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_LITERALS = {"true": True, "false": False, "True": True, "False": False, "null": None, "None": None}


def condition_references(expression: str) -> list[str]:
    """The references a condition reads (``params.x``, ``steps.s.outputs.o``)."""
    return _REF.findall(expression)


def _compile(expression: str) -> tuple[ast.Expression, list[str]]:
    refs: list[str] = []

    def _swap(match: re.Match[str]) -> str:
        refs.append(match.group(1))
        return f"__ref{len(refs) - 1}"

    source = _REF.sub(_swap, expression)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"condition {expression!r} is not a valid expression: {err.msg}") from None
    for node in ast.walk(tree):
        allowed = (
            ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
            ast.Compare, ast.Constant, ast.Name, ast.Load, ast.List, ast.Tuple, *_COMPARE,
        )  # fmt: skip
        if not isinstance(node, allowed):
            raise ValueError(f"condition {expression!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and not (node.id.startswith("__ref") or node.id in _LITERALS):
            raise ValueError(
                f"condition {expression!r}: unknown name {node.id!r}; "
                "write references as {{params.x}} or {{steps.s.outputs.o}} and strings in quotes"
            )
    return tree, refs


def check_condition(expression: str) -> None:
    """Raise ``ValueError`` if the expression is not valid."""
    _compile(expression)


def evaluate_condition(expression: str, values: dict[str, Any]) -> bool:
    """Evaluate ``expression``; ``values`` maps each reference to its resolved value."""
    tree, refs = _compile(expression)
    env = {f"__ref{i}": values[ref] for i, ref in enumerate(refs)}

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else _LITERALS[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            if isinstance(node.op, ast.Not):
                return not value
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(ev(v) for v in node.values)
            return any(ev(v) for v in node.values)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = ev(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise ValueError(f"unsupported expression element {type(node).__name__}")

    return bool(ev(tree))
