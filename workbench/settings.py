"""Workspace settings: one file, read in one place.

``$WORKBENCH_HOME/workbench.toml`` (or, equivalently, ``workbench.yaml``)::

    backend = "kubernetes"                         # default backend of `workbench run`
    optuna = "postgresql://wb@db:5432/optuna"      # store URLs (defaults: embedded files in the home)
    mlflow = "http://mlflow:5000"
    mlmd = "mysql://wb:secret@db:3306/mlmd"
    artifacts = "/mnt/artifacts"
    heartbeat_timeout = 30                         # shared stores: seconds before a silent controller is dead
    store_patience = 300                           # seconds a sweep waits for a lost Optuna store to return

    [kubernetes]                                   # see workbench.backends.kubernetes.KubernetesSettings
    namespace = "ml"

Environment variables (``WORKBENCH_OPTUNA_URL``, ``WORKBENCH_MLFLOW_URI``,
``WORKBENCH_MLMD_URL``, ``WORKBENCH_ARTIFACTS``, ``WORKBENCH_HEARTBEAT_TIMEOUT``,
``WORKBENCH_STORE_PATIENCE``, ``WORKBENCH_BACKEND``, ``WORKBENCH_K8S_*``) win over the file.

Example:
    >>> import tempfile, pathlib
    >>> home = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (home / "workbench.toml").write_text('backend = "local"\\n')
    >>> load_settings(home)["backend"]
    'local'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from workbench.errors import SpecError

#: Settings files, in the order they are looked for (the first one found is used).
SETTINGS_FILES = ("workbench.toml", "workbench.yaml")


def settings_file(home: Path) -> Path | None:
    """The settings file of a workspace home, if it has one."""
    for name in SETTINGS_FILES:
        path = home / name
        if path.is_file():
            return path
    return None


def load_settings(home: Path | str) -> dict[str, Any]:
    """The settings of a workspace (``{}`` when it has no settings file); a bad file is a ``SpecError``."""
    path = settings_file(Path(home))
    if path is None:
        return {}
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(f"cannot read settings: {err}", source=str(path)) from None
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"malformed TOML: {err}", source=str(path)) from None
    else:
        from workbench.spec._yaml import read_yaml

        data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise SpecError("expected a mapping of settings", source=str(path))
    return data


def seconds_setting(value: str, key: str, source: str, allow_zero: bool = False) -> float:
    """A positive (or, with ``allow_zero``, zero) number of seconds from a setting; anything else is a
    ``SpecError`` naming the key and its source.

    Example:
        >>> seconds_setting("12.5", "heartbeat_timeout", "workbench.toml")
        12.5
    """
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (0 <= seconds if allow_zero else 0 < seconds) or not seconds < float("inf"):
        wanted = "zero or more" if allow_zero else "a positive number of"
        raise SpecError(f"expected {wanted} seconds, got {value!r}", path=key, source=source)
    return seconds
