"""Opening the Optuna storage named by the workspace, and the per-experiment lock."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from workbench.errors import WorkbenchError

if TYPE_CHECKING:  # Optuna is imported where a storage is opened: reading these names stays light
    import optuna

log = logging.getLogger("workbench.storage")

#: Study user attributes written by the controller.
ATTR_SPEC = "workbench.spec"
ATTR_SPACE = "workbench.space"
ATTR_STATE = "workbench.state"
ATTR_MESSAGE = "workbench.message"
ATTR_NAMESPACE = "workbench.namespace"
ATTR_STOP = "workbench.stop_requested"
ATTR_CREATED = "workbench.created"
ATTR_STARTED = "workbench.started"
ATTR_FINISHED = "workbench.finished"
#: When the controller last knew every trial's records (MLflow, ML Metadata) written.
ATTR_RECORDED = "workbench.recorded"
#: When the experiment was archived (``workbench archive``: hidden from the lists); 0 or absent: it is not.
ATTR_ARCHIVED = "workbench.archived"
#: Trial user attributes.
T_STATE = "workbench.state"
T_RUN_ID = "workbench.run_id"
T_METRICS = "workbench.metrics"
T_MESSAGE = "workbench.message"
T_REQUEUED_FROM = "workbench.requeued_from"
T_STARTED = "workbench.started"
T_FINISHED = "workbench.finished"
#: A finished trial imported from ``warmStart.csv``: the digest of its CSV row (:mod:`workbench.search._warmstart`).
ROW_KEY_ATTR = "workbench.warm_start_key"
#: The controller that asked the trial (its id; its heartbeat is ``ATTR_CONTROLLER_PREFIX + id``).
T_CONTROLLER = "workbench.controller"
#: Study user attribute per controller of a shared store: ``{"heartbeat", "timeout", "host", "pid", ...}``.
ATTR_CONTROLLER_PREFIX = "workbench.controller."


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """``journal:///abs/path`` (the embedded default) or any SQLAlchemy URL Optuna accepts."""
    import optuna

    if url.startswith("journal://"):
        path = Path(url[len("journal://") :])
        if not path.parent.is_dir():
            raise WorkbenchError(f"workspace folder {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(str(path), lock_obj=JournalFlock(str(path)))
        return optuna.storages.JournalStorage(backend)
    given = url
    if url.startswith(("postgresql://", "postgres://")):  # the driver Workbench installs (SQLAlchemy 2.0 would
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # pick psycopg2 for a bare postgresql://)
    elif url.startswith("mysql://"):
        url = "mysql+pymysql://" + url[len("mysql://") :]
    try:
        return optuna.storages.RDBStorage(url, skip_compatibility_check=False)
    except Exception as err:  # SQLAlchemy raises many kinds for a dead or wrong server
        raise WorkbenchError(f"cannot open the Optuna storage {redact(given)}: {err}") from None


class JournalFlock:
    """The journal's write lock: ``flock`` on ``<journal>.flock``, released by the kernel when its holder dies.

    Optuna's own journal locks (a lock file created with ``O_EXCL`` or a symlink) outlive a
    controller killed while it appends (SIGKILL, OOM): every later writer then waits for their 30 s
    grace period before taking the lock over. The embedded journal lives on a local disk, where
    ``flock`` works; every Workbench process writes through this lock. (The interface is Optuna's
    ``BaseJournalFileLock``, which is not exported.)
    """

    def __init__(self, journal: str) -> None:
        self.path = journal + ".flock"
        self._local = threading.local()

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._local.fd = fd
        return True

    def release(self) -> None:
        fd = getattr(self._local, "fd", None)
        if fd is None:
            raise RuntimeError("the journal lock is not held")
        self._local.fd = None
        os.close(fd)  # closing the descriptor releases the lock

    def __getstate__(self) -> dict[str, str]:  # a storage may be pickled (threading.local cannot)
        return {"path": self.path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.path = state["path"]
        self._local = threading.local()


def redact(url: str) -> str:
    """A URL safe to print: the password replaced by ``***``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def study_exists(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


class ExperimentLock:
    """A lock held while a controller drives an experiment (one machine).

    Exclusive on the embedded journal (one controller per experiment). With ``shared=True`` (a
    shared store, where controllers cooperate through :class:`StudyClaim` and heartbeats) several
    controllers hold it at once; either way :meth:`is_held_elsewhere` tells ``workbench stop`` and
    the read model that a controller on this machine is live.

    Example:
        >>> import tempfile
        >>> lock = ExperimentLock(Path(tempfile.mkdtemp()), "demo")
        >>> lock.acquire(); lock.is_held_elsewhere()
        False
        >>> lock.release()
    """

    def __init__(self, folder: Path, name: str, shared: bool = False) -> None:
        self.path = folder / f"{name}.lock"
        self.shared = shared
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        if self.shared:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise WorkbenchError(
                    f"experiment {self.path.stem!r} is being run by a controller on the embedded store of this "
                    f"workspace; stop it first (workbench stop {self.path.stem})"
                ) from None
            self._fh = fh
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise WorkbenchError(
                f"experiment {self.path.stem!r} is already being run by {owner}; "
                f"stop it first (workbench stop {self.path.stem})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def is_held_elsewhere(self) -> bool:
        """True while another process holds the lock (a live controller)."""
        if self._fh is not None or not self.path.exists():
            return False
        with self.path.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
        return False

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------------------- shared stores


def is_shared(url: str) -> bool:
    """True for a database URL (several controllers may share it), False for the embedded journal file."""
    return not url.startswith("journal://")


def _claim_key(name: str) -> str:
    return "workbench/" + hashlib.sha256(name.encode()).hexdigest()[:40]


class StudyClaim:
    """A lock in the database of a shared Optuna store, one per experiment, across machines.

    Controllers of the same experiment take it around "count the claimed trials, then ask", around
    reconciling trials of dead controllers and around setting an experiment up, so that together
    they never start more than ``maxTrialCount`` trials and never run a stale trial twice.
    PostgreSQL: a session advisory lock; MySQL/MariaDB: ``GET_LOCK``; SQLite: ``flock`` on a file
    beside the database. The server drops the lock of a controller that dies (its session ends).
    :meth:`now` is the database server's clock, so heartbeats written by different machines compare
    without clock skew.

    Example (not run: needs a server)::

        claim = StudyClaim("postgresql://wb@db:5432/optuna", "mnist")
        with claim:
            ...  # count trials, ask
        claim.close()
    """

    def __init__(self, url: str, name: str, timeout: float = 120.0) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        self.name = name
        self.timeout = timeout
        self.url = url
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._conn: Any = None
        self._fd: int | None = None
        self._engine: Any = None
        try:
            parsed = make_url(url)
        except ArgumentError as err:
            raise WorkbenchError(f"cannot open the Optuna storage {redact(url)}: {err}") from None
        self.dialect = parsed.get_backend_name()
        self.key = _claim_key(name)
        if self.dialect == "sqlite":
            db = parsed.database or ""
            self._path = None if db in ("", ":memory:") else db + ".claim"
            return
        if self.dialect not in ("postgresql", "mysql", "mariadb"):
            raise WorkbenchError(
                f"the Optuna storage {redact(url)} is a {self.dialect} database: several controllers can share "
                "PostgreSQL, MySQL/MariaDB or SQLite only"
            )
        try:
            self._engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
        except (NoSuchModuleError, ModuleNotFoundError) as err:
            raise WorkbenchError(f"cannot open the Optuna storage {redact(url)}: {err}") from None

    # -- the lock

    def __enter__(self) -> StudyClaim:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the claim (re-entrant in one thread); waits up to ``timeout`` seconds for another controller."""
        self._thread_lock.acquire()
        if self._depth:
            self._depth += 1
            return
        try:
            self._acquire_store()
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            raise RuntimeError("the study claim is not held")
        self._depth -= 1
        try:
            if not self._depth:
                self._release_store()
        finally:
            self._thread_lock.release()

    def _busy(self) -> WorkbenchError:
        return WorkbenchError(
            f"another controller of experiment {self.name!r} held its claim in {redact(self.url)} "
            f"for more than {self.timeout:g}s; is a controller stuck?"
        )

    def _acquire_store(self) -> None:
        from sqlalchemy import text

        if self.dialect == "sqlite":
            if self._path is not None:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                deadline = time.monotonic() + self.timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            os.close(fd)
                            raise self._busy() from None
                        time.sleep(0.02)
                self._fd = fd
            return
        conn = self._connect()
        try:
            if self.dialect == "postgresql":
                key = int.from_bytes(hashlib.sha256(self.key.encode()).digest()[:8], "big", signed=True)
                deadline = time.monotonic() + self.timeout
                while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    if time.monotonic() > deadline:
                        raise self._busy()
                    time.sleep(0.02)
                self._pg_key = key
            else:
                got = conn.execute(
                    text("SELECT GET_LOCK(:k, :t)"), {"k": self.key[:64], "t": max(1, int(self.timeout))}
                ).scalar()
                if got != 1:
                    raise self._busy()
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _release_store(self) -> None:
        from sqlalchemy import text

        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # releases the flock
            return
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._pg_key})
            else:
                conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": self.key[:64]})
        except Exception as err:  # the server dropped the session: the lock went with it
            log.warning("releasing the claim of %s: %s", self.name, err)
            conn.invalidate()
        finally:
            conn.close()

    def _connect(self) -> Any:
        try:
            return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as err:
            raise WorkbenchError(f"cannot connect to the Optuna storage {redact(self.url)}: {err}") from None

    # -- the clock

    def now(self) -> float:
        """Seconds since the epoch on the database server's clock (this machine's for SQLite)."""
        from sqlalchemy import text

        if self.dialect == "sqlite":
            return time.time()
        query = (
            "SELECT EXTRACT(EPOCH FROM clock_timestamp())"
            if self.dialect == "postgresql"
            else "SELECT UNIX_TIMESTAMP(NOW(6))"
        )
        conn = self._connect()
        try:
            return float(conn.execute(text(query)).scalar())
        finally:
            conn.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), ``None`` when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity() -> dict[str, Any]:
    """What identifies this process across machines, containers and pid reuse (stored in a heartbeat)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "boot": _boot_id(),
        "pidns": _pid_namespace(),
        "pstart": _process_start(os.getpid()) or "",
    }


def process_gone(entry: dict[str, Any]) -> bool | None:
    """True when the controller of a heartbeat entry ran on this machine and its process has exited;
    ``None`` when that cannot be told from here (another machine or container): the heartbeat decides.
    """
    me = process_identity()
    if not entry.get("boot") or not entry.get("pstart"):
        return None
    if any(entry.get(k) != me[k] for k in ("host", "boot", "pidns")):
        return None
    return _process_start(int(entry.get("pid", 0))) != entry["pstart"]


def controller_is_live(entry: Any, now: float) -> bool:
    """Whether the controller of a heartbeat entry (``ATTR_CONTROLLER_PREFIX + id``) still drives trials.

    Dead when it said it ended, when its process is gone from this machine, or when its last
    heartbeat is older than the timeout it promised (on the database server's clock).

    Example:
        >>> controller_is_live({"heartbeat": 100.0, "timeout": 30.0}, now=120.0)
        True
        >>> controller_is_live({"heartbeat": 100.0, "timeout": 30.0}, now=131.0)
        False
        >>> controller_is_live(None, now=0.0)
        False
    """
    if not isinstance(entry, dict) or entry.get("ended"):
        return False
    if process_gone(entry):
        return False
    try:
        return now - float(entry["heartbeat"]) <= float(entry.get("timeout", 30.0))
    except (KeyError, TypeError, ValueError):
        return False


class Heartbeat:
    """A controller's heartbeat in a shared study: a study user attribute rewritten every ``timeout / 4`` s.

    Other controllers of the experiment treat the trials this one asked (``T_CONTROLLER``) as
    live while the heartbeat is fresh, and reconcile them (Killed, parameters queued again) once it
    is stale, or at once when :meth:`stop` marked it ended.
    """

    def __init__(self, study: optuna.Study, claim: StudyClaim, controller_id: str, timeout: float) -> None:
        self.study = study
        self.claim = claim
        self.controller_id = controller_id
        self.timeout = timeout
        self.key = ATTR_CONTROLLER_PREFIX + controller_id
        self._entry: dict[str, Any] = {"timeout": timeout, **process_identity()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, ended: bool = False) -> None:
        now = self.claim.now()
        self._entry.setdefault("started", now)
        self._entry["heartbeat"] = now
        if ended:
            self._entry["ended"] = now
        self.study.set_user_attr(self.key, dict(self._entry))

    def start(self) -> None:
        """Write the first beat (before any trial is asked), then keep beating on a thread."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.controller_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = max(0.05, self.timeout / 4)
        while not self._stop.wait(interval):
            try:
                self.beat()
            except Exception as err:  # a store that blips: the next beat retries
                log.warning("controller heartbeat failed (retrying in %.1fs): %s", interval, err)

    def stop(self) -> None:
        """Stop beating and mark this controller ended (its trials are no longer anyone's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.beat(ended=True)
        except Exception as err:
            log.warning("could not mark controller %s ended: %s", self.controller_id, err)
