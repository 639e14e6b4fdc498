"""Fixtures for the shared-store tests: scratch databases on the real PostgreSQL and MariaDB servers.

``.ci/run`` starts both servers when they are not running; a test skips (saying which server and
why) only when its server cannot be reached. ``WORKBENCH_TEST_POSTGRES`` / ``WORKBENCH_TEST_MYSQL``
point at other servers (admin URLs, see :mod:`workbench.testing.databases`).
"""

from __future__ import annotations

from collections.abc import Iterator

import optuna
import pytest

from workbench.testing.databases import (
    ScratchDatabase,
    mysql_admin_url,
    postgres_admin_url,
    scratch_mysql,
    scratch_postgres,
    unreachable,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

_REASONS: dict[str, str | None] = {}


def _skip_unless_reachable(kind: str, admin_url: str) -> None:
    if kind not in _REASONS:
        _REASONS[kind] = unreachable(admin_url)
    if _REASONS[kind]:
        pytest.skip(f"{kind} tests need a server: {_REASONS[kind]}")


@pytest.fixture(autouse=True)
def _no_store_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores come from each test's workspace settings, whatever the environment says."""
    for var in ("HOME", "OPTUNA_URL", "MLFLOW_URI", "MLMD_URL", "ARTIFACTS", "HEARTBEAT_TIMEOUT"):
        monkeypatch.delenv(f"WORKBENCH_{var}", raising=False)


@pytest.fixture
def postgres_db() -> Iterator[ScratchDatabase]:
    """A new PostgreSQL database for this test (dropped after it)."""
    _skip_unless_reachable("PostgreSQL", postgres_admin_url())
    with scratch_postgres() as db:
        yield db


@pytest.fixture
def mysql_db() -> Iterator[ScratchDatabase]:
    """A new MariaDB/MySQL database and a password user that owns it (both dropped after the test)."""
    _skip_unless_reachable("MariaDB", mysql_admin_url())
    with scratch_mysql() as db:
        yield db


@pytest.fixture(params=["postgresql", "mysql"])
def server_db(request: pytest.FixtureRequest) -> ScratchDatabase:
    """Each server in turn."""
    return request.getfixturevalue("postgres_db" if request.param == "postgresql" else "mysql_db")
