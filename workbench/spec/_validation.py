"""Turn pydantic validation errors into ``SpecError`` with Katib-style field paths."""

from __future__ import annotations

import datetime as _dt
import math
import posixpath
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.errors import SpecError, join_path

M = TypeVar("M", bound=BaseModel)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Longest display name (a component's name, an input's or output's name), in characters.
MAX_LABEL = 128
#: Parts of a pydantic error location that name a validator or a union member, not a field.
_LOC_NOISE = ("function-", "tagged-union", "union[", "literal[", "is-instance[", "lax-or-strict[", "json-or-python[",
              "chain[", "nullable[", "constrained-", "list[", "dict[", "definition-ref")  # fmt: skip
_TYPE_NAMES = {"str", "int", "float", "bool", "none", "bytes"}


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
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
            continue
        text = str(part)
        if text.startswith(_LOC_NOISE) or text in _TYPE_NAMES or text == "[key]":
            continue
        path = join_path(path, text)
    return path


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list, tuple, set)):
        return {dict: "a mapping", list: "a list", tuple: "a list", set: "a set"}[type(value)]
    return repr(value)[:80]


_FRIENDLY = {
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in _FRIENDLY:
        return f"{_FRIENDLY[kind]} (got {_shown(error.get('input'))})"
    msg = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind.endswith(("_type", "_parsing")) or kind in ("literal_error", "enum", "greater_than_equal", "less_than"):
        msg = f"{msg} (got {_shown(error.get('input'))})"
    return msg


def spec_error_from(err: ValidationError, prefix: str = "", source: str | None = None) -> SpecError:
    """Build one ``SpecError`` from every problem pydantic found (the first names the path)."""
    problems: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        path = join_path(prefix, loc_to_path(tuple(e.get("loc", ()))))
        inner = (e.get("ctx") or {}).get("error")
        if isinstance(inner, FieldError):
            item = (join_path(path, inner.path), inner.message)
        elif isinstance(inner, SpecError):
            item = (join_path(path, inner.path), inner.message)
        else:
            item = (path, _message(e))
        if item not in problems:
            problems.append(item)
    if not problems:
        return SpecError("invalid value", path=prefix, source=source)
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
    except RecursionError:
        raise SpecError("the document is nested too deeply", path=prefix, source=source) from None


def parse_duration(value: Any) -> float | None:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1.5h"`` or ``"7d"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 2h, got {value!r}")
    try:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value))
            if not match:
                raise ValueError(f"expected a duration such as 30s, 5m or 2h, got {_shown(value)}")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError:
        raise ValueError("the duration is too large") from None
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    return seconds


def _quoted(value: str) -> str:
    """``repr(value)``, cut to about 70 characters (a name may be 100,000 characters long)."""
    text = repr(value)
    return text if len(text) <= 72 else text[:68] + "...'"


def check_name(value: Any, what: str = "name") -> str:
    """Names end up in file paths, MLflow and Kubernetes labels: keep them tame.

    1-63 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit, and no ``..``.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a string {what}, got {_shown(value)}")
    if not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise ValueError(
            f"invalid {what} {_quoted(value)}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', spaces or '..')"
        )
    return value


def check_label(value: Any, what: str = "name", file_name: bool = False) -> str:
    """Display names (a component, its inputs and outputs) are free text: spaces and unicode are fine.

    They must not be blank, hold control characters (NUL, newlines, tabs) or exceed ``MAX_LABEL``
    characters. A ``file_name`` also names a file (an output's path, an input's file): no ``/`` or
    ``\\``, not ``.`` or ``..``, at most 255 bytes in UTF-8.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a string {what}, got {_shown(value)}")
    shown = _quoted(value)
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise ValueError(f"invalid {what} {shown}: control characters (NUL, newlines, tabs) are not allowed")
    if len(value) > MAX_LABEL:
        raise ValueError(f"{what} is {len(value)} characters long; at most {MAX_LABEL} are allowed")
    if file_name:
        if "/" in value or "\\" in value or value.strip() in (".", ".."):
            raise ValueError(f"invalid {what} {shown}: it names a file, so no '/', '\\\\', '.' or '..'")
        if len(value.encode("utf-8")) > 255:
            raise ValueError(f"{what} {shown} is longer than 255 bytes in UTF-8 (it names a file)")
    return value


def check_metric_name(value: Any, what: str = "metric name") -> str:
    """A metric name is a label that MLflow also keys on: ``/`` may group (``val/loss``), no ``.``/``..`` parts."""
    check_label(value, what)
    norm = posixpath.normpath(value)
    if value.startswith("/") or norm != value or norm == "." or norm.startswith(".."):
        raise ValueError(
            f"invalid {what} {_quoted(value)}: '/' may group parts (val/loss), but no leading, trailing or doubled '/' "
            "and no '.' or '..' parts"
        )
    return value


def is_valid_name(value: Any) -> bool:
    try:
        check_name(value)
    except ValueError:
        return False
    return True


def slug(text: str, fallback: str = "main") -> str:
    """A valid name derived from free text (``"Train model"`` -> ``"train-model"``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text).strip().lower())
    out = re.sub(r"\.{2,}", ".", out).strip("-._")[:63].strip("-._")
    return out if is_valid_name(out) else fallback


def json_value(value: Any, path: str = "") -> Any:
    """A copy of ``value`` made of JSON types only, so that specs survive a JSON round trip.

    Tuples become lists, dates become ISO strings, paths become strings; sets, bytes,
    non-finite floats, non-string mapping keys and other objects are refused.
    """
    return _json_value(value, path, 0)


def _json_value(value: Any, path: str, depth: int) -> Any:
    if depth > 100:
        raise FieldError(path, "nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise FieldError(path, f"expected a finite number, got {value!r}")
        return float(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(path, f"mapping keys must be strings, got {key!r}")
            out[key] = _json_value(item, join_path(path, key), depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__.startswith("numpy"):
        try:
            return _json_value(item(), path, depth + 1)
        except (TypeError, ValueError):
            pass
    raise FieldError(path, f"expected a string, number, boolean, list or mapping, got {type(value).__name__}")


def wrap_check(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Adapt a checker raising ``SpecError`` so pydantic sees a ``ValueError``."""

    def _inner(value: Any) -> Any:
        try:
            return func(value)
        except SpecError as err:
            raise ValueError(str(err)) from None

    return _inner
