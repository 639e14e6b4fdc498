"""A full or read-only artifact store during a sweep, and a full disk under the step logs.

The artifact folder of a real ``workbench run`` is a 2 MB tmpfs: trials whose step writes a bigger
output fail with ENOSPC named in their message with the path, the others succeed, and the
experiment goes on or stops as ``maxFailedTrialCount`` says. Remounted read-only, every step fails
with a clear message and the experiment stops.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from faults_helpers import Tmpfs, component_experiment, env, experiment, settings, start, trials, wait_for, write_spec

from workbench.search import _storage as st

WORKBENCH = Path(sys.executable).with_name("workbench")
TRIALS = 6

#: 3 MB of output when x > 0 (does not fit), 1 KB otherwise; a partial file is removed, as a careful step does.
STEP = """
import os, sys
x, out = float(sys.argv[1]), sys.argv[2]
print(f"loss={x * x}", flush=True)
try:
    with open(out, "w") as fh:
        fh.write("w" * (3_000_000 if x > 0 else 1000))
except OSError:
    if os.path.exists(out):
        os.remove(out)
    raise
"""


def _doc(name: str, failures: int) -> dict:
    command = ["python3", "-c", textwrap.dedent(STEP), {"inputValue": "x"}, {"outputPath": "model"}]
    # one at a time: a small output never meets a big one filling the disk
    return component_experiment(name, command, trials=TRIALS, parallel=1, failures=failures, seed=5)


def _run(tmp_path: Path, store: Path, name: str, failures: int) -> tuple[subprocess.CompletedProcess[str], list]:
    home = settings(tmp_path / "home", artifacts=str(store / "artifacts"))
    spec = write_spec(tmp_path / name, _doc(name, failures))
    done = subprocess.run(
        [str(WORKBENCH), "run", str(spec), "--home", str(home)],
        cwd=tmp_path, env=env(COLUMNS="400"), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    return done, trials(f"journal:///{home / 'optuna.journal'}", name)


@pytest.mark.slow
def test_full_artifact_store_fails_the_trials_that_overflow_and_the_experiment_goes_on(tmpfs: Tmpfs, tmp_path):
    done, found = _run(tmp_path, tmpfs.path, "disk-full", failures=TRIALS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(found) == TRIALS and all(t.state.is_finished() for t in found)
    big = [t for t in found if t.params["x"] > 0]
    small = [t for t in found if t.params["x"] <= 0]
    assert big and small, "the sampler should propose both kinds of trials"
    for t in big:
        message = t.user_attrs[st.T_MESSAGE]
        assert t.user_attrs[st.T_STATE] == "Failed", (t.number, t.user_attrs)
        assert "No space left on device" in message and "ENOSPC" in message, message
        assert str(tmpfs.path / "artifacts") in message, message
        assert f"trial {t.number}: Failed" in done.stdout  # shown to the user as it happened
    for t in small:
        assert t.user_attrs[st.T_STATE] == "Succeeded", (t.number, t.user_attrs)
    assert "state Succeeded" in done.stdout


@pytest.mark.slow
def test_artifact_store_turned_read_only_mid_sweep_fails_steps_clearly_and_stops_the_experiment(tmpfs: Tmpfs, tmp_path):
    name = "read-only"
    home = settings(tmp_path / "home", artifacts=str(tmpfs.path / "artifacts"))
    doc = experiment(name, trials=TRIALS, parallel=1, failures=1, size=100, sleep=0.1)
    spec = write_spec(tmp_path / name, doc)
    proc = start("run", str(spec), "--home", str(home), cwd=tmp_path, COLUMNS="400")
    storage = f"journal:///{home / 'optuna.journal'}"
    try:
        wait_for("a first trial", lambda: any(t.state.is_finished() for t in trials(storage, name)), proc=proc)
        tmpfs.read_only()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    assert "trials failed (maxFailedTrialCount 1)" in err, err[-3000:]
    found = trials(storage, name)
    states = [t.user_attrs.get(st.T_STATE) for t in found]
    assert states[0] == "Succeeded" and states.count("Failed") == 2 and len(found) < TRIALS, states
    for t in found:
        if t.user_attrs[st.T_STATE] == "Failed":
            message = t.user_attrs[st.T_MESSAGE]
            assert "Read-only file system" in message and str(tmpfs.path / "artifacts") in message, message
            assert f"trial {t.number}: Failed" in out


def test_read_only_artifact_store_at_the_start_is_a_clear_error_before_any_trial(tmpfs: Tmpfs, tmp_path):
    tmpfs.read_only()
    done, found = _run(tmp_path, tmpfs.path, "read-only-start", failures=1)
    assert done.returncode == 1
    assert done.stderr.startswith("error: [Errno 30] Read-only file system:"), done.stderr
    assert str(tmpfs.path / "artifacts") in done.stderr
    assert found == []
