"""Fixtures for the CLI, Python API and read-model tests (helpers live in ``app_helpers.py``).

Creating the MLflow database of a new workspace takes seconds, so most tests copy a
workspace whose stores were initialised once per session (``fresh_home``); one test
run (``quad_home``, the CLI in a subprocess) starts from nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def blank_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with empty, initialised stores (no experiment)."""
    from workbench.tracking import MlflowRecorder, MlmdRecorder
    from workbench.workspace import Workspace

    ws = Workspace.at(tmp_path_factory.mktemp("blank") / "home")
    ws.ensure()
    MlflowRecorder(ws.mlflow_uri, artifact_root=ws.mlflow_artifacts.as_uri()).client.search_experiments()
    MlmdRecorder(ws.mlmd_url)
    return ws.home


@pytest.fixture
def fresh_home(blank_home: Path, tmp_path: Path) -> Path:
    """A new workspace of this test (a copy of ``blank_home``)."""
    home = tmp_path / "home"
    shutil.copytree(blank_home, home)
    return home


@pytest.fixture(scope="session")
def quad_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``python -m workbench run`` of a 6-trial quadratic experiment (2 in parallel) into a new workspace.

    Returns ``{"home", "name", "proc"}``; tests must not change this workspace (copy it).
    """
    from app_helpers import cli, quadratic_doc, write_yaml

    folder = tmp_path_factory.mktemp("quad")
    spec = write_yaml(folder / "quad.yaml", quadratic_doc("quad-cli", trials=6, parallel=2))
    home = folder / "home"
    proc = cli("run", str(spec), "--home", str(home), cwd=folder)
    return {"home": home, "name": "quad-cli", "proc": proc}


@pytest.fixture
def quad_copy(quad_home: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the finished quadratic workspace that a test may change."""
    home = tmp_path / "quad-home"
    shutil.copytree(quad_home["home"], home)
    return home


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[Any]:
    """A gated trial template; every step it started is let go (or killed) at teardown."""
    from app_helpers import Gated

    g = Gated(tmp_path / "gated")
    yield g
    g.cleanup()
