"""Crash and resume under torture: a real ``workbench run`` SIGKILLed at many moments, then ``workbench resume``.

Every kill point runs its own experiment in its own workspace (four at a time): the controller is
started as a process and killed with SIGKILL (its whole process group) at a moment chosen by
time since start (imports, store setup, the first trials) or by progress (after k finished trials,
plus a delay: steps running, a step just ended, tracking writes queued). Then ``workbench resume``
must finish the experiment, and:

* exactly ``maxTrialCount`` trials are finished, all Succeeded, no parameter set finished twice;
* every trial the crash cut short is Killed and ran again at most once, with the same parameters;
* no process of the experiment is left (steps, the fork server, MLflow writers: by working folder);
* every MLflow run is in a terminal state with the trial's state, and ML Metadata's run contexts
  agree with Optuna's trial states.

A third of the experiments run a Python-function component (forked by the fork server), a third
a command (a new process per step), and a third a pipeline step that fails on its first attempt
and is retried after a backoff (so kills land in retry backoffs too). ``make test`` runs 4 kill
points (its time budget on two cores); the full torture, 20 kill points, is marked ``heavy`` and
run by ``make test-heavy`` in CI (``WORKBENCH_KILL_POINTS`` changes its count; its figures are in
docs/reliability.md). The summary (how many survived) is written to
``tests/_output/crash_torture*.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from search_helpers import slow_script

from workbench.search import _storage as st
from workbench.search.controller import FINISHED, trial_state
from workbench.testing.processes import processes_in
from workbench.workspace import Workspace

WORKBENCH = Path(sys.executable).with_name("workbench")
OUTPUT = Path(__file__).resolve().parents[1] / "_output"
HEAVY_KILL_POINTS = int(os.environ.get("WORKBENCH_KILL_POINTS", "20"))
TRIALS = 5
STEP = '''
import time

def quadratic(x: float, y: float) -> None:
    bowl = (x - 2) ** 2 + (y + 1) ** 2
    for epoch in range(1, 4):
        time.sleep(0.15)
        print(f"loss={bowl + (1 + bowl) * 0.5 ** epoch}", flush=True)
'''


def _doc(name: str, kind: str, folder: Path, marker: str) -> dict[str, Any]:
    params = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}},
        {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}},
    ]
    inputs = [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}]
    if kind == "python":
        (folder / "steps.py").write_text(textwrap.dedent(STEP))
        impl: dict[str, Any] = {"python": {"file": "steps.py", "function": "quadratic"}}
    else:
        script = textwrap.dedent(slow_script(marker, epochs=3, seconds=0.15))
        if kind == "retry":
            script = FLAKY.format(folder=str(folder)) + script
        impl = {"container": {"command": ["python3", "-c", script, {"inputValue": "x"}, {"inputValue": "y"}]}}
    component = {"name": "step", "inputs": inputs, "implementation": impl}
    if kind == "retry":
        template: dict[str, Any] = {
            "pipeline": {
                "name": "flaky",
                "parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
                "steps": [{
                    "name": "train",
                    "component": component,
                    "arguments": {"x": "{{params.x}}", "y": "{{params.y}}"},
                    "retry": {"limit": 2, "backoff": "0.4s"},
                }],
            }
        }  # fmt: skip
    else:
        template = {"component": component}
    return {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
            "parallelTrialCount": 2,
            "maxTrialCount": TRIALS,
            "parameters": params,
            "trialTemplate": template,
        },
    }


#: Fails the first attempt of each parameter set (a file in the experiment's folder remembers it).
FLAKY = """
import pathlib, sys
seen = pathlib.Path({folder!r}) / ("attempted-" + sys.argv[1] + "-" + sys.argv[2])
if not seen.exists():
    seen.touch()
    sys.exit("flaky: first attempt fails")
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}


def _finished(storage: Any, name: str) -> int:
    if not st.study_exists(storage, name):
        return -1
    trials = storage.get_all_trials(storage.get_study_id_from_name(name))
    return sum(1 for t in trials if t.state.is_finished())


def _kill_point(index: int, points: int, folder: Path, blank: Path) -> dict[str, Any]:
    """One experiment killed at kill point ``index`` of ``points``; returns what happened and any broken promise."""
    kind = ("python", "command", "retry")[index % 3]
    # Kill points: by time since start for the first quarter, then after k finished trials plus a delay.
    if index < points // 4:
        trigger: tuple[str, float, float] = ("time", 0.4 + 0.9 * index, 0.0)
    else:
        k = index % TRIALS
        trigger = ("trials", float(k), (0.0, 0.08, 0.2, 0.35)[index % 4])
    name = f"torture-{index}"
    marker = f"wbtorture-{uuid.uuid4().hex}"
    home = folder / "home"
    shutil.copytree(blank, home)
    spec_file = folder / "experiment.yaml"
    spec_file.write_text(yaml.safe_dump(_doc(name, kind, folder, marker)))
    report: dict[str, Any] = {"kill_point": index, "step": kind, "trigger": trigger, "problems": []}
    problems: list[str] = report["problems"]
    ws = Workspace.at(home)
    proc = subprocess.Popen(
        [str(WORKBENCH), "run", str(spec_file), "--home", str(home), "--quiet"],
        cwd=folder, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    started = time.monotonic()
    try:
        if trigger[0] == "time":
            time.sleep(trigger[1])
        else:
            storage = st.open_storage(ws.optuna_url)
            deadline = started + 90
            while _finished(storage, name) < trigger[1] and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            time.sleep(trigger[2])
    finally:
        ended_before_kill = proc.poll() is not None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    report["killed_after_s"] = round(time.monotonic() - started, 2)
    if kind == "retry":
        # A first attempt failed less than the backoff (0.4 s) before the kill: its retry was waiting.
        killed_at = time.time()
        report["killed_in_backoff"] = sum(killed_at - f.stat().st_mtime < 0.4 for f in folder.glob("attempted-*"))
    report["ended_before_kill"] = ended_before_kill

    resumed = subprocess.run(
        [str(WORKBENCH), "resume", name, "--home", str(home), "--quiet"]
        if (home / "optuna.journal").exists() and _finished(st.open_storage(ws.optuna_url), name) >= 0
        else [str(WORKBENCH), "run", str(spec_file), "--home", str(home), "--quiet"],
        cwd=folder, env=_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if resumed.returncode != 0:
        problems.append(f"resume exited {resumed.returncode}: {resumed.stderr[-500:]}")
        return report

    study = optuna.load_study(study_name=name, storage=st.open_storage(ws.optuna_url))
    trials = study.get_trials()
    done = [t for t in trials if trial_state(t) in FINISHED]
    report["killed_trials"] = sum(trial_state(t) == "Killed" for t in trials)
    if study.user_attrs.get(st.ATTR_STATE) != "Succeeded":
        problems.append(f"experiment state {study.user_attrs.get(st.ATTR_STATE)}")
    if len(done) != TRIALS or any(trial_state(t) != "Succeeded" for t in done):
        problems.append(f"finished trials: {[(t.number, trial_state(t)) for t in done]}")
    params = [tuple(sorted(t.params.items())) for t in done]
    if len(set(params)) != len(params):
        problems.append("a parameter set finished twice")
    if any(t.state == TrialState.RUNNING or trial_state(t) in ("Running", "Pending") for t in trials):
        problems.append("trials left Running or Pending")
    for t in trials:
        if trial_state(t) == "Killed" and set(t.params) == {"x", "y"}:
            again = [r for r in trials if r.user_attrs.get(st.T_REQUEUED_FROM) == t.number]
            if len(again) > 1 or any(r.params != t.params for r in again):
                problems.append(f"trial {t.number} ran again {len(again)} times")

    # No process of this experiment is left (steps, fork server, MLflow writers finish their queue first).
    deadline = time.monotonic() + 30
    while processes_in(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    if processes_in(folder):
        problems.append(f"processes left: {processes_in(folder)}")

    # MLflow: every run terminal, trial runs carry the trial's state.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ws.mlflow_uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
    if any(r.info.status == "RUNNING" for r in runs):
        problems.append(f"MLflow runs left RUNNING: {[r.info.run_name for r in runs if r.info.status == 'RUNNING']}")
    by_run = {r.data.tags.get("workbench.run_id"): r for r in runs if "workbench.step" not in r.data.tags}
    # ML Metadata: each trial's run context has the trial's state.
    from workbench.tracking import lineage_of_run

    for t in trials:
        run_id = t.user_attrs.get(st.T_RUN_ID)
        if run_id is None:
            continue  # killed between Optuna's ask and the start of its run: nothing was recorded
        run = by_run.get(run_id)
        if run is None or run.data.tags.get("workbench.state") != trial_state(t):
            problems.append(f"MLflow run of trial {t.number}: {run and run.data.tags.get('workbench.state')}")
        context = lineage_of_run(ws.mlmd_url, run_id)["context"]
        if context is None or context["state"] != trial_state(t):
            problems.append(f"ML Metadata context of trial {t.number}: {context and context['state']}")
    return report


def _torture(points: int, blank_home: Path, tmp_path: Path, summary_name: str) -> None:
    folders = [tmp_path / f"kill-{i}" for i in range(points)]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda i: _kill_point(i, points, folders[i], blank_home), range(points)))
    survived = [r for r in reports if not r["problems"]]
    summary = {
        "kill_points": points,
        "survived": len(survived),
        "trials_killed_and_rerun": sum(r.get("killed_trials", 0) for r in reports),
        "killed_in_retry_backoff": sum(r.get("killed_in_backoff", 0) > 0 for r in reports),
        "reports": reports,
    }
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / summary_name).write_text(json.dumps(summary, indent=2))
    broken = [r for r in reports if r["problems"]]
    assert not broken, json.dumps(broken, indent=2)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_controllers_resume_to_exactly_the_budget(blank_home: Path, tmp_path: Path) -> None:
    _torture(4, blank_home, tmp_path, "crash_torture.json")


@pytest.mark.heavy
@pytest.mark.timeout(1800)
def test_twenty_kill_points_all_resume_to_exactly_the_budget(blank_home: Path, tmp_path: Path) -> None:
    _torture(HEAVY_KILL_POINTS, blank_home, tmp_path, "crash_torture_heavy.json")
