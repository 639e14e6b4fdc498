"""The local backend's client of :mod:`workbench.runtime.forkserver`.

One server per controller process (started on the first Python-function step, stopped at
exit) forks every Python-function step instead of starting a new interpreter for it. A
step that the server cannot take — a command component, an environment that changes how
Python starts (``PYTHONPATH``, ``PYTHONHOME``, ...), or a server that died — is started the
ordinary way, so the fork server only ever saves time.

``WORKBENCH_FORKSERVER=0`` turns it off.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

from workbench.backends._base import MAX_LINE_BYTES, StepHandle, StepLaunch

#: Environment variables that the server's interpreter has already applied at its start.
_STARTUP_VARS = frozenset({"PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE"})


def enabled() -> bool:
    return os.environ.get("WORKBENCH_FORKSERVER", "1").lower() not in ("0", "false", "no", "off")


def _python_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k not in _STARTUP_VARS}


def eligible(argv: list[str], env: dict[str, str]) -> bool:
    """Whether a step can be forked: the launcher of this interpreter, started as the server was."""
    return (
        len(argv) == 4
        and argv[0] == sys.executable
        and argv[1:3] == ["-m", "workbench.runtime.launch"]
        and _python_env(env) == _python_env(dict(os.environ))
    )


class ForkedStep(StepHandle):
    """A step process forked by the server (not a child of this process: the server reaps it)."""

    def __init__(self, server: ForkServer, pid: int, log: int) -> None:
        self.server = server
        self.pid = pid
        self._log = log
        self._exited = threading.Event()
        self._code: int | None = None
        self._cancelled = threading.Event()

    def _set_exit(self, code: int) -> None:
        self._code = code
        self._exited.set()

    def lines(self) -> Iterator[str]:
        with open(self._log, "rb", closefd=True) as pipe:
            for raw in iter(lambda: pipe.readline(MAX_LINE_BYTES), b""):
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._exited.wait(timeout):
            return None
        self._signal_group(signal.SIGKILL)  # whatever the step left behind in its group
        return self._code

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            # Not yet (or no longer) a group leader: signal the process itself while it exists.
            if not self._exited.is_set():
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
        except PermissionError:
            pass

    def cancel(self, grace: float = 5.0) -> None:
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        if not self._exited.is_set():
            self._signal_group(signal.SIGTERM)
            self._exited.wait(grace)
        self._signal_group(signal.SIGKILL)
        self._exited.wait(5.0)


class ForkServer:
    """A running fork server and the thread that reads its replies."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.runtime.forkserver", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        theirs.close()
        self._lock = threading.Lock()
        self._next_id = 0
        #: request id -> (event, [reply])
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, object]]]] = {}
        #: pid -> handle, for the exit messages
        self._steps: dict[int, ForkedStep] = {}
        #: exit codes that arrived before their handle was registered
        self._early_exits: dict[int, int] = {}
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="workbench-forkserver", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            with self._lock:
                if message["op"] == "exit":
                    step = self._steps.pop(int(message["pid"]), None)
                    if step is None:
                        self._early_exits[int(message["pid"])] = int(message["code"])
                    else:
                        step._set_exit(int(message["code"]))
                else:
                    waiter = self._waiting.pop(int(message["id"]), None)
                    if waiter is not None:
                        waiter[1].append(message)
                        waiter[0].set()
        # The server is gone: every step it forked is reported killed, every request answered.
        with self._lock:
            self.alive = False
            steps, self._steps = self._steps, {}
            waiting, self._waiting = self._waiting, {}
        for step in steps.values():
            step._set_exit(-signal.SIGKILL)
        for event, reply in waiting.values():
            reply.append({"op": "error", "message": "the fork server exited"})
            event.set()

    def spawn(self, launch: StepLaunch) -> ForkedStep | None:
        """Fork a step; ``None`` if the server cannot (the caller starts it the ordinary way)."""
        read_fd, write_fd = os.pipe()
        event, reply = threading.Event(), []
        with self._lock:
            if not self.alive:
                os.close(read_fd)
                os.close(write_fd)
                return None
            self._next_id += 1
            request_id = self._next_id
            self._waiting[request_id] = (event, reply)
        request = {"op": "spawn", "id": request_id, "argv": launch.argv, "env": launch.env, "cwd": launch.workdir}
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], [write_fd])
        except OSError:
            with self._lock:
                self._waiting.pop(request_id, None)
            os.close(read_fd)
            return None
        finally:
            os.close(write_fd)
        if not event.wait(30.0) or reply[0].get("op") != "started":
            os.close(read_fd)
            return None
        pid = int(reply[0]["pid"])  # type: ignore[arg-type]
        step = ForkedStep(self, pid, read_fd)
        with self._lock:
            code = self._early_exits.pop(pid, None)
            if code is None:
                self._steps[pid] = step
        if code is not None:
            step._set_exit(code)
        return step

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a server stuck in a fork
            self.proc.kill()


_server: ForkServer | None = None
_server_lock = threading.Lock()


def server() -> ForkServer | None:
    """The process's fork server, started (or restarted) on demand; ``None`` if it cannot start."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive:
            if _server is not None:
                _server.close()
            try:
                _server = ForkServer()
            except OSError:
                _server = None
            else:
                atexit.register(_server.close)
        return _server
