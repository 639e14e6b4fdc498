"""Steps that print gigabytes, hang, ignore SIGTERM or fork children; a step log on a full disk.

A step's log keeps its head and a rolling tail (the end, where the error is) within
``MAX_LOG_BYTES``; the controller reads a step's output in bounded pieces, so its memory does not
grow with the output, not even with one giant line that never ends. Python-function steps are
forked by the fork server: a timeout kills them, their children and a SIGTERM they ignore.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from faults_helpers import Tmpfs, component_experiment, env, trials, write_spec

from workbench.backends import LocalBackend
from workbench.backends._forkserver import ForkedStep
from workbench.engine import PipelineRunner, RunContext
from workbench.engine import run as engine_run
from workbench.engine.run import _Log, log_parts, read_log_tail
from workbench.query import failure_detail
from workbench.readmodel._runs import read_log
from workbench.search import _storage as st
from workbench.spec import pipeline_from_dict
from workbench.testing.processes import processes_in
from workbench.workspace import Workspace

WORKBENCH = Path(sys.executable).with_name("workbench")
MB = 1024 * 1024


def _run(tmp_path: Path, doc: dict, **runner: object):
    pipeline = pipeline_from_dict({"name": "p", **doc}, tmp_path)
    ws = Workspace.at(tmp_path / "ws")
    result = PipelineRunner(LocalBackend(), ws, grace_period=0.5, **runner).run(  # type: ignore[arg-type]
        pipeline, {}, RunContext(experiment="e", run_id="run1")
    )
    return ws, result


def test_a_long_log_keeps_its_head_and_its_end_within_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine_run, "MAX_LOG_BYTES", 64 * 1024)
    path = tmp_path / "runs" / "r" / "train.log"
    log = _Log(path)
    lines = [f"line {i:06d} " + "x" * 88 for i in range(5000)]  # 100 bytes each: 500 KB, ~8x the cap
    for line in lines:
        log.write(line)
    log.write("RuntimeError: the error at the very end")
    log.close()
    parts = log_parts(path)
    assert parts == [path, path.with_name("train.log.2"), path.with_name("train.log.1")]
    assert sum(p.stat().st_size for p in parts) <= 64 * 1024 + 200  # + the note where the head ends
    head = path.read_text().splitlines()
    assert head[:3] == lines[:3]  # how the step started
    assert head[-1].startswith("[workbench] log over 0.03125 MB: it goes on in train.log.1")
    whole = "".join(p.read_text() for p in parts).splitlines()
    assert whole[-1] == "RuntimeError: the error at the very end"
    kept = [int(x.split()[1]) for x in whole if x.startswith("line ")]
    assert kept == sorted(kept) and kept[-1] == 4999  # in order, up to the last line
    assert log.dropped > 0 and len(kept) < len(lines)
    # Readers show the end: the dashboard's log view and `workbench runs logs` (the parts in order).
    text, skipped = read_log_tail(path, 1000)
    assert text.endswith("RuntimeError: the error at the very end\n") and skipped > 0
    assert read_log(path, 1000).startswith(f"... (first {skipped:,} bytes not shown)")


def test_the_failure_detail_of_a_rotated_log_comes_from_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine_run, "MAX_LOG_BYTES", 64 * 1024)
    code = "import sys\nfor i in range(20000): print('chatter', i)\nsys.exit('ValueError: bad data in row 19999')"
    doc = {"steps": [{"name": "noisy", "component": {"name": "n", "implementation": {
        "container": {"command": [sys.executable, "-c", code]}}}}]}  # fmt: skip
    ws, result = _run(tmp_path, doc)
    step = result.steps["noisy"]
    assert step.state == "Failed" and "bad data in row 19999" in step.message
    assert len(log_parts(step.log_path)) == 3
    detail, where = failure_detail(ws, "run1")
    assert detail == "ValueError: bad data in row 19999" and where == Path(step.log_path)


def test_a_log_on_a_full_disk_does_not_stop_the_step(tmpfs: Tmpfs, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    filler = tmpfs.path / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # fills it (ENOSPC)
    code = "import sys\nfor i in range(30000): print('x' * 100)\nprint('loss=0.25')"
    component = {"name": "c", "implementation": {"container": {"command": [sys.executable, "-c", code]}}}
    pipeline = pipeline_from_dict({"name": "p", "steps": [{"name": "chatty", "component": component}]}, tmp_path)
    ws = dataclasses.replace(Workspace.at(tmp_path / "ws"), home=tmpfs.path)  # step logs (runs/) on the full disk
    result = PipelineRunner(LocalBackend(), ws, metric_names=["loss"]).run(pipeline, {}, RunContext("e", "run1"))
    assert result.state == "Succeeded"  # the pipe was drained to the end: the step was not blocked
    assert result.collector.final("loss", "latest") == 0.25  # and its metrics were still collected
    assert "cannot be written" in caplog.text and "No space left on device" in caplog.text


STEPS = '''
import os, signal, subprocess, sys, time

def stubborn(pidfile: str) -> None:
    """Ignores SIGTERM, forks a child that ignores it too, then prints a giant line with no end and hangs."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
    with open(pidfile, "w") as fh:
        fh.write(f"{os.getpid()} {child.pid}")
    chunk = b"z" * (1 << 20)
    for _ in range(64):
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    time.sleep(120)

def leaves_a_child(pidfile: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(pidfile, "w") as fh:
        fh.write(str(child.pid))
    print("loss=1.5")
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(*pids: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records the handles LocalBackend starts (to check that Python steps were forked)."""
    handles: list[object] = []
    original = LocalBackend.start

    def start(self, launch):  # type: ignore[no-untyped-def]
        handle = original(self, launch)
        handles.append(handle)
        return handle

    monkeypatch.setattr(LocalBackend, "start", start)
    return handles


def test_a_forked_step_that_hangs_ignores_sigterm_and_forks_is_killed_with_its_children(tmp_path: Path, forked):
    (tmp_path / "steps.py").write_text(textwrap.dedent(STEPS))
    pidfile = tmp_path / "pids"
    doc = {"steps": [{"name": "hang", "component": "steps.py:stubborn", "timeout": "3s",
                      "arguments": {"pidfile": str(pidfile)}}]}  # fmt: skip
    ws, result = _run(tmp_path, doc)
    assert [type(h) for h in forked] == [ForkedStep]
    step = result.steps["hang"]
    assert step.state == "Failed" and step.message == "timed out after 3s"
    step_pid, child_pid = map(int, pidfile.read_text().split())
    assert _gone(step_pid, child_pid), "the step or its child survived the timeout"
    # The 64 MB line with no newline reached the log in pieces (the tail keeps the end).
    text, _ = read_log_tail(step.log_path, 4 * MB)
    assert text.rstrip().endswith("[workbench] step hang failed: timed out after 3s")


def test_a_forked_step_that_exits_takes_the_children_it_left_along(tmp_path: Path, forked):
    (tmp_path / "steps.py").write_text(textwrap.dedent(STEPS))
    pidfile = tmp_path / "pid"
    doc = {"steps": [{"name": "leave", "component": "steps.py:leaves_a_child",
                      "arguments": {"pidfile": str(pidfile)}}]}  # fmt: skip
    _, result = _run(tmp_path, doc, metric_names=["loss"])
    assert [type(h) for h in forked] == [ForkedStep]
    assert result.state == "Succeeded" and result.collector.final("loss", "latest") == 1.5
    assert _gone(int(pidfile.read_text())), "a child of a finished step was left running"


GIGABYTE_STEP = """
import sys
out = sys.stdout.buffer
out.write(b"loss=0.75\\n")
line = b"y" * (64 * 1024 - 1) + b"\\n"
for _ in range(8 * 1024):                    # 512 MB in 64 KB lines
    out.write(line)
chunk = b"n" * (1 << 20)
for _ in range(512):                          # 512 MB in one line that has no end
    out.write(chunk)
out.write(b"\\nRuntimeError: disk quota of the data lake exceeded\\n")
out.flush()
sys.exit(3)
"""


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_a_step_printing_a_gigabyte_keeps_controller_memory_and_log_bounded(tmp_path: Path) -> None:
    name = "chatty"
    command = ["python3", "-c", textwrap.dedent(GIGABYTE_STEP), {"inputValue": "x"}]
    doc = component_experiment(name, command, trials=1, parallel=1, failures=0, outputs=())
    spec = write_spec(tmp_path, doc)
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [str(WORKBENCH), "run", str(spec), "--home", str(home), "--quiet"],
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            try:
                samples.append(_rss_kb(proc.pid))
            except (OSError, StopIteration):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    # The baseline: the controller once the step is running (its imports done).
    deadline = time.monotonic() + 120
    while not list((home / "runs").glob("*/*.log")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    baseline = _rss_kb(proc.pid) if proc.poll() is None else 0
    _, err = proc.communicate(timeout=240)
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    assert proc.returncode == 1, err[-3000:]  # the experiment failed (maxFailedTrialCount 0)
    (trial,) = trials(f"journal:///{home / 'optuna.journal'}", name)
    assert trial.user_attrs[st.T_STATE] == "Failed"
    # The error at the end of a gigabyte of output is what the trial's message and the log show.
    assert "exited with code 3: RuntimeError: disk quota of the data lake exceeded" in trial.user_attrs[st.T_MESSAGE]
    (log,) = (home / "runs").glob("*/*.log")
    parts = log_parts(log)
    on_disk = sum(p.stat().st_size for p in parts)
    assert len(parts) == 3 and on_disk <= engine_run.MAX_LOG_BYTES + 4096
    assert log.read_bytes().startswith(b"loss=0.75\n")
    assert "RuntimeError: disk quota of the data lake exceeded" in read_log_tail(log, 4096)[0]
    growth_mb = (max(samples) - baseline) / 1024
    assert baseline and growth_mb < 100, f"the controller grew by {growth_mb:.0f} MB while the step printed 1 GB"
    assert not processes_in(tmp_path)
    print(f"1 GB of output: {elapsed:.1f}s, controller RSS {baseline // 1024} MB -> peak {max(samples) // 1024} MB,"
          f" log on disk {on_disk / MB:.1f} MB in {len(parts)} files")  # fmt: skip


def test_the_default_metrics_format_finds_the_same_values_as_katibs_regex() -> None:
    """It is anchored at the start of a name (linear on a long word with no ``=``: the gigabyte test prints
    64 KB words) and finds exactly what Katib's unanchored regex finds."""
    import re

    from workbench.engine.collector import MetricsCollector
    from workbench.spec import DEFAULT_METRICS_FORMAT

    lines = [
        "epoch 1: loss=0.5 other=3 acc = 2e-3", "x-loss=3", "loss=1,acc=2", "|loss=4 |acc|=5", "a=b=1",
        "val_loss = -0.25e+2 loss=nan", "loss==1", "loss=.5 acc=7.", "ünï=1 loss=2", "=3 loss=", "y" * 5000 + "=1",
    ]  # fmt: skip
    katib = re.compile(DEFAULT_METRICS_FORMAT)
    for line in lines:
        expected = []
        for m in katib.finditer(line):
            try:
                expected.append((m.group(1).strip(), float(m.group(2))))
            except ValueError:
                continue
        names = {n for n, _ in expected} | {"loss", "acc"}
        found: list[tuple[str, float]] = []
        collector = MetricsCollector(names, on_metric=lambda n, v, i, o, found=found: found.append((n, v)))
        collector.feed(line)
        assert found == [(n, v) for n, v in expected if v == v], line  # NaN is not a value
