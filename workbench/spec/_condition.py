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

#: A reference: ``{{params.NAME}}``, ``{{steps.STEP.outputs.OUTPUT}}`` (output names may hold spaces, as in
#: KFP v1), ``{{item}}`` / ``{{item.KEY}}`` (the current item of a ``forEach`` step), ``{{run.status}}`` (and
#: ``run.message``, ``run.id``, ``run.failedSteps``: the exit handler's view of the run) and
#: ``{{oneOf(steps.a.outputs.x, steps.b.outputs.y)}}`` (the output of whichever branch ran).
REFERENCE = re.compile(
    r"\{\{\s*("
    r"params\.[A-Za-z0-9_][A-Za-z0-9_.-]*"
    r"|steps\.[A-Za-z0-9_.-]+?\.outputs\.[^{}\s][^{}]*?"
    r"|item(?:\.[A-Za-z0-9_-]+)*"
    r"|run\.(?:status|message|id|failedSteps)"
    r"|oneOf\(\s*steps\.[^{}()]+?\)"
    r")\s*\}\}"
)
_REF = REFERENCE
#: Anything that looks like a reference (used to report malformed ones instead of passing them as text).
REFERENCE_LIKE = re.compile(r"\{\{\s*((?:params?|steps?|inputs|outputs|items?|run|oneOf)\b[^{}]*?)\s*\}\}")
#: The fields of ``{{run.*}}`` (only the exit handler may use them).
RUN_FIELDS = ("status", "message", "id", "failedSteps")


def one_of_alternatives(ref: str) -> list[str]:
    """``oneOf(steps.a.outputs.x, steps.b.outputs.y)`` -> ``["steps.a.outputs.x", "steps.b.outputs.y"]``.

    Any other reference is its own single alternative.
    """
    if not ref.startswith("oneOf("):
        return [ref]
    body = ref[len("oneOf(") : -1]
    return [part.strip() for part in re.split(r",\s*(?=steps\.)", body) if part.strip()]


def ref_kind(ref: str) -> str:
    """``params``, ``steps``, ``item``, ``run`` or ``oneOf``."""
    for kind in ("params.", "steps.", "run.", "oneOf("):
        if ref.startswith(kind):
            return kind[:-1]
    return "item"


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


def _short(expression: str) -> str:
    return repr(expression) if len(expression) <= 80 else repr(expression[:77] + "...")


def condition_references(expression: str) -> list[str]:
    """The references a condition reads (``params.x``, ``steps.s.outputs.o``)."""
    return [ref.strip() for ref in _REF.findall(expression)]


def malformed_references(text: str) -> list[str]:
    """``{{...}}`` snippets that look like references but are not valid ones."""
    return [m.group(0) for m in REFERENCE_LIKE.finditer(text) if not _REF.fullmatch(m.group(0))]


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Constant, ast.Name, ast.Load, ast.List, ast.Tuple, *_COMPARE,
)  # fmt: skip


def _compile(expression: str) -> tuple[ast.Expression, list[str]]:
    if not isinstance(expression, str):
        raise ValueError(f"a condition must be a string, got {type(expression).__name__}")
    refs: list[str] = []

    def _swap(match: re.Match[str]) -> str:
        refs.append(match.group(1).strip())
        return f" __ref{len(refs) - 1} "

    bad = malformed_references(expression)
    if bad:
        raise ValueError(
            f"condition {_short(expression)}: malformed reference {bad[0]}; "
            "write {{params.NAME}} or {{steps.STEP.outputs.OUTPUT}}"
        )
    source = _REF.sub(_swap, expression).strip()
    if not source:
        raise ValueError("a condition must not be empty")
    if len(source) > 10_000:
        raise ValueError("a condition must be shorter than 10000 characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"condition {_short(expression)} is not a valid expression: {err.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ValueError(f"condition {_short(expression)} is not a valid expression") from None
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > 50:
            raise ValueError(f"condition {_short(expression)} is nested too deeply")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"condition {_short(expression)}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and not (node.id.startswith("__ref") or node.id in _LITERALS):
            raise ValueError(
                f"condition {_short(expression)}: unknown name {node.id!r}; "
                "write references as {{params.x}} or {{steps.s.outputs.o}} and strings in quotes"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, (str, int, float, bool, type(None))):
            raise ValueError(f"condition {_short(expression)}: literal {node.value!r} is not allowed")
    return tree, refs


def check_condition(expression: str) -> None:
    """Raise ``ValueError`` if the expression is not valid."""
    _compile(expression)


def evaluate_condition(expression: str, values: dict[str, Any]) -> bool:
    """Evaluate ``expression``; ``values`` maps each reference to its resolved value.

    Raises ``ValueError`` when the expression is invalid, a reference has no value, or
    values cannot be compared (``"a" < 1``).
    """
    tree, refs = _compile(expression)
    missing = [ref for ref in refs if ref not in values]
    if missing:
        raise ValueError(f"condition {_short(expression)}: no value for {{{{{missing[0]}}}}}")
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
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = ev(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise ValueError(f"unsupported expression element {type(node).__name__}")

    try:
        return bool(ev(tree))
    except TypeError as err:
        raise ValueError(f"condition {_short(expression)} cannot be evaluated: {err}") from None
