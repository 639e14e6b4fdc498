"""The workspace: where every store lives.

``WORKBENCH_HOME`` (default ``./.workbench``) holds the embedded stores::

    optuna.journal     Optuna JournalStorage (studies and trials)
    mlflow.db          MLflow tracking (SQLite), artifacts under mlruns/
    mlmd.sqlite        ML Metadata (lineage)
    artifacts/         step outputs, one folder per run and step
    runs/              step logs, one folder per run and step
    cache/             the index of step cache keys (ML Metadata stays the truth)
    locks/             one lock file per experiment with a live controller

Settings (``workbench.toml`` in the home, see :mod:`workbench.settings`, or
``WORKBENCH_OPTUNA_URL``, ``WORKBENCH_MLFLOW_URI``, ``WORKBENCH_MLMD_URL`` in the
environment) point any store at a server instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.settings import load_settings, seconds_setting, settings_file


@dataclass(frozen=True)
class Workspace:
    """Store locations. Use :meth:`from_env` to get the current one.

    Example:
        >>> ws = Workspace.at("/tmp/wb-example")
        >>> ws.artifacts.name
        'artifacts'
    """

    home: Path
    optuna_url: str
    mlflow_uri: str
    mlmd_url: str
    artifacts: Path
    #: Standalone runs, schedules and their occurrences (``workbench.runs``): SQLite file or PostgreSQL URL.
    runs_url: str = ""
    #: Shared stores: a controller whose heartbeat is older than this (seconds) is dead; its trials run again.
    heartbeat_timeout: float = 30.0
    #: How long a sweep waits (seconds) for its Optuna store to come back after losing it (a database
    #: restart) before it stops; ``0`` stops at once.
    store_patience: float = 300.0

    @classmethod
    def at(cls, home: str | Path) -> Workspace:
        """The embedded default layout under ``home`` (created lazily by the stores)."""
        h = Path(home).resolve()
        settings = {str(k): str(v) for k, v in load_settings(h).items() if not isinstance(v, dict)}

        def pick(key: str, env: str, default: str) -> str:
            return os.environ.get(env) or settings.get(key) or default

        def source(env: str) -> str:
            return env if os.environ.get(env) else str(settings_file(h))

        return cls(
            home=h,
            optuna_url=pick("optuna", "WORKBENCH_OPTUNA_URL", f"journal:///{h / 'optuna.journal'}"),
            mlflow_uri=pick("mlflow", "WORKBENCH_MLFLOW_URI", f"sqlite:///{h / 'mlflow.db'}"),
            mlmd_url=pick("mlmd", "WORKBENCH_MLMD_URL", f"sqlite:///{h / 'mlmd.sqlite'}"),
            # An object-store URI (s3://...) is for the step pods (KubernetesSettings); the controller keeps
            # its local copy of the artifacts in the home.
            artifacts=Path(a if "://" not in (a := pick("artifacts", "WORKBENCH_ARTIFACTS", str(h / "artifacts")))
                           else h / "artifacts").resolve(),
            runs_url=pick("runs", "WORKBENCH_RUNS_URL", f"sqlite:///{h / 'runs.db'}"),
            heartbeat_timeout=seconds_setting(
                pick("heartbeat_timeout", "WORKBENCH_HEARTBEAT_TIMEOUT", "30"),
                "heartbeat_timeout",
                source("WORKBENCH_HEARTBEAT_TIMEOUT"),
            ),
            store_patience=seconds_setting(
                pick("store_patience", "WORKBENCH_STORE_PATIENCE", "300"),
                "store_patience",
                source("WORKBENCH_STORE_PATIENCE"),
                allow_zero=True,
            ),
        )

    @classmethod
    def from_env(cls) -> Workspace:
        """The workspace named by ``WORKBENCH_HOME`` (default ``./.workbench``)."""
        return cls.at(os.environ.get("WORKBENCH_HOME", ".workbench"))

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def locks(self) -> Path:
        return self.home / "locks"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlruns"

    def ensure(self) -> None:
        """Create the workspace folders (the first write to a workspace)."""
        for d in (self.home, self.artifacts, self.runs, self.locks):
            d.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return self.home.is_dir()
