"""Workspace settings: workbench.toml / workbench.yaml, environment overrides, clear errors."""

from __future__ import annotations

import pytest

from workbench.backends import default_backend_name
from workbench.errors import SpecError
from workbench.settings import load_settings
from workbench.workspace import Workspace


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("WORKBENCH_OPTUNA_URL", "WORKBENCH_MLFLOW_URI", "WORKBENCH_MLMD_URL", "WORKBENCH_ARTIFACTS",
                "WORKBENCH_BACKEND"):
        monkeypatch.delenv(var, raising=False)


def test_toml_points_stores_at_servers(tmp_path):
    (tmp_path / "workbench.toml").write_text(
        'optuna = "postgresql://wb@127.0.0.1/optuna"\nmlflow = "http://127.0.0.1:5000"\n'
        'backend = "kubernetes"\n[kubernetes]\nnamespace = "ml"\n'
    )
    ws = Workspace.at(tmp_path)
    assert ws.optuna_url == "postgresql://wb@127.0.0.1/optuna"
    assert ws.mlflow_uri == "http://127.0.0.1:5000"
    assert ws.mlmd_url == f"sqlite:///{tmp_path / 'mlmd.sqlite'}"  # not set: the embedded default
    assert default_backend_name(ws) == "kubernetes"
    assert load_settings(tmp_path)["kubernetes"] == {"namespace": "ml"}


def test_yaml_works_too_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "workbench.yaml").write_text("mlflow: sqlite:////tmp/x.db\nbackend: local\n")
    assert Workspace.at(tmp_path).mlflow_uri == "sqlite:////tmp/x.db"
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", "http://elsewhere:5000")
    monkeypatch.setenv("WORKBENCH_BACKEND", "kubernetes")
    assert Workspace.at(tmp_path).mlflow_uri == "http://elsewhere:5000"
    assert default_backend_name(Workspace.at(tmp_path)) == "kubernetes"


def test_no_settings_file_means_embedded_defaults(tmp_path):
    ws = Workspace.at(tmp_path)
    assert ws.optuna_url == f"journal:///{tmp_path / 'optuna.journal'}"
    assert default_backend_name(ws) == "local"


@pytest.mark.parametrize(
    "name, text, fragment",
    [("workbench.toml", "optuna = \n", "malformed TOML"), ("workbench.yaml", "- a\n- b\n", "expected a mapping")],
)
def test_a_bad_settings_file_is_a_clear_error(tmp_path, name, text, fragment):
    (tmp_path / name).write_text(text)
    with pytest.raises(SpecError, match=fragment) as err:
        Workspace.at(tmp_path)
    assert name in str(err.value)
