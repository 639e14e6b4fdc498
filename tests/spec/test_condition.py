"""Step conditions: a small, safe expression language (never eval)."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.spec import evaluate_condition
from workbench.spec._condition import check_condition, condition_references, malformed_references

VALUES = {
    "params.x": 3,
    "params.mode": "a",
    "params.flag": True,
    "params.none": None,
    "steps.eval.outputs.accuracy": 0.93,
    "steps.eval.outputs.Output data": "done",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{params.x}} > 2", True),
        ("{{params.x}} > 2 and {{params.mode}} in ['a', 'b']", True),
        ("{{params.x}} >= 4 or {{params.mode}} == 'b'", False),
        ("not {{params.flag}}", False),
        ("{{params.flag}} == true", True),
        ("{{params.flag}} == True and {{params.none}} == null", True),
        ("1 < {{params.x}} <= 3", True),
        ("1 < {{params.x}} < 3", False),
        ("{{steps.eval.outputs.accuracy}} > 0.9", True),
        ("{{ steps.eval.outputs.Output data }} == 'done'", True),
        ("-{{params.x}} < 0", True),
        ("{{params.mode}} not in ('b', 'c')", True),
        ("{{params.x}}", True),
        ("false", False),
        ("{{params.x}}>2", True),
    ],
)
def test_evaluate(expression: str, expected: bool) -> None:
    assert evaluate_condition(expression, VALUES) is expected


def test_references_are_listed_in_order() -> None:
    expression = "{{steps.eval.outputs.accuracy}} > 0.9 and {{ params.x }} > 1"
    assert condition_references(expression) == ["steps.eval.outputs.accuracy", "params.x"]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os').system('true')", "Call is not allowed"),
        ("{{params.x}}.real", "Attribute is not allowed"),
        ("{{params.x}}[0]", "Subscript is not allowed"),
        ("(lambda: 1)()", "not allowed"),
        ("{{params.x}} + 1 > 2", "BinOp is not allowed"),
        ("x > 1", "unknown name 'x'"),
        ("{{params.x}} > ", "not a valid expression"),
        ("{{param.x}} > 1", "malformed reference {{param.x}}"),
        ("{{steps.a.output.b}}", "malformed reference"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("1 if 2 else 3", "IfExp is not allowed"),
        ("...", "literal Ellipsis is not allowed"),
        ("b'x' == 1", "not allowed"),
        ("[x for x in []]", "not allowed"),
        ("not " * 60 + "true", "nested too deeply"),
        ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
        ("1 " * 6000, "shorter than"),
        ("a\x00b", "not a valid expression"),
    ],
)
def test_invalid_conditions(expression: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        check_condition(expression)
    assert fragment in str(info.value)


def test_non_string_condition() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        check_condition(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expression", "values", "fragment"),
    [
        ("{{params.x}} > 1", {}, "no value for {{params.x}}"),
        ("{{params.x}} > 'a'", {"params.x": 1}, "cannot be evaluated"),
        ("1 in {{params.x}}", {"params.x": 2}, "cannot be evaluated"),
        ("-{{params.x}} < 0", {"params.x": "s"}, "cannot be evaluated"),
    ],
)
def test_evaluation_errors_are_value_errors(expression: str, values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        evaluate_condition(expression, values)
    assert fragment in str(info.value)


def test_malformed_references() -> None:
    assert malformed_references("{{params.x}} and {{ params.y }}") == []
    assert malformed_references("{{params.}} {{inputs.x}} {{step.a}}") == ["{{params.}}", "{{inputs.x}}", "{{step.a}}"]
    assert malformed_references("{{ not a reference }} {{}}") == []
