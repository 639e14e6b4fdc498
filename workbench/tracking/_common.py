"""Helpers shared by the recorders: secret masking, JSON rendering, logger.

Nothing here imports MLflow or ML Metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger("workbench.tracking")

#: A name holding one of these anywhere is secret: ``db_password``, ``PGPASSWORD``, ``client_secret``.
SECRET_NAME = re.compile(r"passw(or)?d|secret|credential", re.IGNORECASE)
#: A name whose last word is one of these is secret: ``API_TOKEN``, ``SIGNING_KEY``, ``apiKey``, ``key``.
#: Not inside other words: ``monkey``, ``keyboard``, ``max_tokens``, ``key_column``, ``tokenizer`` stay visible.
SECRET_LAST_WORDS = frozenset({"token", "key", "apikey", "accesskey", "privatekey", "authkey", "pwd", "passphrase"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # digits split words and are dropped
MASK = "***"


def is_secret(name: str, secrets: Collection[str] = ()) -> bool:
    """Whether a parameter or environment variable name holds a secret: marked so (``secrets``) or looking like it.

    Case-insensitive: ``*password*``, ``*passwd*``, ``*secret*``, ``*credential*`` anywhere, or a last word
    ``token``, ``key``, ``pwd`` (``*_TOKEN``, ``*_KEY``, ``apiKey``, and ``*_KEY_ID``); words split at
    ``_ - . /``, spaces, digits and camelCase.

    Example:
        >>> is_secret("db_password"), is_secret("API_KEY"), is_secret("lr"), is_secret("dsn", {"dsn"})
        (True, True, False, True)
        >>> is_secret("signingKey"), is_secret("monkey"), is_secret("max_tokens"), is_secret("key_column")
        (True, False, False, False)
    """
    text = str(name)
    if text in secrets or SECRET_NAME.search(text):
        return True
    words = [w.lower() for w in _WORDS.findall(text)]
    if words[-2:] == ["key", "id"]:  # AWS_ACCESS_KEY_ID: half of a credential pair
        return True
    return bool(words) and words[-1] in SECRET_LAST_WORDS


def mask(value: Any, name: str = "", secrets: Collection[str] = ()) -> Any:
    """``value`` with secrets replaced by ``"***"`` (recursively through mappings and lists).

    A mapping key that is secret masks its value; so does a ``{name: ..., value: ...}`` pair
    (Katib's argument and setting lists) whose name is secret.

    Example:
        >>> mask({"lr": 0.1, "auth": {"token": "abc"}})
        {'lr': 0.1, 'auth': {'token': '***'}}
        >>> mask("hunter2", name="password")
        '***'
        >>> mask([{"name": "dsn", "value": "pg://u:p@db"}], secrets={"dsn"})
        [{'name': 'dsn', 'value': '***'}]
    """
    if name and is_secret(name, secrets) and not isinstance(value, bool):  # a flag such as ``secret: true`` stays
        return MASK
    if isinstance(value, dict):
        pair = value.get("name")
        if isinstance(pair, str) and "value" in value and is_secret(pair, secrets):
            return {k: (MASK if k == "value" else v) for k, v in value.items()}
        return {k: mask(v, str(k), secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, "", secrets) for v in value]
    return value


def flagged_secrets(doc: Any) -> set[str]:
    """Names marked ``secret: true`` anywhere in a spec document (pipeline parameters, component inputs)."""
    found: set[str] = set()
    if isinstance(doc, dict):
        if doc.get("secret") is True and isinstance(doc.get("name"), str):
            found.add(doc["name"])
        for value in doc.values():
            found |= flagged_secrets(value)
    elif isinstance(doc, list):
        for value in doc:
            found |= flagged_secrets(value)
    return found


def mask_document(doc: Any, secrets: Collection[str] = ()) -> Any:
    """A spec document fit to show: values of secret-looking names and of names it marks secret masked.

    Example:
        >>> doc = {"parameters": [{"name": "dsn", "secret": True}], "arguments": {"dsn": "pg://u:p@db", "n": 1}}
        >>> mask_document(doc)["arguments"]
        {'dsn': '***', 'n': 1}
    """
    return mask(doc, secrets={*secrets, *flagged_secrets(doc)})


def secret_values(values: dict[str, Any], secrets: Collection[str] = ()) -> list[str]:
    """The text of every secret value in ``values`` (to cut out of command lines and logs)."""
    out = []
    for name, value in values.items():
        if is_secret(name, secrets) and value not in (None, ""):
            out.append(value if isinstance(value, str) else to_text(value))
    return sorted(set(out), key=len, reverse=True)


def scrub(text: str, values: Collection[str]) -> str:
    """``text`` with every occurrence of the secret ``values`` replaced by ``***``.

    Example:
        >>> scrub("--password=hunter2 --user=ada", ["hunter2"])
        '--password=*** --user=ada'
    """
    for v in values:
        if v:
            text = text.replace(v, MASK)
    return text


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


@contextlib.contextmanager
def sqlite_init_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock while a store at an ``sqlite:///`` URL is created or migrated.

    Several processes opening a brand-new workspace at once (a scheduler starting runs, two
    ``workbench run``) would otherwise race on creating the same tables. The lock is ``flock``
    on ``<db>.init.lock``, released by the kernel if its holder dies; other URLs pass through.
    """
    path = url.split("://", 1)[1].split("?", 1)[0][1:] if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        yield
        return
    import fcntl
    import os

    lock = Path(path + ".init.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
