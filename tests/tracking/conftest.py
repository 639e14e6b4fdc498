"""Fixtures for the tracking tests: real MLflow and ML Metadata stores in temporary folders.

Creating an MLflow SQLite database runs its migrations (seconds), so one database is
shared by the whole session; every test uses its own experiment name.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def mlflow_uri(mlflow_home: Path) -> str:
    from workbench.tracking import MlflowRecorder

    uri = f"sqlite:///{mlflow_home / 'mlflow.db'}"
    MlflowRecorder(uri)  # create the schema once
    return uri


@pytest.fixture
def mlflow_recorder(mlflow_uri: str, mlflow_home: Path):
    from workbench.tracking import MlflowRecorder

    rec = MlflowRecorder(mlflow_uri, artifact_root=(mlflow_home / "mlruns").as_uri())
    yield rec
    rec.close()


@pytest.fixture
def exp_name(request: pytest.FixtureRequest) -> str:
    """An experiment name no other test uses."""
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def mlmd_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlmd' / 'mlmd.sqlite'}"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every tracking test in its own folder: MLflow puts artifacts of experiments created without
    an artifact location under ``./mlruns`` (the step runs' ``workbench/step.json``)."""
    monkeypatch.chdir(tmp_path)
