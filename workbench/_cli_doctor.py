"""``workbench doctor``: check every configured store (and the backend) and say how to fix what does not work.

One row per check: the Optuna storage, MLflow, ML Metadata, the artifact folder and, when the
backend is ``kubernetes``, the cluster. Passwords never appear in the output. Exit code 1 when
anything is broken, 2 when the settings themselves are invalid.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import typer

from workbench.errors import SpecError

#: Python modules of the database drivers, and how to install them.
DRIVER_FIX = {
    "psycopg": "pip install 'psycopg[binary]'  (or: pip install 'workbench[postgres]')",
    "psycopg2": "pip install psycopg2-binary",
    "pymysql": "pip install pymysql  (or: pip install 'workbench[mysql]')",
    "MySQLdb": "pip install mysqlclient, or use mysql+pymysql:// with pip install pymysql",
}


@dataclass
class Check:
    """One line of the report."""

    what: str
    where: str
    ok: bool
    detail: str = ""
    fix: str = ""


def redact(text: str, url: str = "") -> str:
    """``text`` with every password of a URL in it (and the password of ``url``) replaced by ``***``.

    Example:
        >>> redact("cannot connect to mysql://wb:s3cret@db:3306/mlmd")
        'cannot connect to mysql://wb:***@db:3306/mlmd'
    """
    secrets = set()
    if url:
        try:
            password = urlparse(url).password
        except ValueError:
            password = None
        if password:
            secrets.update({password, unquote(password)})
    out = re.sub(r"(\w[\w+.-]*://[^:/@\s]+:)([^@\s]+)@", r"\1***@", text)
    for secret in sorted(secrets, key=len, reverse=True):
        out = out.replace(secret, "***")
    return out


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # SQLAlchemy wraps the driver's message: "(psycopg.OperationalError) connection failed: ..."
    return re.sub(r"^\([\w.]+\)\s*", "", " ".join(lines[:2]))[:300]


def _host_port(url: str, default_port: int) -> str:
    parsed = urlparse(url)
    return f"{parsed.hostname or 'localhost'}:{parsed.port or default_port}"


def _db_fix(message: str, url: str, kind: str) -> str:
    """The likely fix for a database error message."""
    low = message.lower()
    default_port = 5432 if kind == "PostgreSQL" else 3306
    where = _host_port(url, default_port)
    dbname = urlparse(url).path.lstrip("/")
    if "refused" in low or "can't connect" in low or "could not connect" in low or "connect to server" in low:
        return f"connection refused: is {kind} running at {where}?"
    if "timeout" in low or "timed out" in low:
        return f"no answer from {where}: check the host name, the port and the firewall"
    if "name or service not known" in low or "nodename nor servname" in low or "could not translate host" in low:
        return f"unknown host in {where}: check the host name"
    if "password" in low or "access denied" in low or "authentication" in low:
        return "the server refused the login: check the user and password in the URL"
    if "does not exist" in low or "unknown database" in low:
        return f"create the database first: CREATE DATABASE {dbname}"
    return f"check that {kind} at {where} accepts this URL"


def _kind(url: str) -> str:
    scheme = urlparse(url).scheme.split("+", 1)[0].lower()
    return {
        "postgresql": "PostgreSQL",
        "postgres": "PostgreSQL",
        "mysql": "MySQL/MariaDB",
        "mariadb": "MySQL/MariaDB",
    }.get(scheme, scheme)


def _missing_driver(err: BaseException) -> str | None:
    name = getattr(err, "name", None) or ""
    if isinstance(err, ModuleNotFoundError) and name.split(".")[0] in DRIVER_FIX:
        return name.split(".")[0]
    return None


def _sql_check(what: str, url: str, timeout: float) -> Check:
    """Connect with SQLAlchemy and run ``SELECT 1``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    shown = redact(url, url)
    kind = _kind(url)
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout))})
    except Exception as err:
        driver = _missing_driver(err)
        if driver:
            return Check(what, shown, False, f"{driver} not installed", DRIVER_FIX[driver])
        return Check(what, shown, False, redact(_first_line(err), url), "check the URL's scheme and driver")
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version()")).scalar()
    except Exception as err:
        message = redact(_first_line(err), url)
        return Check(what, shown, False, message, _db_fix(message, url, kind))
    finally:
        engine.dispose()
    return Check(what, shown, True, f"{kind} {str(version).split(',')[0][:60]}")


def _writable_folder(what: str, folder: Path, shown: str | None = None) -> Check:
    """The folder exists (or can be created) and a file can be written in it."""
    shown = shown or str(folder)
    probe = folder
    while not probe.exists():  # the first run creates it: check the nearest existing parent
        probe = probe.parent
    if not probe.is_dir():
        return Check(what, shown, False, f"{probe} is not a folder", f"remove {probe} or choose another location")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".workbench-doctor-"):
            pass
    except OSError as err:
        return Check(what, shown, False, f"cannot write in {probe}: {err.strerror}", f"make {probe} writable")
    return Check(what, shown, True, "writable" if probe == folder else f"created on first use, in {probe}")


def _sqlite_path(url: str) -> Path:
    path = url.split("://", 1)[1].split("?", 1)[0]
    return Path(path[1:] if path.startswith("//") else path)


def check_optuna(url: str, timeout: float) -> Check:
    if url.startswith("journal://"):
        path = Path("/" + url[len("journal://") :].lstrip("/"))
        check = _writable_folder("Optuna", path.parent, shown=url)
        if check.ok:
            check.detail = f"journal file: {check.detail}"
        return check
    if url.startswith("sqlite:"):
        check = _writable_folder("Optuna", _sqlite_path(url).parent, shown=url)
        if check.ok:
            check.detail = f"SQLite: {check.detail}"
        return check
    check = _sql_check("Optuna", url, timeout)
    if check.ok:
        check.detail += "; controllers can share it"
    return check


def check_mlflow(uri: str, timeout: float) -> Check:
    shown = redact(uri, uri)
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        import urllib.error  # here, not at the top: every `workbench` command imports this module
        import urllib.request

        health = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=timeout) as response:
                body = response.read(100).decode(errors="replace").strip()
        except urllib.error.HTTPError as err:
            return Check(
                "MLflow", shown, False, f"HTTP {err.code} from {redact(health, uri)}", "is this an MLflow server?"
            )
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            message = redact(str(reason), uri)
            where = _host_port(uri, 443 if scheme == "https" else 80)
            return Check("MLflow", shown, False, message, f"is `mlflow server` running at {where}?")
        return Check("MLflow", shown, True, f"tracking server ({body or 'OK'})")
    if scheme == "sqlite":
        check = _writable_folder("MLflow", _sqlite_path(uri).parent, shown=uri)
        if check.ok:
            check.detail = f"SQLite: {check.detail}"
        return check
    if scheme in ("", "file"):
        return _writable_folder("MLflow", Path(urlparse(uri).path or uri), shown=uri)
    if scheme.split("+")[0] in ("postgresql", "postgres", "mysql", "mariadb", "mssql"):
        return _sql_check("MLflow", uri, timeout)
    return Check(
        "MLflow",
        shown,
        False,
        f"unsupported tracking URI scheme {scheme!r}",
        "use http(s)://, sqlite:// or a database URL",
    )


def check_mlmd(url: str, timeout: float = 5.0) -> Check:
    shown = redact(url, url)
    if url.startswith("sqlite:"):
        check = _writable_folder("ML Metadata", _sqlite_path(url).parent, shown=url)
        if check.ok:
            check.detail = f"SQLite: {check.detail}"
        return check
    from workbench.tracking._mlmd import open_store

    kind = _kind(url)
    parsed = urlparse(url)
    if parsed.hostname and not parsed.query:  # ml-metadata's own errors can be empty: reach the port first
        import socket

        port = parsed.port or (5432 if kind == "PostgreSQL" else 3306)
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        except OSError as err:
            message = redact(str(err), url)
            return Check("ML Metadata", shown, False, message, _db_fix(f"connection refused {message}", url, kind))
    try:
        store = open_store(url)
        store.get_context_types()
    except SpecError as err:
        return Check(
            "ML Metadata",
            shown,
            False,
            redact(err.message, url),
            "use sqlite:////path, postgresql://... or mysql://...",
        )
    except Exception as err:  # ml-metadata raises its own error types (errors.UnavailableError, ...)
        message = redact(_first_line(err), url)
        fix = _db_fix(message, url, kind)
        if "errno: , error:" in message:  # ml-metadata's MySQL client says nothing more
            fix = "the server refused the login or the database: check the user, password and database in the URL"
        if kind == "MySQL/MariaDB" and urlparse(url).username == "root" and not urlparse(url).password:
            fix += " (ml-metadata cannot log in as a root with unix-socket authentication: use a user with a password)"
        return Check("ML Metadata", shown, False, message, fix)
    return Check("ML Metadata", shown, True, f"{kind} (ml-metadata native client)")


def check_artifacts(folder: Path) -> Check:
    return _writable_folder("Artifacts", folder)


def check_kubernetes(workspace: Any, timeout: float) -> Check:
    from workbench.backends.kubernetes import KubernetesSettings

    try:
        settings = KubernetesSettings.load(workspace)
        api = settings.api_client()
    except SpecError as err:
        return Check(
            "Kubernetes",
            "backend = kubernetes",
            False,
            err.message,
            "check [kubernetes] in workbench.toml and the kubeconfig",
        )
    where = api.configuration.host
    try:
        from kubernetes import client

        namespace = getattr(settings, "namespace", None) or "default"
        client.CoreV1Api(api).list_namespaced_pod(namespace, limit=1, _request_timeout=timeout)
    except Exception as err:
        status = getattr(err, "status", None)
        message = _first_line(err) if status is None else f"HTTP {status}: {getattr(err, 'reason', '')}"
        fix = (
            "the service account lacks RBAC rights: apply deploy/ (role and binding)"
            if status in (401, 403)
            else f"is the cluster reachable at {where}?"
        )
        return Check("Kubernetes", where, False, message, fix)
    finally:
        api.close()
    return Check("Kubernetes", where, True, f"pods readable in namespace {namespace}")


def run_checks(workspace: Any, timeout: float = 5.0) -> list[Check]:
    """Every check for a workspace, in the order of the report."""
    checks = [
        check_optuna(workspace.optuna_url, timeout),
        check_mlflow(workspace.mlflow_uri, timeout),
        check_mlmd(workspace.mlmd_url, timeout),
        check_artifacts(workspace.artifacts),
    ]
    from workbench.backends import default_backend_name

    try:
        backend = default_backend_name(workspace)
    except SpecError as err:
        checks.append(Check("Backend", "settings", False, err.message, "fix the settings file"))
        return checks
    if backend in ("kubernetes", "k8s"):
        checks.append(check_kubernetes(workspace, timeout))
    elif backend == "local":
        checks.append(Check("Backend", "local", True, "steps run as processes on this machine"))
    else:
        checks.append(
            Check("Backend", backend, False, f"unknown backend {backend!r}", 'use backend = "local" or "kubernetes"')
        )
    return checks


def doctor(
    home: Path | None = typer.Option(
        None, "--home", help="Workspace folder (default: $WORKBENCH_HOME or ./.workbench)."
    ),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for each server."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON (what, where, ok, detail, fix)."),
) -> None:
    """Check each configured store (Optuna, MLflow, ML Metadata, artifacts) and the backend; print what to fix."""
    from rich.markup import escape
    from rich.table import Table

    from workbench.cli import _workspace, console
    from workbench.settings import settings_file

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    workspace = _workspace(home)  # a bad settings file is a SpecError: exit 2
    checks = run_checks(workspace, timeout)
    broken = [c.what for c in checks if not c.ok]
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in checks], indent=2))
        raise typer.Exit(1 if broken else 0)
    source = settings_file(workspace.home)
    console.print(f"workspace {workspace.home}" + (f" (settings: {source})" if source else " (no settings file)"))
    table = Table("store", "location", "status", "detail", "fix")
    for c in checks:
        status = "[green]ok[/]" if c.ok else "[red]FAIL[/]"
        table.add_row(c.what, escape(c.where), status, escape(c.detail), escape(c.fix))
    console.print(table)
    if broken:
        console.print(f"[red]{len(broken)} of {len(checks)} checks failed:[/] {', '.join(broken)}")
        raise typer.Exit(1)
    console.print(f"[green]all {len(checks)} checks passed[/]")


def register(app: typer.Typer) -> None:
    """Add ``workbench doctor`` to the CLI."""
    app.command("doctor")(doctor)
