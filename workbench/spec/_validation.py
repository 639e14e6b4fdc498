"""Turn pydantic validation errors into ``SpecError`` with Katib-style field paths."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.errors import SpecError, join_path

M = TypeVar("M", bound=BaseModel)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class FieldError(ValueError):
    """A validator's error about a sub-field: ``FieldError("feasibleSpace.min", "must be ...")``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


def loc_to_path(loc: tuple[Any, ...]) -> str:
    """``("parameters", 2, "feasibleSpace", "min")`` -> ``parameters[2].feasibleSpace.min``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            path = join_path(path, str(part))
    return path


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = error.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        msg = f"{msg} (got {shown[:80]})"
    return msg


def spec_error_from(err: ValidationError, prefix: str = "", source: str | None = None) -> SpecError:
    """Build one ``SpecError`` from every problem pydantic found (the first names the path)."""
    problems = []
    for e in err.errors():
        path = join_path(prefix, loc_to_path(e["loc"]))
        inner = (e.get("ctx") or {}).get("error")
        if isinstance(inner, FieldError):
            problems.append((join_path(path, inner.path), inner.message))
        else:
            problems.append((path, _message(e)))
    path, message = problems[0]
    if len(problems) > 1:
        more = "; ".join(f"{p or '<root>'}: {m}" for p, m in problems[1:6])
        message = f"{message} (also: {more})"
    return SpecError(message, path=path, source=source)


def validate_model(model: type[M], data: Any, prefix: str = "", source: str | None = None) -> M:
    """``model.model_validate(data)`` with errors converted to ``SpecError``."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise spec_error_from(err, prefix, source) from None
    except SpecError as err:
        raise err.within(prefix, source) from None


def parse_duration(value: Any) -> float | None:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1.5h"`` or ``"7d"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 2h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 5m or 2h, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    return seconds


def check_name(value: str, what: str = "name") -> str:
    """Names end up in file paths, MLflow and Kubernetes labels: keep them tame."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def wrap_check(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Adapt a checker raising ``SpecError`` so pydantic sees a ``ValueError``."""

    def _inner(value: Any) -> Any:
        try:
            return func(value)
        except SpecError as err:
            raise ValueError(str(err)) from None

    return _inner
