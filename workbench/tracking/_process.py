"""ProcessRecorder: a recorder that runs in a child process.

MLflow's client spends tens of milliseconds of CPU per trial (SQLAlchemy sessions, validation).
In the controller's process that CPU competes with the controller for the GIL; in a child
process it runs on another core. The parent only pickles each event onto a socket.

The child (``python -m workbench.tracking._process FD``) builds the real recorder from a
factory path and keyword arguments and wraps it in an :class:`AsyncRecorder`, so a store
that is down is retried there with backoff. ``flush()`` in the parent waits until the child
has written everything sent so far. If the child dies, the parent starts a new one and sends
again every event not yet confirmed by a flush (so nothing is lost; a replayed event may be
written twice). If the parent dies, the child still writes what it has received, then exits.

Wrap it in an :class:`AsyncRecorder` (as :func:`workbench.tracking.make_recorder` does) so
that no engine thread ever waits for the socket.

Example (not run: the child imports MLflow, which takes a second or two)::

    rec = ProcessRecorder("workbench.tracking._mlflow:MlflowRecorder", {"tracking_uri": "sqlite:////tmp/m.db"})
    rec.run_started(RunInfo(run_id="r1", experiment="demo", pipeline="p"))
    rec.flush()
    rec.close()
"""

from __future__ import annotations

import collections
import importlib
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from workbench.tracking._base import BaseRecorder, ExperimentInfo, RunInfo, StepInfo
from workbench.tracking._common import logger

#: How long ``close`` waits for the child to finish after the last flush.
STOP_TIMEOUT = 60.0


class ProcessRecorder(BaseRecorder):
    """Sends every event to a recorder built in a child process.

    Args:
        factory: ``"module:callable"`` returning the recorder, called in the child.
        kwargs: keyword arguments for ``factory`` (picklable).
    """

    #: An :class:`AsyncRecorder` around this one does not flush after every batch: the child lets its
    #: recorder write what is due (``tick``) whenever it has caught up, so writes are coalesced.
    flush_after_batch = False

    def __init__(self, factory: str, kwargs: dict[str, Any] | None = None) -> None:
        self.factory = factory
        self.kwargs = dict(kwargs or {})
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        #: Events sent and not yet confirmed written by the child (sent again to a new child).
        self._unconfirmed: collections.deque[tuple[str, tuple[Any, ...]]] = collections.deque()
        self._lock = threading.Lock()
        self.restarts = 0
        self._start()

    # ------------------------------------------------------------------ child

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.tracking._process", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal stops the controller, which then closes us
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send((self.factory, self.kwargs))

    def _restart(self, why: BaseException) -> None:
        self.restarts += 1
        logger.warning(
            "tracking: the recorder process (%s) failed (%s: %s); starting a new one and sending %d events again",
            self.factory, type(why).__name__, why, len(self._unconfirmed),
        )  # fmt: skip
        self._stop_child()
        self._start()
        assert self._conn is not None
        for message in self._unconfirmed:
            self._conn.send(message)

    def _stop_child(self, wait: float = 0.5) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _receive(self, block: bool) -> Any:
        """Handle the child's confirmations; return the answer to a flush if one arrives (``block``: wait for it)."""
        assert self._conn is not None
        while block or self._conn.poll(0):
            kind, value = self._conn.recv()
            if kind == "written":  # the child wrote this many of the oldest events
                for _ in range(min(value, len(self._unconfirmed))):
                    self._unconfirmed.popleft()
            elif kind == "flushed":
                return value
        return None

    def _send(self, hook: str, *args: Any) -> None:
        with self._lock:
            message = (hook, args)
            self._unconfirmed.append(message)
            try:
                assert self._conn is not None
                self._receive(block=False)
                self._conn.send(message)
            except (OSError, EOFError, AssertionError) as err:
                self._restart(err)

    # ------------------------------------------------------------------ hooks

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        self._send("experiment_started", experiment)

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        self._send("experiment_finished", experiment)

    def run_started(self, run: RunInfo) -> None:
        self._send("run_started", run)

    def step_started(self, step: StepInfo) -> None:
        self._send("step_started", step)

    def step_finished(self, step: StepInfo) -> None:
        self._send("step_finished", step)

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        self._send("metric", run_id, step, name, value, index, timestamp)

    def run_finished(self, run: RunInfo) -> None:
        self._send("run_finished", run)

    def flush(self) -> bool:  # type: ignore[override]
        """Wait until the child wrote everything sent so far."""
        with self._lock:
            for _ in range(3):
                try:
                    assert self._conn is not None
                    self._conn.send(("__flush__", ()))
                    # No timeout: a store that is down keeps the child retrying (and this waiting);
                    # a child that dies makes recv raise EOFError at once.
                    written = bool(self._receive(block=True))
                except (OSError, EOFError, AssertionError) as err:
                    self._restart(err)
                    continue
                self._unconfirmed.clear()
                return written
            raise ConnectionError(f"the recorder process ({self.factory}) keeps failing")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                if self._conn is not None:
                    try:
                        self._conn.send(("__stop__", ()))
                        self._conn.poll(STOP_TIMEOUT)
                    except (OSError, EOFError):
                        pass
                self._stop_child(wait=10.0)


# ---------------------------------------------------------------------- the child


def _build(factory: str, kwargs: dict[str, Any]) -> BaseRecorder:
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)(**kwargs)


def _call(recorder: BaseRecorder, hook: str, args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """One hook on the real recorder (its result): a store that is down is retried with backoff until it is back."""
    from workbench.tracking._async import is_transient

    delay, tries = 0.5, 0
    while True:
        try:
            result = getattr(recorder, hook)(*args)
        except Exception as exc:
            tries += 1
            if is_transient(exc):
                logger.warning(
                    "tracking: %s is unreachable (%s: %s); retrying in %.0fs",
                    type(recorder).__name__, type(exc).__name__, str(exc)[:200], delay,
                )  # fmt: skip
                state["outage"] = True
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if tries < 3:
                time.sleep(0.2 * tries)
                continue
            state["errors"] += 1
            logger.warning("tracking: %s.%s failed: %s: %s", type(recorder).__name__, hook, type(exc).__name__, exc)
            return None
        if state.pop("outage", False):
            logger.warning("tracking: %s is back", type(recorder).__name__)
        return result


def serve(conn: Connection) -> None:
    """The child's loop: build the recorder, apply events in order, and whenever it has caught up let the
    recorder write what is due (``tick``).

    Once the recorder holds nothing back, it tells the parent how many events are written
    (``("written", n)``), so the parent can forget them; a recorder that holds data back (to
    write a run in fewer calls) is ticked again when that data is due, with no event needed.
    An explicit flush writes everything and is answered with ``("flushed", True)``.
    """
    factory, kwargs = conn.recv()
    recorder = _build(factory, kwargs)
    state: dict[str, Any] = {"errors": 0}
    unflushed = 0
    due: float | None = None  # seconds until the recorder's held-back data is due (None: nothing held)
    try:
        while True:
            try:
                if due is not None and not conn.poll(due):  # idle until the held-back data is due
                    due = _call(recorder, "tick", (), state)
                    if due is None:
                        conn.send(("written", unflushed))
                        unflushed = 0
                    continue
                hook, args = conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                return  # the parent is gone: write what was received (finally), then exit
            if hook == "__flush__":
                _call(recorder, "flush", (), state)
                conn.send(("written", unflushed))
                conn.send(("flushed", True))
                unflushed, due = 0, None
            elif hook == "__stop__":
                _call(recorder, "close", (), state)
                state["closed"] = True
                conn.send(("stopped", True))
                return
            else:
                _call(recorder, hook, args, state)
                unflushed += 1
                if not conn.poll(0):  # caught up: write what is due, then confirm it if nothing is held back
                    due = _call(recorder, "tick", (), state)
                    if due is None:
                        conn.send(("written", unflushed))
                        unflushed = 0
    finally:
        if not state.get("closed"):
            _call(recorder, "close", (), state)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m workbench.tracking._process FD", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    profile_dir = os.environ.get("WORKBENCH_PROFILE_WRITER")  # a folder: write a CPU profile of this child there
    if not profile_dir:
        serve(Connection(int(args[0])))
        return 0
    import cProfile

    profiler = cProfile.Profile(time.process_time)
    try:
        profiler.runcall(serve, Connection(int(args[0])))
    finally:
        profiler.dump_stats(os.path.join(profile_dir, f"writer-{os.getpid()}.prof"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
