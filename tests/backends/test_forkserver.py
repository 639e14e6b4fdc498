"""The fork server behind the local backend: Python-function steps forked, still isolated processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.backends import LocalBackend, StepLaunch, _forkserver
from workbench.backends._forkserver import ForkedStep
from workbench.backends.local import LocalProcess

STEPS = '''
import os, random, signal, subprocess, sys, time

def hello(name: str, out: str) -> None:
    print(f"hello {name} from {os.getcwd()} env={os.environ.get('STEP_VAR')}")
    print(os.getpid() == os.getpgid(0), os.getppid() != int(os.environ["CONTROLLER_PID"]))
    with open(out, "w") as fh:
        fh.write(str(random.random()))

def fail() -> None:
    print("about to fail")
    raise ValueError("boom in the step")

def leave(code: int) -> None:
    sys.exit(code)

def stubborn(pidfile: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(pidfile, "w") as fh:
        fh.write(str(child.pid))
    print("ready", flush=True)
    time.sleep(60)
'''


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    path = tmp_path / "steps.py"
    path.write_text(textwrap.dedent(STEPS))
    return path


def launch(steps: Path, function: str, workdir: Path, params: dict | None = None, **env: str) -> StepLaunch:
    spec = {"file": str(steps), "function": function, "params": params or {}, "artifacts": {}, "outputs": {}}
    return StepLaunch(
        argv=[sys.executable, "-m", "workbench.runtime.launch", json.dumps(spec)],
        env={**os.environ, "CONTROLLER_PID": str(os.getpid()), **env},
        workdir=str(workdir),
        name=function,
    )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_python_step_is_forked_with_its_own_env_cwd_session_and_output(steps, tmp_path):
    out = tmp_path / "out.txt"
    work = tmp_path / "work"
    handle = LocalBackend(fork=True).start(
        launch(steps, "hello", work, {"name": "ada", "out": str(out)}, STEP_VAR="x1")
    )
    assert isinstance(handle, ForkedStep)
    lines = list(handle.lines())
    assert handle.wait() == 0
    assert lines == [f"hello ada from {work} env=x1", "True True"]
    assert out.read_text()


def test_forked_steps_do_not_share_random_state(steps, tmp_path):
    values = []
    for i in range(2):
        out = tmp_path / f"r{i}.txt"
        handle = LocalBackend(fork=True).start(launch(steps, "hello", tmp_path, {"name": "x", "out": str(out)}))
        list(handle.lines())
        assert handle.wait() == 0
        values.append(out.read_text())
    assert values[0] != values[1]


def test_failures_and_exit_codes_reach_the_engine(steps, tmp_path):
    backend = LocalBackend(fork=True)
    handle = backend.start(launch(steps, "fail", tmp_path))
    lines = list(handle.lines())
    assert handle.wait() == 1
    assert lines[0] == "about to fail"
    assert lines[-1] == "ValueError: boom in the step"
    handle = backend.start(launch(steps, "leave", tmp_path, {"code": 3}))
    list(handle.lines())
    assert handle.wait() == 3


def test_cancel_kills_the_forked_step_and_its_children(steps, tmp_path):
    pidfile = tmp_path / "child.pid"
    handle = LocalBackend(fork=True).start(launch(steps, "stubborn", tmp_path, {"pidfile": str(pidfile)}))
    lines = handle.lines()
    assert next(lines) == "ready"
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    handle.cancel(grace=0.5)  # SIGTERM is ignored: killed after the grace period, with its group
    assert handle.wait(timeout=5) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_an_environment_that_changes_python_startup_is_not_forked(steps, tmp_path):
    out = tmp_path / "out.txt"
    handle = LocalBackend(fork=True).start(
        launch(steps, "hello", tmp_path, {"name": "b", "out": str(out)}, PYTHONPATH=str(tmp_path))
    )
    assert isinstance(handle, LocalProcess)
    list(handle.lines())
    assert handle.wait() == 0


def test_fork_can_be_switched_off(steps, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FORKSERVER", "0")
    handle = LocalBackend().start(launch(steps, "leave", tmp_path, {"code": 0}))
    assert isinstance(handle, LocalProcess)
    assert handle.wait() == 0


def test_a_dead_server_fails_its_running_steps_and_is_restarted(steps, tmp_path):
    backend = LocalBackend(fork=True)
    pidfile = tmp_path / "child.pid"
    handle = backend.start(launch(steps, "stubborn", tmp_path, {"pidfile": str(pidfile)}))
    lines = handle.lines()
    assert next(lines) == "ready"
    server = _forkserver.server()
    assert server is not None
    server.proc.kill()
    assert handle.wait(timeout=10) == -signal.SIGKILL  # reported killed: the engine fails or retries it
    handle.cancel(grace=0.1)  # and its process group is gone
    again = backend.start(launch(steps, "leave", tmp_path, {"code": 0}))
    assert isinstance(again, ForkedStep)
    assert again.wait(timeout=10) == 0
    assert _forkserver.server() is not server


def test_steps_die_with_the_controller(steps, tmp_path):
    """A controller that dies (here: its end of the socket closed) takes its forked steps along, children too."""
    server = _forkserver.ForkServer()
    pidfile = tmp_path / "child.pid"
    handle = server.spawn(launch(steps, "stubborn", tmp_path, {"pidfile": str(pidfile)}))
    assert handle is not None
    lines = handle.lines()
    assert next(lines) == "ready"
    grandchild = int(pidfile.read_text())
    server._sock.shutdown(socket.SHUT_RDWR)  # what the kernel does when the controller is SIGKILLed
    assert server.proc.wait(timeout=15) == 0
    deadline = time.monotonic() + 10
    while (_alive(handle.pid) or _alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(handle.pid) and not _alive(grandchild)
