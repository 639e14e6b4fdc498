"""The run store: standalone runs, schedules and their occurrences, in SQL (SQLAlchemy Core).

One URL per workspace (``runs`` setting, ``WORKBENCH_RUNS_URL``; default
``sqlite:///<home>/runs.db``); a PostgreSQL URL lets several machines share it. Four tables:

- ``wb_runs``: one row per standalone run: the resolved pipeline document, parameters,
  component digests, state, times, step states and log locations. A finished run is immutable:
  every update is conditional on the run not being finished.
- ``wb_schedules``: recurring runs (trigger, target document, policy), unique per namespace and name.
- ``wb_run_archive``: the archived runs (hidden from the lists).
- ``wb_occurrences``: one row per fired occurrence, ``UNIQUE (schedule_id, fire_at)``: inserted
  *before* its run is launched, so a restarted scheduler, or several schedulers sharing one
  PostgreSQL store, never fire an occurrence twice.

Example:
    >>> import tempfile
    >>> store = RunStore(f"sqlite:///{tempfile.mkdtemp()}/runs.db")
    >>> store.list_runs()
    []
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from workbench.errors import SpecError, WorkbenchError

#: States of a standalone run (the trial states that apply to it).
RUN_STATES = ("Pending", "Running", "Succeeded", "Failed", "Killed")
FINAL_RUN_STATES = ("Succeeded", "Failed", "Killed")
#: States of an occurrence: its run's, or its experiment's (``Stopped``).
OCCURRENCE_STATES = ("Pending", "Running", "Succeeded", "Failed", "Killed", "Stopped")
ACTIVE = ("Pending", "Running")
#: A live run or occurrence writes a heartbeat this often (seconds) ...
HEARTBEAT = 5.0
#: ... and one silent for longer than this is considered dead (its process was killed).
STALE_AFTER = 30.0

metadata = sa.MetaData()

runs_table = sa.Table(
    "wb_runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, default=""),
    sa.Column("namespace", sa.String(63), nullable=False, index=True),
    sa.Column("experiment", sa.String(255), nullable=False, index=True),
    sa.Column("pipeline", sa.String(255), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("digests", sa.Text, nullable=False),
    sa.Column("metric_names", sa.Text, nullable=False, default="[]"),
    sa.Column("metrics", sa.Text, nullable=False, default="{}"),
    sa.Column("steps", sa.Text, nullable=False, default="{}"),
    sa.Column("backend", sa.String(32), nullable=False, default="local"),
    sa.Column("cache", sa.Boolean, nullable=False, default=True),
    sa.Column("log_dir", sa.Text, nullable=False, default=""),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("heartbeat", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("rerun_of", sa.String(32)),
    sa.Column("schedule", sa.String(255), index=True),
    sa.Column("fire_at", sa.BigInteger),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
)

#: Archived runs (``workbench runs archive``): hidden from the lists unless asked for. A table of its own, so that
#: a run store created before it gains it without a migration (``create_all``).
archive_table = sa.Table(
    "wb_run_archive",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("archived", sa.Float, nullable=False),
)

schedules_table = sa.Table(
    "wb_schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(63), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("parameters", sa.Text, nullable=False, default="{}"),
    sa.Column("experiment", sa.String(255), nullable=False, default="Default"),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("max_concurrency", sa.Integer, nullable=False, default=1),
    sa.Column("catchup", sa.Boolean, nullable=False, default=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("backend", sa.String(32)),
    sa.Column("cache", sa.Boolean, nullable=False, default=True),
    sa.Column("metric_names", sa.Text, nullable=False, default="[]"),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.UniqueConstraint("namespace", "name", name="uq_wb_schedules_namespace_name"),
    sqlite_autoincrement=True,
)

occurrences_table = sa.Table(
    "wb_occurrences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.Integer, nullable=False),
    sa.Column("fire_at", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("heartbeat", sa.Float),
    sa.Column("launched_by", sa.String(255), nullable=False, default=""),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.UniqueConstraint("schedule_id", "fire_at", name="uq_wb_occurrences_schedule_fire"),
    sqlite_autoincrement=True,
)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class RunRecord:
    """A standalone pipeline run as stored."""

    run_id: str
    namespace: str
    experiment: str
    pipeline: str
    document: dict[str, Any]
    parameters: dict[str, Any]
    digests: dict[str, str]
    name: str = ""
    state: str = "Pending"
    message: str = ""
    metric_names: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    #: step -> {"state", "log_path", "started", "finished", "message", "cached_from", "attempts"}
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    backend: str = "local"
    cache: bool = True
    log_dir: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    heartbeat: float | None = None
    cancel_requested: bool = False
    rerun_of: str | None = None
    schedule: str | None = None
    fire_at: int | None = None
    host: str | None = None
    pid: int | None = None

    @property
    def done(self) -> bool:
        return self.state in FINAL_RUN_STATES

    def stale(self, now: float | None = None) -> bool:
        """Running (or Pending after a start) but its process stopped writing heartbeats."""
        if self.done or self.heartbeat is None:
            return False
        return (now if now is not None else time.time()) - self.heartbeat > STALE_AFTER

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("document", "parameters", "digests", "metric_names", "metrics", "steps"):
            row[key] = _dumps(row[key])
        return row

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        data = dict(row._mapping)
        for key, default in (("document", {}), ("parameters", {}), ("digests", {}), ("metric_names", []),
                             ("metrics", {}), ("steps", {})):  # fmt: skip
            data[key] = _loads(data[key], default)
        return cls(**data)


@dataclass
class ScheduleRecord:
    """A recurring run: what it starts (a pipeline run or an experiment), when, and with what policy."""

    name: str
    namespace: str
    kind: str  # "pipeline" | "experiment"
    document: dict[str, Any]
    trigger: dict[str, Any]
    source: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    experiment: str = "Default"
    max_concurrency: int = 1
    catchup: bool = True
    enabled: bool = True
    backend: str | None = None
    cache: bool = True
    metric_names: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    id: int | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("id")
        for key in ("document", "trigger", "parameters", "metric_names"):
            row[key] = _dumps(row[key])
        return row

    @classmethod
    def from_row(cls, row: Any) -> ScheduleRecord:
        data = dict(row._mapping)
        for key, default in (("document", {}), ("trigger", {}), ("parameters", {}), ("metric_names", [])):
            data[key] = _loads(data[key], default)
        return cls(**data)


@dataclass
class Occurrence:
    """One firing of a schedule (``fire_at``: epoch seconds) and what it started (``target``)."""

    id: int
    schedule_id: int
    fire_at: int
    state: str
    target: str
    message: str = ""
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    heartbeat: float | None = None
    launched_by: str = ""
    host: str | None = None
    pid: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Occurrence:
        return cls(**dict(row._mapping))


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for other URLs)."""
    if not url.startswith("sqlite:"):
        return None
    rest = url.split("://", 1)[1].split("?", 1)[0] if "://" in url else ""
    if not rest or rest == "/" or rest.startswith("/:memory:"):
        return None
    return Path(rest[1:] if rest.startswith("/") else rest)


def _normalise(url: str) -> str:
    """``postgresql://`` and ``mysql://`` with the drivers Workbench installs (psycopg 3, PyMySQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):  # SQLAlchemy 2.0 would pick psycopg2 for a bare postgresql://
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("mysql://"):
        url = "mysql+pymysql://" + url[len("mysql://") :]
    return url


def me() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunStore:
    """Standalone runs, schedules and occurrences in one SQL database (thread-safe; many processes may share it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        try:
            if self.sqlite:
                path = sqlite_path(url)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                self.engine = sa.create_engine(
                    url, connect_args={"timeout": 60, "check_same_thread": False}, poolclass=sa.pool.NullPool
                )
                sa.event.listen(self.engine, "connect", _sqlite_connect)
                sa.event.listen(self.engine, "begin", _sqlite_begin)
            else:
                self.engine = sa.create_engine(_normalise(url), pool_pre_ping=True, pool_size=4, max_overflow=4)
        except (ImportError, sa.exc.ArgumentError, ValueError) as err:
            raise SpecError(f"cannot use the run store {url!r}: {err}", path="runs") from None
        self._create_tables()

    @classmethod
    def for_workspace(cls, workspace: Any) -> RunStore:
        """The run store of a workspace (``workspace.runs_url``)."""
        return cls(_url_of(workspace))

    def _create_tables(self) -> None:
        for attempt in range(3):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except (IntegrityError, ProgrammingError, OperationalError) as err:
                # Two processes creating the tables at once: the loser finds them on the next try.
                if attempt == 2:
                    raise WorkbenchError(f"cannot open the run store {_redact(self.url)}: {err.orig}") from None
                time.sleep(0.2 * (attempt + 1))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn.info["immediate"] = write
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ runs

    def create_run(self, record: RunRecord) -> RunRecord:
        with self._tx() as conn:
            conn.execute(runs_table.insert().values(**record.to_row()))
        return record

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id, or by a unique prefix of at least 4 characters (``WorkbenchError`` if none)."""
        run_id = run_id.strip()
        with self._tx(write=False) as conn:
            row = conn.execute(runs_table.select().where(runs_table.c.run_id == run_id)).first()
            if row is None and len(run_id) >= 4:
                rows = conn.execute(
                    runs_table.select().where(runs_table.c.run_id.like(run_id.replace("%", "") + "%")).limit(2)
                ).all()
                if len(rows) > 1:
                    raise WorkbenchError(f"run id prefix {run_id!r} is ambiguous: give more characters")
                row = rows[0] if rows else None
        if row is None:
            raise WorkbenchError(f"no run {run_id!r} in the run store {_redact(self.url)}")
        return RunRecord.from_row(row)

    def list_runs(
        self,
        namespace: str | None = None,
        experiment: str | None = None,
        schedule: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by namespace, experiment, schedule and state; archived ones only with
        ``archived=True``."""
        q = runs_table.select()
        if not archived:
            q = q.where(~sa.exists().where(archive_table.c.run_id == runs_table.c.run_id))
        if namespace is not None:
            q = q.where(runs_table.c.namespace == namespace)
        if experiment is not None:
            q = q.where(runs_table.c.experiment == experiment)
        if schedule is not None:
            q = q.where(runs_table.c.schedule == schedule)
        if state is not None:
            q = q.where(runs_table.c.state == state)
        q = q.order_by(runs_table.c.created.desc(), runs_table.c.run_id)
        if limit:
            q = q.limit(limit)
        with self._tx(write=False) as conn:
            return [RunRecord.from_row(r) for r in conn.execute(q)]

    def archived_ids(self) -> set[str]:
        """The ids of the archived runs."""
        with self._tx(write=False) as conn:
            return {r.run_id for r in conn.execute(sa.select(archive_table.c.run_id))}

    def set_archived(self, run_id: str, archived: bool = True) -> RunRecord:
        """Archive a run (hide it from the lists) or show it again; returns the run."""
        record = self.get_run(run_id)
        with self._tx() as conn:
            conn.execute(archive_table.delete().where(archive_table.c.run_id == record.run_id))
            if archived:
                conn.execute(archive_table.insert().values(run_id=record.run_id, archived=time.time()))
        return record

    def delete_run(self, run_id: str) -> None:
        """Remove a run's record (the caller erased its files and tracking records first)."""
        with self._tx() as conn:
            conn.execute(archive_table.delete().where(archive_table.c.run_id == run_id))
            conn.execute(runs_table.delete().where(runs_table.c.run_id == run_id))

    def _claim(self, key: sa.ColumnElement[bool], table: sa.Table) -> bool:
        """Pending → Running for this process, a compare-and-set: exactly one process wins."""
        now = time.time()
        host, pid = me().rsplit(":", 1)
        with self._tx() as conn:
            result = conn.execute(
                table.update()
                .where(key, table.c.state == "Pending")
                .values(state="Running", started=now, heartbeat=now, host=host, pid=int(pid))
            )
        return result.rowcount == 1

    def claim_run(self, run_id: str) -> bool:
        """Pending → Running for this process; ``False`` if another process (or nobody: cancelled) got it."""
        return self._claim(runs_table.c.run_id == run_id, runs_table)

    def update_run(self, run_id: str, **values: Any) -> None:
        """Change a run that is not finished (``WorkbenchError`` for a finished one: it is immutable)."""
        for key in ("steps", "metrics"):
            if key in values:
                values[key] = _dumps(values[key])
        with self._tx() as conn:
            result = conn.execute(
                runs_table.update()
                .where(runs_table.c.run_id == run_id, runs_table.c.state.in_(ACTIVE))
                .values(**values)
            )
        if result.rowcount != 1:
            raise WorkbenchError(f"run {run_id} is finished (or unknown): a finished run is immutable")

    def finish_run(self, run_id: str, state: str, message: str = "", **values: Any) -> None:
        """The end of a run: its final state; afterwards nothing of it changes."""
        if state not in FINAL_RUN_STATES:
            raise ValueError(f"not a final run state: {state!r}")
        self.update_run(run_id, state=state, message=message, finished=time.time(), **values)

    def heartbeat(self, run_id: str) -> bool:
        """Note that the run's process is alive; returns whether a cancel was requested."""
        with self._tx() as conn:
            conn.execute(
                runs_table.update()
                .where(runs_table.c.run_id == run_id, runs_table.c.state.in_(ACTIVE))
                .values(heartbeat=time.time())
            )
            flag = conn.execute(sa.select(runs_table.c.cancel_requested).where(runs_table.c.run_id == run_id)).scalar()
        return bool(flag)

    def cancel_requested(self, run_id: str) -> bool:
        with self._tx(write=False) as conn:
            flag = conn.execute(sa.select(runs_table.c.cancel_requested).where(runs_table.c.run_id == run_id)).scalar()
        return bool(flag)

    def request_cancel(self, run_id: str) -> RunRecord:
        """Ask the process running a run to cancel it; a run nobody runs (Pending, or its process died) ends
        Killed at once. Returns the run as it is afterwards."""
        record = self.get_run(run_id)
        if record.done:
            return record
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                runs_table.update()
                .where(runs_table.c.run_id == record.run_id, runs_table.c.state.in_(ACTIVE))
                .values(cancel_requested=True)
            )
            # Nobody will notice the flag: a run not started yet, or one whose process is gone.
            conn.execute(
                runs_table.update()
                .where(
                    runs_table.c.run_id == record.run_id,
                    sa.or_(
                        runs_table.c.state == "Pending",
                        sa.and_(runs_table.c.state == "Running", runs_table.c.heartbeat < now - STALE_AFTER),
                    ),
                )
                .values(state="Killed", finished=now, message="cancelled before it ran (or after its process died)")
            )
        return self.get_run(record.run_id)

    def reap_stale_runs(self, now: float | None = None) -> int:
        """Mark Running runs whose process stopped writing heartbeats as Failed; returns how many."""
        now = now if now is not None else time.time()
        with self._tx() as conn:
            result = conn.execute(
                runs_table.update()
                .where(runs_table.c.state == "Running", runs_table.c.heartbeat < now - STALE_AFTER)
                .values(state="Failed", finished=now, message="its process stopped without finishing the run")
            )
        return result.rowcount

    # ------------------------------------------------------------------ schedules

    def create_schedule(self, record: ScheduleRecord) -> ScheduleRecord:
        try:
            with self._tx() as conn:
                result = conn.execute(schedules_table.insert().values(**record.to_row()))
                record.id = int(result.inserted_primary_key[0])
        except IntegrityError:
            raise WorkbenchError(
                f"a schedule {record.name!r} already exists in namespace {record.namespace!r} "
                f"(delete it first: workbench schedule delete {record.name})"
            ) from None
        return record

    def get_schedule(self, name: str, namespace: str = "default") -> ScheduleRecord:
        with self._tx(write=False) as conn:
            row = conn.execute(
                schedules_table.select().where(schedules_table.c.name == name, schedules_table.c.namespace == namespace)
            ).first()
        if row is None:
            raise WorkbenchError(f"no schedule {name!r} in namespace {namespace!r}")
        return ScheduleRecord.from_row(row)

    def schedule_by_id(self, schedule_id: int) -> ScheduleRecord | None:
        with self._tx(write=False) as conn:
            row = conn.execute(schedules_table.select().where(schedules_table.c.id == schedule_id)).first()
        return ScheduleRecord.from_row(row) if row is not None else None

    def list_schedules(self, namespace: str | None = None, enabled: bool | None = None) -> list[ScheduleRecord]:
        q = schedules_table.select().order_by(schedules_table.c.namespace, schedules_table.c.name)
        if namespace is not None:
            q = q.where(schedules_table.c.namespace == namespace)
        if enabled is not None:
            q = q.where(schedules_table.c.enabled == enabled)
        with self._tx(write=False) as conn:
            return [ScheduleRecord.from_row(r) for r in conn.execute(q)]

    def set_enabled(self, name: str, namespace: str, enabled: bool) -> ScheduleRecord:
        record = self.get_schedule(name, namespace)
        with self._tx() as conn:
            conn.execute(
                schedules_table.update()
                .where(schedules_table.c.id == record.id)
                .values(enabled=enabled, updated=time.time())
            )
        return self.get_schedule(name, namespace)

    def delete_schedule(self, name: str, namespace: str) -> ScheduleRecord:
        """Delete a schedule and its occurrence records (the runs it started stay)."""
        record = self.get_schedule(name, namespace)
        with self._tx() as conn:
            conn.execute(occurrences_table.delete().where(occurrences_table.c.schedule_id == record.id))
            conn.execute(schedules_table.delete().where(schedules_table.c.id == record.id))
        return record

    # ------------------------------------------------------------------ occurrences

    def last_fire(self, schedule_id: int) -> int | None:
        with self._tx(write=False) as conn:
            value = conn.execute(
                sa.select(sa.func.max(occurrences_table.c.fire_at)).where(
                    occurrences_table.c.schedule_id == schedule_id
                )
            ).scalar()
        return int(value) if value is not None else None

    def occurrences(self, schedule_id: int, limit: int | None = None, active: bool = False) -> list[Occurrence]:
        """Occurrences of a schedule, newest first."""
        q = occurrences_table.select().where(occurrences_table.c.schedule_id == schedule_id)
        if active:
            q = q.where(occurrences_table.c.state.in_(ACTIVE))
        q = q.order_by(occurrences_table.c.fire_at.desc())
        if limit:
            q = q.limit(limit)
        with self._tx(write=False) as conn:
            return [Occurrence.from_row(r) for r in conn.execute(q)]

    def get_occurrence(self, occurrence_id: int) -> Occurrence:
        with self._tx(write=False) as conn:
            row = conn.execute(occurrences_table.select().where(occurrences_table.c.id == occurrence_id)).first()
        if row is None:
            raise WorkbenchError(f"no occurrence {occurrence_id}")
        return Occurrence.from_row(row)

    def claim_occurrence(
        self,
        schedule: ScheduleRecord,
        fire_at: int,
        target: str,
        run: RunRecord | None = None,
        launched_by: str = "",
    ) -> Occurrence | str:
        """Record that ``schedule`` fires at ``fire_at`` — once. Returns the occurrence, or why not:
        ``"taken"`` (it was already recorded), ``"busy"`` (``max_concurrency`` occurrences of the
        schedule are still Pending or Running) or ``"disabled"``.

        In one transaction, holding the schedule's row: count the active occurrences, insert the
        occurrence (and the Pending run it starts). The UNIQUE (schedule, fire time) key makes the
        insert fail for a second scheduler that computed the same occurrence.
        """
        now = time.time()
        try:
            with self._tx() as conn:
                locked = conn.execute(
                    sa.select(schedules_table.c.id, schedules_table.c.enabled)
                    .where(schedules_table.c.id == schedule.id)
                    .with_for_update()
                ).first()
                if locked is None or not locked.enabled:
                    return "disabled"
                active = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(occurrences_table)
                    .where(occurrences_table.c.schedule_id == schedule.id, occurrences_table.c.state.in_(ACTIVE))
                ).scalar()
                if active >= schedule.max_concurrency:
                    return "busy"
                result = conn.execute(
                    occurrences_table.insert().values(
                        schedule_id=schedule.id,
                        fire_at=int(fire_at),
                        state="Pending",
                        target=target,
                        message="",
                        created=now,
                        launched_by=launched_by,
                    )  # fmt: skip
                )
                occurrence_id = int(result.inserted_primary_key[0])
                if run is not None:
                    conn.execute(runs_table.insert().values(**run.to_row()))
        except IntegrityError:
            return "taken"
        return Occurrence(occurrence_id, int(schedule.id or 0), int(fire_at), "Pending", target, "", now,
                          launched_by=launched_by)  # fmt: skip

    def start_occurrence(self, occurrence_id: int) -> bool:
        """Pending → Running for this process (exactly one process wins)."""
        return self._claim(occurrences_table.c.id == occurrence_id, occurrences_table)

    def occurrence_heartbeat(self, occurrence_id: int) -> None:
        with self._tx() as conn:
            conn.execute(
                occurrences_table.update()
                .where(occurrences_table.c.id == occurrence_id, occurrences_table.c.state.in_(ACTIVE))
                .values(heartbeat=time.time())
            )

    def finish_occurrence(self, occurrence_id: int, state: str, message: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                occurrences_table.update()
                .where(occurrences_table.c.id == occurrence_id, occurrences_table.c.state.in_(ACTIVE))
                .values(state=state, message=message, finished=time.time())
            )

    def unstarted_occurrences(self, older_than: float) -> list[Occurrence]:
        """Pending occurrences created before ``older_than`` that no process picked up (their launcher died)."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                occurrences_table.select().where(
                    occurrences_table.c.state == "Pending", occurrences_table.c.created < older_than
                )
            ).all()
        return [Occurrence.from_row(r) for r in rows]

    def reap_stale_occurrences(self, now: float | None = None) -> int:
        """Running occurrences whose process stopped writing heartbeats end Failed; returns how many."""
        now = now if now is not None else time.time()
        with self._tx() as conn:
            result = conn.execute(
                occurrences_table.update()
                .where(occurrences_table.c.state == "Running", occurrences_table.c.heartbeat < now - STALE_AFTER)
                .values(state="Failed", finished=now, message="its process stopped without finishing")
            )
        return result.rowcount


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    # The driver must not open transactions by itself: ``_sqlite_begin`` does (BEGIN IMMEDIATE for writes,
    # so two writers queue on the busy timeout instead of failing with "database is locked").
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate", True) else "BEGIN")


def _url_of(workspace: Any) -> str:
    url = getattr(workspace, "runs_url", "") or ""
    return url or f"sqlite:///{Path(workspace.home) / 'runs.db'}"


def _redact(url: str) -> str:
    """A URL without its password."""
    try:
        return sa.engine.make_url(_normalise(url)).render_as_string(hide_password=True)
    except Exception:
        return url


_open: dict[str, RunStore] = {}
_open_lock = threading.Lock()


def store_of(workspace: Any) -> RunStore:
    """The (shared, per process) run store of a workspace; created on first use."""
    url = _url_of(workspace)
    with _open_lock:
        store = _open.get(url)
        if store is None:
            store = _open[url] = RunStore(url)
        return store


def existing_store(workspace: Any) -> RunStore | None:
    """The run store of a workspace if it exists (reading never creates a SQLite file)."""
    url = _url_of(workspace)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return None
    return store_of(workspace)


__all__ = [
    "ACTIVE",
    "FINAL_RUN_STATES",
    "HEARTBEAT",
    "OCCURRENCE_STATES",
    "RUN_STATES",
    "STALE_AFTER",
    "Occurrence",
    "RunRecord",
    "RunStore",
    "ScheduleRecord",
    "existing_store",
    "me",
    "store_of",
]
