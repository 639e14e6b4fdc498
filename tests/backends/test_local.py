"""The local backend: real processes, process groups, cancellation, no orphans."""

from __future__ import annotations

import os
import sys
import time

import pytest

from workbench.backends import LocalBackend, StepLaunch, StepLaunchError


def launch(argv: list[str], tmp_path, **env: str) -> StepLaunch:
    return StepLaunch(argv=argv, env={**os.environ, **env}, workdir=str(tmp_path), name="t")


def test_streams_output_and_exit_code(tmp_path):
    handle = LocalBackend().start(
        launch([sys.executable, "-c", "print('a'); print('b'); raise SystemExit(3)"], tmp_path)
    )
    assert list(handle.lines()) == ["a", "b"]
    assert handle.wait() == 3


def test_arguments_reach_the_process_literally(tmp_path):
    hostile = ["$(rm -rf /)", "; ls", "`id`", "a b", "'quoted'"]
    handle = LocalBackend().start(launch([sys.executable, "-c", "import sys; print(sys.argv[1:])", *hostile], tmp_path))
    assert list(handle.lines()) == [repr(hostile)]
    assert handle.wait() == 0


def test_python3_maps_to_current_interpreter(tmp_path):
    handle = LocalBackend().start(launch(["python3", "-c", "import sys; print(sys.executable)"], tmp_path))
    assert list(handle.lines()) == [sys.executable]


def test_missing_command_is_a_clear_error(tmp_path):
    with pytest.raises(StepLaunchError, match="command 'no-such-cmd-xyz' not found"):
        LocalBackend().start(launch(["no-such-cmd-xyz"], tmp_path))
    with pytest.raises(StepLaunchError, match="not found"):
        LocalBackend().preflight(launch(["./missing.sh"], tmp_path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_cancel_kills_the_whole_process_group_even_if_sigterm_is_ignored(tmp_path):
    code = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    handle = LocalBackend().start(launch([sys.executable, "-c", code], tmp_path))
    lines = handle.lines()
    child_pid = int(next(lines))
    assert _alive(child_pid)
    started = time.monotonic()
    handle.cancel(grace=0.5)
    assert handle.wait(timeout=5) is not None
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), "the forked child survived the cancel"


def test_children_left_behind_are_reaped_when_the_step_ends(tmp_path):
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
    )
    handle = LocalBackend().start(launch([sys.executable, "-c", code], tmp_path))
    child_pid = int(next(handle.lines()))
    assert handle.wait(timeout=10) == 0
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
