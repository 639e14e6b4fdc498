"""Scratch databases on real PostgreSQL / MariaDB servers, and a real ``mlflow server`` process, for tests.

The servers are found through ``WORKBENCH_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, an admin connection) and
``WORKBENCH_TEST_MYSQL`` (default ``mysql+pymysql://root@127.0.0.1:3306/``). Every scratch
database gets a random name and is dropped when its ``with`` block ends. On MariaDB a user with a
password is created for it too: ml-metadata's MySQL client cannot log in as a root that uses
unix-socket authentication.

Example (not run: needs the servers)::

    with scratch_postgres() as db:
        storage = optuna.storages.RDBStorage(db.url)
    with scratch_mysql() as db:
        store = open_store(db.mlmd_url)
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"


def postgres_admin_url() -> str:
    return os.environ.get("WORKBENCH_TEST_POSTGRES", POSTGRES_ADMIN)


def mysql_admin_url() -> str:
    return os.environ.get("WORKBENCH_TEST_MYSQL", MYSQL_ADMIN)


@dataclass(frozen=True)
class ScratchDatabase:
    """A database made for one test: ``url`` for SQLAlchemy (Optuna, MLflow), ``mlmd_url`` for ml-metadata."""

    name: str
    url: str
    mlmd_url: str
    host: str
    port: int
    user: str
    password: str


def _engine(url: str) -> Any:
    """An admin engine: no pool (nothing left connected to a database being dropped), autocommit (DDL)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def unreachable(admin_url: str) -> str | None:
    """Why the server of an admin URL cannot be used (``None`` when it can): the reason a test skips with."""
    from sqlalchemy import text

    try:
        engine = _engine(admin_url)
    except Exception as err:  # driver not installed
        return f"cannot use {admin_url.split('@')[-1]}: {err}"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"no database server at {admin_url.split('@')[-1]}: {first}"
    finally:
        engine.dispose()
    return None


@contextmanager
def scratch_postgres(admin_url: str | None = None) -> Iterator[ScratchDatabase]:
    """A new PostgreSQL database (dropped at the end, even with connections still open)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url or postgres_admin_url())
    name = f"wbtest_{secrets.token_hex(6)}"
    engine = _engine(admin.render_as_string(hide_password=False))
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = admin.set(database=name)
    try:
        yield ScratchDatabase(
            name=name,
            url=db_url.render_as_string(hide_password=False),
            mlmd_url=db_url.set(drivername="postgresql").render_as_string(hide_password=False),
            host=admin.host or "127.0.0.1",
            port=admin.port or 5432,
            user=admin.username or "",
            password=admin.password or "",
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def scratch_mysql(admin_url: str | None = None) -> Iterator[ScratchDatabase]:
    """A new MySQL/MariaDB database and a user with a password that owns it (both dropped at the end)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url or mysql_admin_url())
    name = f"wbtest_{secrets.token_hex(6)}"
    user, password = name, secrets.token_hex(12)
    engine = _engine(admin.render_as_string(hide_password=False))
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
        for host in ("%", "localhost"):
            conn.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"))
            conn.execute(text(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'{host}'"))
    host, port = admin.host or "127.0.0.1", admin.port or 3306
    try:
        yield ScratchDatabase(
            name=name,
            url=f"mysql+pymysql://{user}:{password}@{host}:{port}/{name}",
            mlmd_url=f"mysql://{user}:{password}@{host}:{port}/{name}",
            host=host,
            port=port,
            user=user,
            password=password,
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            for h in ("%", "localhost"):
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'{h}'"))
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class MlflowServer:
    """A running ``mlflow server``: ``url`` is its tracking URI, ``artifacts`` where it keeps artifacts."""

    url: str
    artifacts: Path
    process: subprocess.Popen[bytes]


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, timeout: float = 120.0) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` on a free 127.0.0.1 port with artifacts served from a directory; stop it at the end.

    The server's output goes to ``<artifacts>/../mlflow-server.log`` (quoted when it fails to start).
    """
    server = RestartableMlflowServer(backend_store_uri, artifacts)
    try:
        server.start(timeout)
        assert server.process is not None
        yield MlflowServer(url=server.url, artifacts=artifacts, process=server.process)
    finally:
        server.stop()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------------- servers a test may stop and restart


def postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has ``initdb`` and ``pg_ctl`` (``None``: not installed)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name.split(".")[0])
    ) if Path("/usr/lib/postgresql").is_dir() else []  # fmt: skip
    return found[-1].parent if found and (found[-1].parent / "pg_ctl").exists() else None


class PostgresCluster:
    """A private PostgreSQL cluster (its own data folder and port, trust auth) that a test may stop and restart.

    It never touches the machine's own server. As root, ``initdb`` and ``pg_ctl`` run as the
    ``postgres`` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, folder: Path, port: int, bindir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = port
        self.bindir = bindir

    @property
    def admin_url(self) -> str:
        """An admin connection (user ``postgres``, database ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        """Start the server on its port and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect every client; ``immediate``: as a crash would)."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))

    def restart(self, down: float = 0.0) -> None:
        """Stop, stay down ``down`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres(port: int | None = None) -> Iterator[PostgresCluster]:
    """A new private PostgreSQL cluster on a free port (or ``port``), removed at the end.

    Raises ``RuntimeError`` (a reason to skip with) when PostgreSQL's server binaries are not installed.
    """
    import shutil
    import tempfile

    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="wb-pg-"))  # not under pytest's tmp: the postgres user must reach it
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PostgresCluster(folder, port or free_port(), bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            try:
                cluster.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(folder, ignore_errors=True)


class RestartableMlflowServer:
    """An ``mlflow server`` on a fixed 127.0.0.1 port that a test may stop and start again (same URL, same stores)."""

    def __init__(self, backend_store_uri: str, artifacts: Path, port: int | None = None) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts = artifacts
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = artifacts.parent / "mlflow-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until ``/health`` answers."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        mlflow = Path(sys.executable).with_name("mlflow")
        cmd = [
            str(mlflow) if mlflow.exists() else "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            "--serve-artifacts", "--artifacts-destination", self.artifacts.resolve().as_uri(),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer in {timeout:g}s:\n{self._tail()}")
            time.sleep(0.3)

    def stop(self) -> None:
        """Stop the server (and its workers) and wait until its port refuses connections."""
        if self.process is not None:
            _stop_group(self.process)
            self.process = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextmanager
def restartable_mlflow_server(backend_store_uri: str, artifacts: Path) -> Iterator[RestartableMlflowServer]:
    """A started :class:`RestartableMlflowServer`, stopped at the end."""
    server = RestartableMlflowServer(backend_store_uri, artifacts)
    try:
        server.start()
        yield server
    finally:
        server.stop()
