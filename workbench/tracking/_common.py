"""Helpers shared by the recorders: secret masking, JSON rendering, logger.

Nothing here imports MLflow or ML Metadata.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

logger = logging.getLogger("workbench.tracking")

#: A parameter (or input) whose name matches this is never written: its value becomes ``MASK``.
SECRET_NAME = re.compile(r"passw(or)?d|secret|token|key|credential", re.IGNORECASE)
MASK = "***"


def is_secret(name: str) -> bool:
    """Whether a parameter name looks like it holds a secret.

    Example:
        >>> is_secret("db_password"), is_secret("API_KEY"), is_secret("lr")
        (True, True, False)
    """
    return bool(SECRET_NAME.search(str(name)))


def mask(value: Any, name: str = "") -> Any:
    """``value`` with secrets replaced by ``"***"`` (recursively through mappings and lists).

    Example:
        >>> mask({"lr": 0.1, "auth": {"token": "abc"}})
        {'lr': 0.1, 'auth': {'token': '***'}}
        >>> mask("hunter2", name="password")
        '***'
    """
    if name and is_secret(name):
        return MASK
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


def to_text(value: Any) -> str:
    """A parameter value as text: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def to_json(value: Any) -> str:
    """Compact, sorted JSON (non-JSON values rendered with ``str``)."""
    return json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (ending with ``...`` when cut)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 3)] + "..."
