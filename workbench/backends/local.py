"""The local backend: one process per step, in its own process group.

A command step's standard output is a pipe, which C stdio (and so most programs) would
block-buffer: a step printing a line a second would show nothing until it ended. Where
coreutils' ``stdbuf`` is on the step's ``PATH``, command steps run under ``stdbuf -oL``
(line-buffered standard output, for the program and the processes it starts). Python runs
unbuffered (``PYTHONUNBUFFERED=1``, and the fork server's children write through).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from workbench.backends import _forkserver
from workbench.backends._base import MAX_LINE_BYTES, BaseBackend, StepHandle, StepLaunch, StepLaunchError

#: ``python``/``python3`` in a command run locally means the interpreter running Workbench.
_PYTHON_NAMES = {"python", "python3", f"python3.{sys.version_info.minor}"}


def local_argv(argv: list[str]) -> list[str]:
    """The argv to run locally: ``python3`` maps to the current interpreter (its packages)."""
    if argv and argv[0] in _PYTHON_NAMES:
        return [sys.executable, *argv[1:]]
    return list(argv)


class LocalProcess(StepHandle):
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def lines(self) -> Iterator[str]:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        for raw in iter(lambda: stdout.readline(MAX_LINE_BYTES), b""):
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
        self.proc.stdout.close()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reap_group()
        return code

    def _signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def _reap_group(self) -> None:
        """The main process ended: kill whatever it left behind in its group (no orphans)."""
        self._signal_group(signal.SIGKILL)

    def cancel(self, grace: float = 5.0) -> None:
        with self._lock:
            if self._cancelled.is_set():
                return
            self._cancelled.set()
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process in uninterruptible sleep
            pass


class LocalBackend(BaseBackend):
    """Runs each step as a local process (no shell: arguments reach it literally).

    Python-function steps are forked from a pre-started interpreter
    (:mod:`workbench.runtime.forkserver`) when ``fork`` is true (the default, unless
    ``WORKBENCH_FORKSERVER=0``): still one process per step, in its own session, but
    without paying for a new interpreter and its imports each time.
    """

    name = "local"

    def __init__(self, fork: bool | None = None) -> None:
        self.fork = _forkserver.enabled() if fork is None else fork

    def _resolve(self, launch: StepLaunch) -> list[str]:
        argv = local_argv(launch.argv)
        if not argv:
            raise StepLaunchError(f"step {launch.name}: empty command")
        for index, arg in enumerate(argv):
            problem = "a NUL byte" if "\x00" in arg else "" if _encodable(arg) else "a lone surrogate (not text)"
            if problem:
                raise StepLaunchError(f"step {launch.name}: argument {index} holds {problem}, which no argv can carry")
        exe = argv[0]
        if os.sep in exe:
            path = Path(exe) if os.path.isabs(exe) else Path(launch.workdir) / exe
            if not path.exists():
                raise StepLaunchError(f"step {launch.name}: command {exe!r} not found (looked in {launch.workdir})")
            if path.is_file() and not os.access(path, os.X_OK):
                raise StepLaunchError(f"step {launch.name}: command {exe!r} is not executable")
        elif shutil.which(exe, path=launch.env.get("PATH")) is None:
            raise StepLaunchError(f"step {launch.name}: command {exe!r} not found on PATH")
        return argv

    def preflight(self, launch: StepLaunch) -> None:
        self._resolve(launch)

    def start(self, launch: StepLaunch) -> StepHandle:
        argv = self._resolve(launch)
        Path(launch.workdir).mkdir(parents=True, exist_ok=True)
        if self.fork and _forkserver.eligible(argv, launch.env):
            server = _forkserver.server()
            handle = server.spawn(launch) if server is not None else None
            if handle is not None:
                return handle
        try:
            proc = subprocess.Popen(
                line_buffered(argv, launch.env),
                cwd=launch.workdir,
                env=launch.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            raise StepLaunchError(f"step {launch.name}: command {argv[0]!r} not found") from None
        except PermissionError:
            raise StepLaunchError(f"step {launch.name}: command {argv[0]!r} is not executable") from None
        return LocalProcess(proc)


def line_buffered(argv: list[str], env: dict[str, str]) -> list[str]:
    """``argv`` under ``stdbuf -oL`` when the step's ``PATH`` has it, else ``argv`` unchanged."""
    stdbuf = _stdbuf(env.get("PATH"))
    return [stdbuf, "-oL", *argv] if stdbuf else argv


@functools.lru_cache(maxsize=16)
def _stdbuf(path: str | None) -> str | None:
    return shutil.which("stdbuf", path=path)


def _encodable(arg: str) -> bool:
    try:
        os.fsencode(arg)
    except UnicodeError:
        return False
    return True
