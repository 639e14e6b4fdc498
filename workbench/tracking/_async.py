"""AsyncRecorder: tracking off the hot path.

Every hook copies its event onto a queue and returns at once; one daemon thread
calls the inner recorder's hooks in the order they were called. After each batch
(up to ``max_batch`` events, or fewer when the queue runs dry) it calls
``inner.flush()``, so buffered writes (MLflow metric batches) go out while runs are
still going.

A store that is down (connection refused, timeouts, "database is locked", ...) is
retried with exponential backoff, with a warning, for as long as it takes: the events
wait in the queue, in order, and nothing is lost once the store is back. Any other
exception is retried a few times, then logged (logger ``workbench.tracking``), counted
in :attr:`AsyncRecorder.errors`, and skipped; the thread keeps going.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import queue
import threading
import time
import weakref
from typing import Any

from workbench.tracking._base import BaseRecorder, ExperimentInfo, RunInfo, StepInfo
from workbench.tracking._common import logger

_FLUSH = "__flush__"
_STOP = "__stop__"
#: Words in an exception (type or message) that say the store is unreachable, not that the data is bad.
_TRANSIENT = (
    "connect", "unavailable", "timed out", "timeout", "temporarily", "database is locked", "operationalerror",
    "broken pipe", "reset by peer", "503", "502", "504", "429", "too many requests", "server closed",
)  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """True for errors that a retry later can fix (a store down or overloaded)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, (ConnectionError, TimeoutError)) or any(word in text for word in _TRANSIENT)


def outage(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain (causes, contexts) that says a store is unreachable, or ``None``.

    (Optuna wraps a dropped database connection in a ``StorageInternalError`` about "invalid data".)
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_transient(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def _snapshot(event: Any) -> Any:
    """A copy of an info object that later changes by the caller cannot reach."""
    if not dataclasses.is_dataclass(event):
        return event
    out = copy.copy(event)
    for f in dataclasses.fields(out):
        value = getattr(out, f.name)
        if isinstance(value, dict):
            setattr(out, f.name, dict(value))
        elif isinstance(value, list):
            setattr(out, f.name, [copy.copy(v) if dataclasses.is_dataclass(v) else v for v in value])
    return out


def _close_at_exit(ref: weakref.ref[AsyncRecorder]) -> None:
    rec = ref()
    if rec is not None:
        rec.close(timeout=10.0)


class AsyncRecorder(BaseRecorder):
    """Runs ``inner``'s hooks on a background thread, in order.

    Args:
        inner: the recorder doing the writes (typically a ``CompositeRecorder``).
        max_batch: events handled between two ``inner.flush()`` calls at most.
        timeout: how long :meth:`flush` and :meth:`close` wait for the queue to drain
            (``None``: forever); on timeout they log a warning and return.

    Example:
        >>> class Printer(BaseRecorder):
        ...     def run_finished(self, run):
        ...         print(run.run_id, run.state)
        >>> rec = AsyncRecorder(Printer())
        >>> rec.run_finished(RunInfo(run_id="r1", experiment="e", pipeline="p", state="Succeeded"))
        >>> rec.close()
        r1 Succeeded
    """

    def __init__(
        self,
        inner: BaseRecorder,
        max_batch: int = 256,
        timeout: float | None = 300.0,
        max_backoff: float = 10.0,
        attempts: int = 3,
    ) -> None:
        self.inner = inner
        #: Longest wait between two tries while a store is down.
        self.max_backoff = max_backoff
        #: Tries of an event failing with a non-transient error before it is skipped.
        self.attempts = max(1, attempts)
        #: True while the inner store is unreachable (events wait in the queue).
        self.outage = False
        self._wake = threading.Event()
        self.max_batch = max(1, int(max_batch))
        self.timeout = timeout
        #: Number of exceptions raised by the inner recorder so far.
        self.errors = 0
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...]]] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="workbench-recorder", daemon=True)
        self._thread.start()
        self._atexit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ hooks

    def _put(self, hook: str, *args: Any) -> None:
        if self._closed:
            logger.warning("recorder is closed: %s event dropped", hook)
            return
        self._queue.put((hook, args))

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        self._put("experiment_started", _snapshot(experiment))

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        self._put("experiment_finished", _snapshot(experiment))

    def run_started(self, run: RunInfo) -> None:
        self._put("run_started", _snapshot(run))

    def step_started(self, step: StepInfo) -> None:
        self._put("step_started", _snapshot(step))

    def step_finished(self, step: StepInfo) -> None:
        self._put("step_finished", _snapshot(step))

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        self._put("metric", run_id, step, name, value, index, timestamp)

    def run_finished(self, run: RunInfo) -> None:
        self._put("run_finished", _snapshot(run))

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the inner recorder (approximate)."""
        return self._queue.qsize()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far is written and ``inner.flush()`` ran.

        Returns ``False`` if ``timeout`` seconds (``None``: the recorder's ``timeout``) passed first.
        """
        if self._closed or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put((_FLUSH, (done,)))
        wait = self.timeout if timeout is None else timeout
        if not done.wait(wait):
            logger.warning("tracking flush timed out after %ss with %d events queued", wait, self.pending)
            return False
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the thread, then close the inner recorder. Later events are dropped."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._atexit)
        done = threading.Event()
        self._queue.put((_STOP, (done,)))
        wait = self.timeout if timeout is None else timeout
        if not done.wait(wait):
            logger.warning("tracking close timed out after %ss with %d events queued", wait, self.pending)
            return
        self._thread.join(timeout=5.0)

    # ----------------------------------------------------------------- thread

    def _call(self, hook: str, args: tuple[Any, ...]) -> None:
        delay, tries, down_since = 0.5, 0, 0.0
        name = type(self.inner).__name__
        while True:
            try:
                getattr(self.inner, hook)(*args)
            except Exception as exc:
                tries += 1
                if is_transient(exc) and not self._closed:
                    if not self.outage:
                        self.outage, down_since = True, time.monotonic()
                    logger.warning(
                        "tracking: %s is unreachable (%s: %s); retrying in %.0fs, %d events waiting",
                        name, type(exc).__name__, str(exc)[:200], delay, self.pending,
                    )  # fmt: skip
                    self._wake.wait(delay)
                    self._wake.clear()
                    delay = min(delay * 2, self.max_backoff)
                    continue
                if tries < self.attempts and not self._closed:
                    time.sleep(0.2 * tries)
                    continue
                self.errors += 1
                logger.warning("tracking: %s.%s failed: %s: %s", name, hook, type(exc).__name__, exc)
                logger.debug("tracking failure details", exc_info=True)
                return
            if self.outage:
                self.outage = False
                logger.warning("tracking: %s is back after %.0fs", name, time.monotonic() - down_since)
            return

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            dirty = False
            for hook, args in batch:
                if hook == _FLUSH:
                    self._call("flush", ())
                    dirty = False
                    args[0].set()
                elif hook == _STOP:
                    self._call("close", ())
                    args[0].set()
                    return
                else:
                    self._call(hook, args)
                    dirty = True
            if dirty and getattr(self.inner, "flush_after_batch", True):
                self._call("flush", ())
