"""``workbench doctor``: each configured store checked for real, a fix for each failure, passwords never shown."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.testing.databases import (
    ScratchDatabase,
    free_port,
    mysql_admin_url,
    postgres_admin_url,
    scratch_mysql,
    scratch_postgres,
    unreachable,
)


@pytest.fixture(autouse=True)
def _no_store_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HOME", "OPTUNA_URL", "MLFLOW_URI", "MLMD_URL", "ARTIFACTS", "HEARTBEAT_TIMEOUT", "BACKEND"):
        monkeypatch.delenv(f"WORKBENCH_{var}", raising=False)


def _home(tmp_path: Path, **settings: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "workbench.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in settings.items()))
    return home


def _doctor(home: Path) -> tuple[int, dict[str, str]]:
    """Exit code, and each check as one line of text (what, where, ok/FAIL, detail, fix), from ``--json``."""
    result = CliRunner().invoke(app, ["doctor", "--home", str(home), "--timeout", "3", "--json"])
    rows = {"*": result.output}
    if result.exit_code in (0, 1):
        for c in json.loads(result.output):
            rows[c["what"]] = " | ".join([c["what"], c["where"], "ok" if c["ok"] else "FAIL", c["detail"], c["fix"]])
    return result.exit_code, rows


@pytest.fixture
def pg() -> Iterator[ScratchDatabase]:
    reason = unreachable(postgres_admin_url())
    if reason:
        pytest.skip(f"needs PostgreSQL: {reason}")
    with scratch_postgres() as db:
        yield db


@pytest.fixture
def maria() -> Iterator[ScratchDatabase]:
    reason = unreachable(mysql_admin_url())
    if reason:
        pytest.skip(f"needs MariaDB: {reason}")
    with scratch_mysql() as db:
        yield db


def test_the_embedded_default_passes(tmp_path: Path) -> None:
    code, rows = _doctor(tmp_path / "new-home")
    assert code == 0, rows["*"]
    assert "journal file" in rows["Optuna"] and "| ok |" in rows["Optuna"]
    assert "created on first use" in rows["Artifacts"]
    # The table a person reads.
    table = CliRunner().invoke(app, ["doctor", "--home", str(tmp_path / "new-home")])
    assert table.exit_code == 0 and "all 5 checks passed" in table.output


@pytest.mark.slow
def test_servers_that_answer_pass(tmp_path: Path, pg: ScratchDatabase, maria: ScratchDatabase) -> None:
    home = _home(tmp_path, optuna=pg.url, mlflow=pg.url, mlmd=maria.mlmd_url, artifacts=str(tmp_path / "arts"))
    code, rows = _doctor(home)
    assert code == 0, rows["*"]
    assert "PostgreSQL" in rows["Optuna"] and "controllers can share it" in rows["Optuna"]
    assert "PostgreSQL" in rows["MLflow"]
    assert "MySQL/MariaDB (ml-metadata native client)" in rows["ML Metadata"]
    assert maria.password not in rows["*"] and ":***@" in rows["ML Metadata"]


def test_servers_that_do_not_answer_fail_with_the_fix(tmp_path: Path) -> None:
    dead = free_port()
    home = _home(
        tmp_path,
        optuna=f"postgresql://wb:s3cr3t-pw@127.0.0.1:{dead}/optuna",
        mlflow=f"http://127.0.0.1:{dead}",
        mlmd=f"mysql://wb:s3cr3t-pw@127.0.0.1:{dead}/mlmd",
    )
    code, rows = _doctor(home)
    assert code == 1
    assert "FAIL" in rows["Optuna"] and f"is PostgreSQL running at 127.0.0.1:{dead}?" in rows["Optuna"]
    assert "FAIL" in rows["MLflow"] and f"is `mlflow server` running at 127.0.0.1:{dead}?" in rows["MLflow"]
    assert "FAIL" in rows["ML Metadata"] and f"is MySQL/MariaDB running at 127.0.0.1:{dead}?" in rows["ML Metadata"]
    assert "| ok |" in rows["Artifacts"]
    assert "s3cr3t-pw" not in rows["*"]
    table = CliRunner().invoke(app, ["doctor", "--home", str(home), "--timeout", "3"])
    assert table.exit_code == 1 and "3 of 5 checks failed: Optuna, MLflow, ML Metadata" in table.output
    assert "s3cr3t-pw" not in table.output


def test_a_refused_login_says_so_without_the_password(tmp_path: Path, maria: ScratchDatabase) -> None:
    wrong = maria.url.replace(f":{maria.password}@", ":wrong-pw-123@")
    code, rows = _doctor(_home(tmp_path, optuna=wrong))
    assert code == 1
    assert "refused the login: check the user and password" in rows["Optuna"]
    assert "wrong-pw-123" not in rows["*"] and maria.password not in rows["*"]


def test_a_missing_database_says_how_to_create_it(tmp_path: Path, pg: ScratchDatabase) -> None:
    url = pg.url.rsplit("/", 1)[0] + "/no_such_db_here"
    code, rows = _doctor(_home(tmp_path, optuna=url))
    assert code == 1 and "CREATE DATABASE no_such_db_here" in rows["Optuna"]


def test_a_missing_driver_says_what_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    code, rows = _doctor(_home(tmp_path, optuna="mysql+mysqldb://wb:pw@127.0.0.1:3306/optuna"))
    assert code == 1
    assert "MySQLdb not installed" in rows["Optuna"] and "pip install" in rows["Optuna"]


def test_an_artifact_location_that_is_a_file_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, rows = _doctor(_home(tmp_path, artifacts=str(blocker / "artifacts")))
    assert code == 1 and "is not a folder" in rows["Artifacts"]


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "workbench.toml").write_text("heartbeat_timeout = -3\n")
    result = CliRunner().invoke(app, ["doctor", "--home", str(home)])
    assert result.exit_code == 2
    assert "heartbeat_timeout: expected a positive number of seconds" in result.output
