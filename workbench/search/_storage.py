"""Opening the Optuna storage named by the workspace, and the per-experiment lock."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import IO

import optuna

from workbench.errors import WorkbenchError

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
#: Trial user attributes.
T_STATE = "workbench.state"
T_RUN_ID = "workbench.run_id"
T_METRICS = "workbench.metrics"
T_MESSAGE = "workbench.message"
T_REQUEUED_FROM = "workbench.requeued_from"
T_STARTED = "workbench.started"
T_FINISHED = "workbench.finished"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """``journal:///abs/path`` (the embedded default) or any SQLAlchemy URL Optuna accepts."""
    if url.startswith("journal://"):
        path = Path(url[len("journal://") :])
        if not path.parent.is_dir():
            raise WorkbenchError(f"workspace folder {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(str(path), lock_obj=JournalFlock(str(path)))
        return optuna.storages.JournalStorage(backend)
    try:
        return optuna.storages.RDBStorage(url, skip_compatibility_check=False)
    except Exception as err:  # SQLAlchemy raises many kinds for a dead or wrong server
        raise WorkbenchError(f"cannot open the Optuna storage {redact(url)}: {err}") from None


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
    """An exclusive lock held while a controller drives an experiment (one machine).

    Example:
        >>> import tempfile
        >>> lock = ExperimentLock(Path(tempfile.mkdtemp()), "demo")
        >>> lock.acquire(); lock.is_held_elsewhere()
        False
        >>> lock.release()
    """

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"{name}.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
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
