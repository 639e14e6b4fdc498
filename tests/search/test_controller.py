"""The controller end to end: real step processes, real Optuna / MLflow / ML Metadata stores.

Every test runs experiments in its own workspace (``Workspace.at(tmp_path / "ws")``). Creating an
MLflow SQLite database runs its migrations (seconds), so an empty MLflow and MLMD database is
made once per session and copied into each workspace; everything else is created by the code
under test. The crash tests drive the real ``workbench`` command in subprocesses and SIGKILL it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from search_helpers import processes_with, slow_script, wait_for

from workbench.errors import SpecError, WorkbenchError
from workbench.search import _storage as st
from workbench.search.controller import FAILED, FINISHED, Controller, TrialEvent, trial_state
from workbench.spec import ExperimentSpec, experiment_from_dict, load_experiment
from workbench.tracking import BaseRecorder
from workbench.workspace import Workspace

optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO = Path(__file__).resolve().parents[2]
WORKBENCH = Path(sys.executable).with_name("workbench")
X = {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}
Y = {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}
MINIMIZE_LOSS = {"type": "minimize", "objectiveMetricName": "loss"}


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_store_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores come from the workspace folder only, whatever the environment says."""
    for var in ("HOME", "OPTUNA_URL", "MLFLOW_URI", "MLMD_URL", "ARTIFACTS"):
        monkeypatch.delenv(f"WORKBENCH_{var}", raising=False)


@pytest.fixture(scope="session")
def empty_stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with an empty MLflow database and an empty MLMD database (schemas created once)."""
    from workbench.tracking import make_recorder

    seed = Workspace.at(tmp_path_factory.mktemp("seed") / "ws")
    seed.ensure()
    make_recorder(seed).close()
    out = tmp_path_factory.mktemp("stores")
    for name in ("mlflow.db", "mlmd.sqlite"):
        src, dst = sqlite3.connect(seed.home / name), sqlite3.connect(out / name)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    return out


@pytest.fixture
def ws(tmp_path: Path, empty_stores: Path) -> Workspace:
    home = tmp_path / "ws"
    home.mkdir()
    for db in empty_stores.iterdir():
        shutil.copy(db, home / db.name)
    return Workspace.at(home)


# ------------------------------------------------------------------------------------------ helpers


def quadratic_doc(name: str, **spec: Any) -> dict[str, Any]:
    """An experiment over the ``quadratic`` trial template (x, y in [-5, 5], minimize loss)."""
    doc: dict[str, Any] = {
        "name": name,
        "objective": MINIMIZE_LOSS,
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
        "parallelTrialCount": 2,
        "maxTrialCount": 4,
        "parameters": [X, Y],
        "trialTemplate": {"template": "quadratic", "arguments": {"epochs": 5}},
    }
    doc.update(spec)
    return doc


def inline_doc(name: str, script: str, params: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """An experiment whose trial is one inline container component: ``python3 -c SCRIPT <param values>``.

    The script finds the parameter values in ``sys.argv[1:]``, in the order of ``params``.
    """
    params = params if params is not None else [X, Y]
    inputs = [{"name": p["name"], "type": "Float"} for p in params]
    command: list[Any] = ["python3", "-c", textwrap.dedent(script)] + [{"inputValue": p["name"]} for p in params]
    component = {"name": "step", "inputs": inputs, "implementation": {"container": {"command": command}}}
    return quadratic_doc(name, parameters=params, trialTemplate={"component": component}, **spec)


def spec_of(doc: dict[str, Any]) -> ExperimentSpec:
    return experiment_from_dict(json.loads(json.dumps(doc)), REPO)


def load(ws: Workspace, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=st.open_storage(ws.optuna_url))


def states(study: optuna.Study) -> list[str]:
    return [trial_state(t) for t in study.get_trials()]


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if trial_state(t) in FINISHED]


def duration(trial: optuna.trial.FrozenTrial) -> float:
    return trial.user_attrs[st.T_FINISHED] - trial.user_attrs[st.T_STARTED]


def step_log(ws: Workspace, trial: optuna.trial.FrozenTrial, step: str = "step") -> str:
    return (ws.runs / trial.user_attrs[st.T_RUN_ID] / f"{step}.log").read_text()


class Events:
    """A listener keeping every event with the time it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, TrialEvent]] = []
        self._lock = threading.Lock()

    def __call__(self, event: TrialEvent) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def max_running(self) -> int:
        running = peak = 0
        for _, e in self.events:
            running += {"started": 1, "finished": -1}.get(e.kind, 0)
            peak = max(peak, running)
        return peak

    def of(self, kind: str) -> list[TrialEvent]:
        return [e for _, e in self.events if e.kind == kind]


def snapshot(study: optuna.Study) -> tuple[Any, ...]:
    trials = [(t.number, t.state, t.params, t.values, t.user_attrs) for t in study.get_trials()]
    return trials, study.user_attrs, study._storage.get_study_system_attrs(study._study_id)


# -------------------------------------------------------------------------- 1. budget and parallelism


def test_budget_and_parallelism(ws: Workspace) -> None:
    spec = spec_of(quadratic_doc("budget", maxTrialCount=6, parallelTrialCount=2))
    events = Events()
    summary = Controller(spec, ws, listener=events).run()

    assert summary.state == "Succeeded", summary
    assert "budget of 6" in summary.message
    study = load(ws, "budget")
    assert states(study) == ["Succeeded"] * 6
    assert summary.counts == {"Succeeded": 6}
    assert study.user_attrs[st.ATTR_STATE] == "Succeeded"
    # The listener saw 6 starts and 6 ends, with 2 trials in flight at some moment and never more.
    assert len(events.of("started")) == len(events.of("finished")) == 6
    assert events.max_running() == 2
    # The stored start/end times agree: at most 2 trials overlap, and 2 do at some point.
    spans = [(t.user_attrs[st.T_STARTED], t.user_attrs[st.T_FINISHED]) for t in study.get_trials()]
    overlaps = [sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans]
    assert max(overlaps) == 2
    # The best trial is the lowest final loss; the summary reports it.
    best = min(study.get_trials(), key=lambda t: t.values[0])
    assert summary.best_number == best.number and summary.best_values == best.values


# ----------------------------------------------------------------------------------- 2. early stopping


def test_median_stopping_prunes_and_cancels_the_step(ws: Workspace) -> None:
    marker = f"wbtest-{uuid.uuid4().hex}"
    doc = inline_doc(
        "prune",
        slow_script(marker, epochs=10, seconds=0.12),
        parallelTrialCount=1,
        maxTrialCount=6,
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "1"}],
        },
        # Two good trials first: the median they set is beaten by almost nothing the sampler draws.
        warmStart={"enqueue": [{"x": 2.0, "y": -1.0}, {"x": 2.2, "y": -1.1}]},
    )
    summary = Controller(spec_of(doc), ws, grace_period=2.0).run()

    assert summary.state == "Succeeded"
    study = load(ws, "prune")
    trials = study.get_trials()
    assert [trial_state(t) for t in trials[:2]] == ["Succeeded", "Succeeded"]
    pruned = [t for t in trials if trial_state(t) == "Pruned"]
    assert len(pruned) >= 2, states(study)
    full = min(duration(t) for t in trials[:2])
    assert full > 1.1  # 10 epochs of 0.12 s
    for t in pruned:
        assert t.state == TrialState.PRUNED
        assert t.intermediate_values, "a pruned trial reported intermediate values"
        log = step_log(ws, t)
        assert "[workbench] step step cancelled" in log, log
        assert "epoch 10:" not in log
        assert duration(t) < full * 0.6, (duration(t), full)
    assert processes_with(marker) == []
    # The records say the same: the trial run Pruned, its step execution Cancelled.
    from mlflow.tracking import MlflowClient

    from workbench.tracking import lineage_of_run

    client = MlflowClient(ws.mlflow_uri)
    experiment = client.get_experiment_by_name("prune")
    for t in pruned:
        run_id = t.user_attrs[st.T_RUN_ID]
        runs = client.search_runs([experiment.experiment_id], f"tags.`workbench.run_id` = '{run_id}'")
        assert sorted((r.data.tags.get("workbench.step", ""), r.data.tags["workbench.state"]) for r in runs) == [
            ("", "Pruned"),
            ("step", "Cancelled"),
        ]
        assert [(e["step"], e["state"]) for e in lineage_of_run(ws.mlmd_url, run_id)["executions"]] == [
            ("step", "Cancelled")
        ]


# --------------------------------------------------------------------------------------------- 3. goal


def test_goal_reached_early_ends_succeeded(ws: Workspace) -> None:
    doc = quadratic_doc(
        "goal",
        maxTrialCount=20,
        parallelTrialCount=1,
        objective={**MINIMIZE_LOSS, "goal": 0.01},
        trialTemplate={"template": "quadratic", "arguments": {"epochs": 10}},
        warmStart={"enqueue": [{"x": 4.0, "y": 1.0}, {"x": 2.0, "y": -1.0}]},
    )
    summary = Controller(spec_of(doc), ws).run()

    assert summary.state == "Succeeded"
    assert "goal" in summary.message and "0.01" in summary.message
    study = load(ws, "goal")
    assert states(study) == ["Succeeded", "Succeeded"]  # stopped right after the trial that reached it
    assert study.best_value <= 0.01
    assert study.user_attrs[st.ATTR_STATE] == "Succeeded"
    assert "goal" in study.user_attrs[st.ATTR_MESSAGE]


def test_grid_search_runs_every_point_once_across_a_stop(ws: Workspace) -> None:
    grid = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "1", "max": "3", "step": "1"}},
        {"name": "y", "parameterType": "int", "feasibleSpace": {"min": "-1", "max": "0"}},
    ]
    doc = quadratic_doc("grid", algorithm={"algorithmName": "grid"}, parameters=grid, parallelTrialCount=2)
    del doc["maxTrialCount"]
    controller = Controller(spec_of(doc), ws)
    controller.listener = lambda e: controller.request_stop() if e.kind == "finished" else None
    assert controller.run().state == "Stopped"
    assert len(finished(load(ws, "grid"))) in (1, 2)

    summary = Controller(spec_of(doc), ws).run()
    assert summary.state == "Succeeded" and "budget of 6" in summary.message
    points = sorted((t.params["x"], t.params["y"]) for t in finished(load(ws, "grid")))
    assert points == [(x, y) for x in (1.0, 2.0, 3.0) for y in (-1, 0)]


def test_trials_imported_from_a_csv_use_no_budget(ws: Workspace, tmp_path: Path) -> None:
    csv = tmp_path / "earlier.csv"
    csv.write_text("x,y,loss,state\n1.0,1.0,5.0,\n-3.0,2.0,34.0,\n0.0,0.0,,Failed\n")
    doc = quadratic_doc("imported", maxTrialCount=3, maxFailedTrialCount=0, warmStart={"csv": str(csv)})
    summary = Controller(spec_of(doc), ws).run()

    assert summary.state == "Succeeded", summary
    study = load(ws, "imported")
    ran = [t for t in study.get_trials() if not t.user_attrs.get("workbench.warm_start")]
    assert len(study.get_trials()) == 3 + 3
    assert [trial_state(t) for t in ran] == ["Succeeded"] * 3


def test_recorder_made_by_the_controller_is_closed(ws: Workspace) -> None:
    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "workbench-recorder" and t.is_alive()]

    before = writers()
    controller = Controller(spec_of(quadratic_doc("closed", maxTrialCount=2)), ws)
    assert controller.run().state == "Succeeded"
    assert writers() == before
    # Everything was written before run() returned.
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(ws.mlflow_uri).get_experiment_by_name("closed")
    assert experiment.tags["workbench.state"] == "Succeeded"


def test_interrupted_run_cancels_its_trials_at_once(ws: Workspace, tmp_path: Path) -> None:
    """A second Ctrl-C raises KeyboardInterrupt in the controller's thread: it must not wait for the trials."""
    marker = f"wbtest-{uuid.uuid4().hex}"
    hold = tmp_path / "hold"
    hold.touch()
    doc = inline_doc("abort", slow_script(marker, hold=hold), maxTrialCount=4, parallelTrialCount=2)

    def abort(event: TrialEvent) -> None:
        if event.kind == "started" and event.number == 1:
            wait_for(lambda: processes_with(marker), 30, "a running step")
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        Controller(spec_of(doc), ws, listener=abort, grace_period=1.0).run()
    assert time.monotonic() - started < 10
    assert processes_with(marker) == []

    hold.unlink()
    summary = Controller(spec_of(doc), ws).run()  # the lock was released
    assert summary.state == "Succeeded"
    study = load(ws, "abort")
    assert [trial_state(t) for t in study.get_trials()[:2]] == ["Killed", "Killed"]
    assert len(finished(study)) == 4


# ------------------------------------------------------------------------------- 4. failed trials


def test_max_failed_trial_count_fails_the_experiment(ws: Workspace) -> None:
    doc = inline_doc("fails", "raise SystemExit(1)", [X], maxTrialCount=10, maxFailedTrialCount=2, parallelTrialCount=1)
    summary = Controller(spec_of(doc), ws).run()

    assert summary.state == "Failed"
    assert "3 trials failed" in summary.message and "maxFailedTrialCount 2" in summary.message
    study = load(ws, "fails")
    assert states(study) == ["Failed"] * 3
    for t in study.get_trials():
        assert "exited with code 1" in t.user_attrs[st.T_MESSAGE]
    assert study.user_attrs[st.ATTR_STATE] == "Failed"


def test_max_failed_with_parallel_trials_kills_the_rest(ws: Workspace) -> None:
    doc = inline_doc(
        "fails-parallel",
        "import sys, time; time.sleep(0.1 if float(sys.argv[1]) < 0 else 60); raise SystemExit(1)",
        [X],
        maxTrialCount=10,
        maxFailedTrialCount=0,
        parallelTrialCount=2,
        warmStart={"enqueue": [{"x": -1.0}, {"x": 1.0}]},
    )
    started = time.monotonic()
    summary = Controller(spec_of(doc), ws, grace_period=1.0).run()

    assert time.monotonic() - started < 30  # the slow trial (60 s) was not waited for
    assert summary.state == "Failed"
    assert states(load(ws, "fails-parallel")) == ["Failed", "Killed"]


def test_no_objective_is_metrics_unavailable_and_counts_as_failed(ws: Workspace) -> None:
    doc = inline_doc(
        "no-metric", "print('done, accuracy=0.9')", [X], maxTrialCount=6, maxFailedTrialCount=1, parallelTrialCount=1
    )
    summary = Controller(spec_of(doc), ws).run()

    assert "MetricsUnavailable" in FAILED
    assert summary.state == "Failed"
    study = load(ws, "no-metric")
    assert states(study) == ["MetricsUnavailable"] * 2
    for t in study.get_trials():
        assert t.state == TrialState.FAIL
        assert "no value for loss" in t.user_attrs[st.T_MESSAGE]


# ------------------------------------------------------------------------------------------- 6. stop


def test_request_stop_kills_running_trials_then_resume_completes(ws: Workspace, tmp_path: Path) -> None:
    marker = f"wbtest-{uuid.uuid4().hex}"
    hold = tmp_path / "hold"
    doc = inline_doc(
        "stop", slow_script(marker, epochs=2, seconds=0.1, hold=hold), maxTrialCount=5, parallelTrialCount=2
    )
    hold.touch()  # the trials of the first controller run until stopped
    events = Events()
    controller = Controller(spec_of(doc), ws, listener=events, grace_period=1.0)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(summary=controller.run()))
    thread.start()
    wait_for(lambda: len(processes_with(marker)) == 2, 30, "two running steps")
    with pytest.raises(WorkbenchError, match="already being run"):  # one controller per experiment
        Controller(spec_of(doc), ws).run()
    asked = time.monotonic()
    controller.request_stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 20  # the steps hold until cancelled: they were not waited for

    summary = result["summary"]
    assert summary.state == "Stopped" and summary.message == "stopped by the user"
    study = load(ws, "stop")
    assert states(study) == ["Killed", "Killed"]
    for t in study.get_trials():
        assert "[workbench] step step cancelled" in step_log(ws, t)
    assert study.user_attrs[st.ATTR_STATE] == "Stopped"
    assert processes_with(marker) == []
    killed_params = [t.params for t in study.get_trials()]

    hold.unlink()
    summary = Controller(spec_of(doc), ws).run()

    assert summary.state == "Succeeded"
    study = load(ws, "stop")
    trials = study.get_trials()
    assert [trial_state(t) for t in trials] == ["Killed", "Killed"] + ["Succeeded"] * 5
    # The killed trials ran again with their parameters.
    assert [t.user_attrs.get(st.T_REQUEUED_FROM) for t in trials[2:4]] == [0, 1]
    assert [t.params for t in trials[2:4]] == killed_params
    assert all(st.T_REQUEUED_FROM not in t.user_attrs for t in trials[4:])


def test_workbench_stop_from_another_process(ws: Workspace, tmp_path: Path) -> None:
    marker = f"wbtest-{uuid.uuid4().hex}"
    hold = tmp_path / "hold"
    hold.touch()
    script = slow_script(marker, hold=hold, ignore_term=True)
    doc = inline_doc("stop-cli", script, maxTrialCount=4, parallelTrialCount=2)
    controller = Controller(spec_of(doc), ws, grace_period=1.0)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(summary=controller.run()))
    thread.start()
    wait_for(lambda: len(processes_with(marker)) == 2, 30, "two running steps")
    asked = time.monotonic()
    cli = subprocess.run(
        [str(WORKBENCH), "stop", "stop-cli", "--home", str(ws.home)], capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0, cli.stderr
    assert "asked the controller" in cli.stdout
    thread.join(timeout=30)
    assert not thread.is_alive()
    # The steps ignore SIGTERM: the controller had to wait out the grace period, then kill them.
    assert time.monotonic() - asked >= 1.0

    assert result["summary"].state == "Stopped"
    assert "workbench stop" in result["summary"].message
    assert states(load(ws, "stop-cli")) == ["Killed", "Killed"]
    assert processes_with(marker) == []


# ------------------------------------------------------------------------------- 7. name reuse


def test_incompatible_search_space_is_refused_and_the_study_untouched(ws: Workspace) -> None:
    doc = quadratic_doc("reuse", maxTrialCount=3)
    assert Controller(spec_of(doc), ws).run().state == "Succeeded"
    before = snapshot(load(ws, "reuse"))

    wider = quadratic_doc("reuse", maxTrialCount=5, parameters=[{**X, "feasibleSpace": {"min": "-6", "max": "5"}}, Y])
    as_int = quadratic_doc("reuse", maxTrialCount=5, parameters=[{**X, "parameterType": "int"}, Y])
    for changed, words in ((wider, "changed from double [-5.0, 5.0] to double [-6.0, 5.0]"), (as_int, "changed type")):
        with pytest.raises(SpecError) as info:
            Controller(spec_of(changed), ws).run()
        assert words in str(info.value) and "'x'" in str(info.value)
        assert info.value.path == "spec.parameters[0]"
        assert snapshot(load(ws, "reuse")) == before

    summary = Controller(spec_of(quadratic_doc("reuse", maxTrialCount=5)), ws).run()
    assert summary.state == "Succeeded"
    study = load(ws, "reuse")
    assert states(study) == ["Succeeded"] * 5
    assert [(t.number, t.params, t.values) for t in study.get_trials()[:3]] == [
        (number, params, values) for number, _, params, values, _ in before[0]
    ]
    assert study.user_attrs[st.ATTR_SPEC]["spec"]["maxTrialCount"] == 5
    # The seeded sampler went on from where it was; it did not draw the first trials' points again.
    assert len({tuple(t.params.values()) for t in study.get_trials()}) == 5


def test_changed_objective_direction_is_refused(ws: Workspace) -> None:
    assert Controller(spec_of(quadratic_doc("direction", maxTrialCount=2)), ws).run().state == "Succeeded"
    before = snapshot(load(ws, "direction"))
    doc = quadratic_doc("direction", maxTrialCount=3, objective={"type": "maximize", "objectiveMetricName": "loss"})
    with pytest.raises(SpecError, match="directions"):
        Controller(spec_of(doc), ws).run()
    assert snapshot(load(ws, "direction")) == before


def test_a_writer_killed_while_holding_the_journal_lock_blocks_nobody(ws: Workspace) -> None:
    """A controller SIGKILLed while appending to the journal must not stall the next one (resume)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from workbench.search._storage import open_storage\n"
            "open_storage(sys.argv[1])._backend._lock.acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            ws.optuna_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    finally:
        holder.kill()
        holder.wait()
    started = time.monotonic()
    optuna.create_study(study_name="after-kill", storage=st.open_storage(ws.optuna_url))
    assert time.monotonic() - started < 5
    assert st.study_exists(st.open_storage(ws.optuna_url), "after-kill")


# ------------------------------------------------------------------------------------- 8. bad input


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {
                "trialTemplate": {
                    "component": {
                        "name": "c",
                        "inputs": [{"name": "x"}, {"name": "y"}],
                        "implementation": {
                            "container": {"command": ["no-such-binary-xyz", {"inputValue": "x"}, {"inputValue": "y"}]}
                        },
                    }
                }
            },
            "no-such-binary-xyz",
        ),
        ({"algorithm": {"algorithmName": "no-such-algorithm"}}, "no-such-algorithm"),
        (
            {"earlyStopping": {"algorithmName": "medianstop", "algorithmSettings": [{"name": "bogus", "value": "1"}]}},
            "bogus",
        ),
    ],
    ids=["missing-command", "unknown-algorithm", "bad-early-stopping-setting"],
)
def test_bad_input_writes_nothing(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    ws = Workspace.at(tmp_path / "ws")
    spec = spec_of(quadratic_doc("bad", **change))
    with pytest.raises(SpecError, match=words):
        Controller(spec, ws).run()
    assert not ws.home.exists()


# ------------------------------------------------------------------------------ 9. MLflow and MLMD


def test_mlflow_and_mlmd_get_every_trial(ws: Workspace) -> None:
    from mlflow.tracking import MlflowClient

    from workbench.tracking import lineage_of_run

    spec = spec_of(quadratic_doc("tracked", maxTrialCount=3, parallelTrialCount=2))
    assert Controller(spec, ws).run().state == "Succeeded"
    study = load(ws, "tracked")

    client = MlflowClient(ws.mlflow_uri)
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    assert experiment.tags["workbench.state"] == "Succeeded"
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    trial_runs = {r.data.tags["workbench.run_id"]: r for r in runs if "workbench.step" not in r.data.tags}
    step_runs = [r for r in runs if "workbench.step" in r.data.tags]
    assert len(trial_runs) == len(study.get_trials()) == 3
    for t in study.get_trials():
        run = trial_runs[t.user_attrs[st.T_RUN_ID]]
        assert run.data.tags["workbench.trial"] == str(t.number)
        assert run.data.tags["workbench.state"] == "Succeeded"
        assert run.info.status == "FINISHED"
        assert {k: float(v) for k, v in run.data.params.items()} == pytest.approx(t.params)
        assert run.data.metrics["loss"] == pytest.approx(t.values[0])
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted({m.step for m in history}) == [1, 2, 3, 4, 5]
        children = [r for r in step_runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
        assert [c.data.tags["workbench.step"] for c in children] == ["evaluate"]
        assert children[0].data.tags["workbench.state"] == "Succeeded"

        lineage = lineage_of_run(ws.mlmd_url, t.user_attrs[st.T_RUN_ID])
        assert lineage["context"] is not None
        assert [(e["step"], e["state"], e["mlmd_state"]) for e in lineage["executions"]] == [
            ("evaluate", "Succeeded", "COMPLETE")
        ]
        assert lineage["executions"][0]["outputs"]["Output"] == pytest.approx(t.values[0])


def test_pruned_and_killed_trials_are_recorded_as_such(ws: Workspace, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from workbench.tracking import lineage_of_run

    marker = f"wbtest-{uuid.uuid4().hex}"
    hold = tmp_path / "hold"
    hold.touch()
    doc = inline_doc("killed-tracked", slow_script(marker, hold=hold), maxTrialCount=2, parallelTrialCount=2)
    controller = Controller(spec_of(doc), ws, grace_period=1.0)
    thread = threading.Thread(target=controller.run)
    thread.start()
    wait_for(lambda: len(processes_with(marker)) == 2, 30, "two running steps")
    controller.request_stop()
    thread.join(timeout=30)

    study = load(ws, "killed-tracked")
    client = MlflowClient(ws.mlflow_uri)
    experiment = client.get_experiment_by_name("killed-tracked")
    assert experiment.tags["workbench.state"] == "Stopped"
    for t in study.get_trials():
        run_id = t.user_attrs[st.T_RUN_ID]
        runs = client.search_runs([experiment.experiment_id], f"tags.`workbench.run_id` = '{run_id}'")
        trial_run = [r for r in runs if "workbench.step" not in r.data.tags]
        assert [(r.data.tags["workbench.state"], r.info.status) for r in trial_run] == [("Killed", "KILLED")]
        lineage = lineage_of_run(ws.mlmd_url, run_id)
        assert [(e["step"], e["state"]) for e in lineage["executions"]] == [("step", "Cancelled")]


# ------------------------------------------------------------------------------ 10. multi-objective


def test_multi_objective_nsga2_has_a_pareto_front(ws: Workspace) -> None:
    doc = inline_doc(
        "pareto",
        """
        import sys
        x, y = float(sys.argv[1]), float(sys.argv[2])
        print(f"loss={(x - 2) ** 2 + y ** 2} latency={(x + 2) ** 2 + y ** 2}")
        """,
        objective={
            "objectives": [{"metricName": "loss", "type": "minimize"}, {"metricName": "latency", "type": "minimize"}]
        },
        algorithm={
            "algorithmName": "nsga2",
            "algorithmSettings": [{"name": "population_size", "value": "4"}, {"name": "random_state", "value": "1"}],
        },
        maxTrialCount=10,
        parallelTrialCount=2,
    )
    summary = Controller(spec_of(doc), ws).run()

    assert summary.state == "Succeeded"
    assert summary.counts == {"Succeeded": 10}
    study = load(ws, "pareto")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    front = study.best_trials
    assert front
    for t in study.get_trials():
        assert len(t.values) == 2
        x, y = t.params["x"], t.params["y"]
        assert t.values == pytest.approx([(x - 2) ** 2 + y**2, (x + 2) ** 2 + y**2])
    for best in front:  # no trial beats a Pareto-optimal one on both objectives
        assert not any(all(a < b for a, b in zip(t.values, best.values, strict=True)) for t in study.get_trials())


# ------------------------------------------------------------------------------- 11. Katib example


def test_katib_random_example_runs_unchanged(ws: Workspace) -> None:
    path = REPO / "examples" / "katib-random.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["maxTrialCount"] = 5
    spec = experiment_from_dict(doc, path.parent, source=str(path))
    assert load_experiment(path).trial_template.pipeline == spec.trial_template.pipeline
    summary = Controller(spec, ws).run()

    assert summary.state == "Succeeded", summary
    assert summary.counts == {"Succeeded": 5}
    study = load(ws, "katib-random")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE]
    for t in study.get_trials():
        metrics = t.user_attrs[st.T_METRICS]
        assert set(metrics) == {"accuracy", "loss"}
        assert 0 < metrics["accuracy"] < 1
        assert t.values == [pytest.approx(metrics["accuracy"])]
        assert t.params["optimizer"] in ("sgd", "adam", "ftrl") and 2 <= t.params["num-layers"] <= 5


# ------------------------------------------------------------------------------ 5. crash and resume


def _cli(*args: str, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WORKBENCH), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=_cli_env(), **kwargs
    )


def _cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}


@pytest.mark.slow
@pytest.mark.parametrize(
    "how, after, delay",
    [("resume", 1, 0.0), ("resume", 2, 0.3), ("resume", 3, 0.6), ("run", 2, 0.15)],
    ids=["resume-early", "resume-mid", "resume-late", "run-again"],
)
def test_resume_after_the_controller_is_killed(
    ws: Workspace, tmp_path: Path, how: str, after: int, delay: float
) -> None:
    marker = f"wbtest-{uuid.uuid4().hex}"
    name = "crash"
    doc = inline_doc(name, slow_script(marker, epochs=4, seconds=0.2), maxTrialCount=6, parallelTrialCount=2)
    spec_file = tmp_path / "experiment.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen(
        [str(WORKBENCH), "run", str(spec_file), "--home", str(ws.home), "--quiet"],
        cwd=tmp_path,
        env=_cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        storage = st.open_storage(ws.optuna_url)

        def progress() -> bool:
            if not st.study_exists(storage, name):
                return False
            trials = storage.get_all_trials(storage.get_study_id_from_name(name))
            done = sum(1 for t in trials if t.state.is_finished())
            return done >= after and any(t.state == TrialState.RUNNING for t in trials)

        wait_for(progress, 60, f"{after} finished trials")
        time.sleep(delay)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    study = load(ws, name)
    stale = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
    assert stale, "the kill landed while trials ran"
    done_before = [t.number for t in study.get_trials() if t.state.is_finished()]
    assert len(done_before) >= after

    if how == "resume":
        result = _cli("resume", name, "--home", str(ws.home), "--quiet", cwd=tmp_path)
    else:
        result = _cli("run", str(spec_file), "--home", str(ws.home), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    study = load(ws, name)
    trials = study.get_trials()
    by_number = {t.number: t for t in trials}
    assert study.user_attrs[st.ATTR_STATE] == "Succeeded"
    assert [t.number for t in finished(study)] == sorted(t.number for t in finished(study))
    assert len(finished(study)) == 6
    assert all(trial_state(t) == "Succeeded" for t in finished(study))
    # The interrupted trials are Killed, each ran again once with the same parameters.
    killed = [t for t in trials if trial_state(t) == "Killed"]
    assert sorted(t.number for t in killed) == sorted(t.number for t in stale)
    assert len(trials) == len(killed) + 6
    assert "Pending" not in states(study) and "Running" not in states(study)
    for t in killed:
        assert t.user_attrs[st.T_MESSAGE] == "the controller stopped while it ran"
        again = [r for r in trials if r.user_attrs.get(st.T_REQUEUED_FROM) == t.number]
        if set(t.params) != {"x", "y"}:  # killed while Optuna drew its parameters: it never ran
            assert st.T_RUN_ID not in t.user_attrs and again == []
            continue
        assert len(again) == 1 and trial_state(again[0]) == "Succeeded"
        assert again[0].params == t.params
    # Trials finished before the crash are untouched; no parameter set ran twice.
    for number in done_before:
        assert trial_state(by_number[number]) == "Succeeded"
    finished_params = [tuple(sorted(t.params.items())) for t in finished(study)]
    assert len(set(finished_params)) == 6
    # The steps the dead controller left behind were cleaned up, and the new ones ended.
    assert processes_with(marker) == []
    # MLflow ends with every trial's final state, whatever the crash cut short.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ws.mlflow_uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    recorded = {r.data.tags["workbench.run_id"]: r for r in runs if "workbench.step" not in r.data.tags}
    for t in trials:
        if st.T_RUN_ID not in t.user_attrs:  # killed between Optuna's ask and the start of its run
            assert trial_state(t) == "Killed"
            continue
        run = recorded[t.user_attrs[st.T_RUN_ID]]
        assert (run.data.tags["workbench.trial"], run.data.tags["workbench.state"]) == (str(t.number), trial_state(t))
        assert run.info.status == {"Succeeded": "FINISHED", "Killed": "KILLED"}[trial_state(t)]
    assert all(r.info.status != "RUNNING" for r in runs), [(r.info.run_name, r.info.status) for r in runs]


# --------------------------------------------------------------- 6. shared stores: claims and heartbeats


def test_shared_store_reruns_a_dead_controllers_trial_and_leaves_a_live_ones_alone(ws: Workspace) -> None:
    """A database study (SQLite here; PostgreSQL/MariaDB in tests/stores): a starting controller re-runs the
    trial of a controller whose heartbeat is stale, counts the trial of a live one toward the budget without
    touching it, and waits for it before it ends the experiment.
    """
    import dataclasses

    shared = dataclasses.replace(ws, optuna_url=f"sqlite:///{ws.home / 'optuna.db'}", heartbeat_timeout=2.0)
    first = Controller(spec_of(quadratic_doc("shared", maxTrialCount=2)), shared).run()
    assert first.state == "Succeeded"
    study = load(shared, "shared")
    dists = Controller(spec_of(quadratic_doc("shared")), shared).distributions

    def foreign_trial(owner: str) -> optuna.Trial:
        trial = study.ask(dists)
        trial.set_user_attr(st.T_CONTROLLER, owner)
        trial.set_user_attr(st.T_RUN_ID, f"{owner}-run")
        return trial

    dead, live = foreign_trial("dead"), foreign_trial("live")
    study.set_user_attr(st.ATTR_CONTROLLER_PREFIX + "dead", {"heartbeat": time.time() - 100, "timeout": 2.0})
    beating = threading.Event()

    def live_heartbeat() -> None:
        while not beating.is_set():
            study.set_user_attr(st.ATTR_CONTROLLER_PREFIX + "live", {"heartbeat": time.time(), "timeout": 2.0})
            beating.wait(0.3)

    beat = threading.Thread(target=live_heartbeat)
    beat.start()
    result: dict[str, Any] = {}
    resumed = Controller(spec_of(quadratic_doc("shared", maxTrialCount=4)), shared)
    runner = threading.Thread(target=lambda: result.update(summary=resumed.run()))
    try:
        runner.start()

        def rerun_done() -> bool:
            trials = load(shared, "shared").get_trials()
            again = [t for t in trials if t.user_attrs.get(st.T_REQUEUED_FROM) == dead.number]
            return bool(again) and trial_state(again[0]) == "Succeeded"

        wait_for(rerun_done, 60, "the dead controller's trial to run again")
        time.sleep(1.5)  # several of the controller's checks: the live controller's trial must stay untouched
        now = {t.number: t for t in load(shared, "shared").get_trials()}
        assert trial_state(now[dead.number]) == "Killed"
        assert now[dead.number].user_attrs[st.T_MESSAGE] == "the controller stopped while it ran"
        assert trial_state(now[live.number]) == "Running"
        assert runner.is_alive(), "the controller ended while another controller's trial still ran"
        study.tell(live, 1.0)  # the live controller finishes its trial: the budget is used
        runner.join(60)
        assert not runner.is_alive()
    finally:
        beating.set()
        beat.join()
        runner.join(60)
    assert result["summary"].state == "Succeeded"
    final = load(shared, "shared")
    assert sorted(states(final)) == ["Killed"] + ["Succeeded"] * 4
    again = [t for t in final.get_trials() if t.user_attrs.get(st.T_REQUEUED_FROM) == dead.number]
    assert len(again) == 1 and again[0].params == dead.params
    # It asked nothing else: the live trial counted toward the budget of 4.
    assert len(final.get_trials()) == 5
    ids = {t.user_attrs[st.T_CONTROLLER] for t in final.get_trials()}
    assert {"dead", "live"} < ids and len(ids) == 4  # two earlier controllers' runs, plus this one


def test_shared_store_lets_two_controllers_share_one_workspace(ws: Workspace) -> None:
    """On a database store the local experiment lock is shared: a second controller joins instead of failing."""
    lock_a = st.ExperimentLock(ws.locks, "joint", shared=True)
    lock_b = st.ExperimentLock(ws.locks, "joint", shared=True)
    lock_a.acquire()
    try:
        lock_b.acquire()
        lock_b.release()
        assert st.ExperimentLock(ws.locks, "joint").is_held_elsewhere()  # `workbench stop` sees a live controller
        with pytest.raises(WorkbenchError, match="already being run"):
            st.ExperimentLock(ws.locks, "joint").acquire()  # an embedded-journal controller may not join
    finally:
        lock_a.release()


def test_trial_runs_keep_their_specs_in_mlflow_with_secrets_masked(ws: Workspace) -> None:
    from mlflow.tracking import MlflowClient

    pipeline = {
        "name": "login",
        "parameters": [{"name": "x", "type": "Float"}, {"name": "dsn", "type": "String", "secret": True}],
        "steps": [
            {
                "name": "main",
                "component": {
                    "name": "main",
                    "inputs": [{"name": "x", "type": "Float"}, {"name": "dsn", "type": "String"}],
                    "implementation": {
                        "container": {
                            "command": ["python3", "-c", "import sys; print('loss=' + sys.argv[1], sys.argv[2])"],
                            "args": [{"inputValue": "x"}, {"inputValue": "dsn"}],
                        }
                    },
                },
                "arguments": {"x": "{{params.x}}", "dsn": "{{params.dsn}}"},
            }
        ],
    }
    doc = quadratic_doc("specs", parameters=[X], maxTrialCount=2, parallelTrialCount=1)
    doc["trialTemplate"] = {"pipeline": pipeline, "arguments": {"dsn": "pg://u:hunter2@db"}}
    summary = Controller(spec_of(doc), ws).run()
    assert summary.counts == {"Succeeded": 2}, summary

    client = MlflowClient(ws.mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("specs").experiment_id])
    trials = [r for r in runs if "workbench.step" not in r.data.tags]
    assert len(trials) == 2
    for run in trials:

        def artifact(name: str, run_id: str = run.info.run_id) -> Any:
            return yaml.safe_load(Path(client.download_artifacts(run_id, f"workbench/{name}")).read_text())

        experiment = artifact("experiment.yaml")
        assert experiment["metadata"]["name"] == "specs"
        assert experiment["spec"]["trialTemplate"]["arguments"]["dsn"] == "***"
        assert [s["name"] for s in artifact("pipeline.yaml")["spec"]["steps"]] == ["main"]
    for run in runs:
        assert "hunter2" not in json.dumps(run.data.params) + json.dumps(run.data.tags)
    log = next((ws.runs / trials[0].data.tags["workbench.run_id"]).glob("main.log")).read_text()
    assert "***" in log and "hunter2" not in log


def test_store_outage_tells_a_lost_database_from_bad_data_and_other_errors() -> None:
    import sqlalchemy.exc

    from workbench.search.controller import StoreUnreachable, store_outage

    refused = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("Connection refused"))
    try:
        try:
            raise refused
        except sqlalchemy.exc.OperationalError as err:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from err
    except optuna.exceptions.StorageInternalError as wrapped:
        assert store_outage(wrapped) is refused  # Optuna's wrapper names "invalid data"; the cause is the outage
    bad = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key value violates unique constraint"))
    assert store_outage(bad) is None  # bad data: waiting would not help
    assert store_outage(ConnectionRefusedError("Kubernetes API")) is None  # not the Optuna store
    assert store_outage(StoreUnreachable("gave up")) is None  # already the verdict


def test_store_patience_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Workspace.at(tmp_path).store_patience == 300.0
    (tmp_path / "workbench.toml").write_text("store_patience = 0\n")
    assert Workspace.at(tmp_path).store_patience == 0.0
    monkeypatch.setenv("WORKBENCH_STORE_PATIENCE", "soon")
    with pytest.raises(SpecError, match="store_patience: expected zero or more seconds") as err:
        Workspace.at(tmp_path)
    assert err.value.source == "WORKBENCH_STORE_PATIENCE"


# -------------------------------------------------------------------------------------- step cache

KATIB_FILE = "/var/log/katib/metrics.log"
# Writes a loss curve to its metrics file, ending at a value of the parameters; says 999 on stdout.
KATIB_STEP = """
import json, sys
bs, lr, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print("args", sys.argv[1:3], "loss=999")
with open(path, "w") as fh:
    for epoch in range(3):
        fh.write(json.dumps({"loss": round(lr * bs / (epoch + 1), 6), "step": epoch}) + "\\n")
"""


def katib_file_doc(name: str, **template: Any) -> dict[str, Any]:
    """The reported case: Katib v1beta1, File/JSON collector, tpe over a discrete and a stepped double."""
    container = {
        "name": "training-container",
        "image": "python:3.11",
        "command": ["python3", "-c", KATIB_STEP, "${trialParameters.bs}", "${trialParameters.lr}", KATIB_FILE],
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "tpe", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
            "parallelTrialCount": 1,
            "maxTrialCount": 6,
            "maxFailedTrialCount": 1,
            "metricsCollectorSpec": {
                "collector": {"kind": "File"},
                "source": {"fileSystemPath": {"path": KATIB_FILE, "kind": "File", "format": "JSON"}},
            },
            "parameters": [  # 2 x 2 points: 6 trials must repeat some
                {"name": "bs", "parameterType": "discrete", "feasibleSpace": {"list": ["16", "32"]}},
                {
                    "name": "lr",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0.1", "max": "0.45", "step": "0.35"},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": "bs", "reference": "bs"}, {"name": "lr", "reference": "lr"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
                },
                **template,
            },
        },
    }


def lineage(ws: Workspace) -> BaseRecorder:
    """Only the lineage store (where step executions and their cache keys are recorded): no MLflow to wait for."""
    from workbench.tracking import MlmdRecorder

    return MlmdRecorder(ws.mlmd_url)


def cached(ws: Workspace, trial: optuna.trial.FrozenTrial, step: str = "step") -> bool:
    return step_log(ws, trial, step).startswith("[workbench] cached")


def test_katib_trials_are_not_cached_unless_the_spec_opts_in_and_then_keep_their_file_metrics(ws: Workspace) -> None:
    for name, template in (("katib", {}), ("katib-cached", {"cache": True})):
        summary = Controller(spec_of(katib_file_doc(name, **template)), ws, recorder=lineage(ws)).run()
        assert summary.state == "Succeeded", summary
        trials = load(ws, name).get_trials()
        assert states(load(ws, name)) == ["Succeeded"] * 6
        seen: dict[tuple[Any, ...], float] = {}
        for t in trials:
            bs, lr = t.params["bs"], t.params["lr"]
            assert repr(lr) in ("0.1", "0.45")  # Optuna's value is the step's decimal (0.1 + 0.35 in floats: 0.4499...)
            assert f"args ['{bs}', '{lr}']" in step_log(ws, t, "training-container")  # ... and so is the command's
            # The objective comes from the file (minimum of the curve), never from stdout's 999.
            assert t.values == [round(lr * bs / 3, 6)]
            seen.setdefault((bs, lr), t.values[0])
            assert t.values[0] == seen[(bs, lr)]
        reused = [t for t in trials if cached(ws, t, "training-container")]
        if name == "katib":
            assert reused == []  # Katib runs every trial
        else:
            assert len(reused) >= 2  # 6 trials over 4 points: the repeats are served from the cache


ONE_POINT = [{"name": "a", "parameterType": "discrete", "feasibleSpace": {"list": ["1"]}}]  # every trial repeats


def test_cache_keys_stay_within_an_experiment_unless_it_shares(ws: Workspace) -> None:
    script = "import sys; print(f'loss={float(sys.argv[1]) / 2}')"
    for name, cache in (("first", None), ("second", None), ("shared-a", "Shared"), ("shared-b", "Shared")):
        doc = inline_doc(name, script, ONE_POINT, parallelTrialCount=1, maxTrialCount=2)
        if cache:
            doc["trialTemplate"]["cache"] = cache
        assert Controller(spec_of(doc), ws, recorder=lineage(ws)).run().state == "Succeeded"
    # Within an experiment the repeat is reused; another experiment (same step, same value) runs its own.
    assert [cached(ws, t) for t in load(ws, "first").get_trials()] == [False, True]
    assert [cached(ws, t) for t in load(ws, "second").get_trials()] == [False, True]
    assert [cached(ws, t) for t in load(ws, "shared-a").get_trials()] == [False, True]
    assert [cached(ws, t) for t in load(ws, "shared-b").get_trials()] == [True, True]  # opted in: shared
    assert [t.values for t in load(ws, "shared-b").get_trials()] == [[0.5], [0.5]]


def test_a_replayed_history_never_prunes(ws: Workspace) -> None:
    # Trial 0 (a=1) learns badly, trial 1 (a=2) well; trial 2 repeats a=1 (b is not a step input) and is
    # served from the cache. Its replayed curve is worse than the median at every step: were it live,
    # medianstop would prune it.
    script = """
    import sys
    a = float(sys.argv[1])
    for epoch in range(6):
        print(f"epoch {epoch}: loss={(10.0 if a == 1 else 1.0) / (epoch + 1)}")
    """
    command: list[Any] = ["python3", "-c", textwrap.dedent(script), {"inputValue": "a"}]
    step = {
        "name": "step",
        "inputs": [{"name": "a", "type": "Float"}],
        "implementation": {"container": {"command": command}},
    }
    pipeline = {
        "name": "curve",
        "parameters": [{"name": "a", "type": "Float"}, {"name": "b", "type": "Float"}],
        "steps": [{"name": "step", "component": step, "arguments": {"a": "{{params.a}}"}}],
    }
    space = [{"name": n, "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2"]}} for n in ("a", "b")]
    doc = quadratic_doc(
        "replay",
        parameters=space,
        trialTemplate={"pipeline": pipeline},
        parallelTrialCount=1,
        maxTrialCount=3,
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "0"}],
        },
        warmStart={"enqueue": [{"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 2}]},
    )
    assert Controller(spec_of(doc), ws, recorder=lineage(ws)).run().state == "Succeeded"
    trials = load(ws, "replay").get_trials()
    assert [t.params["a"] for t in trials] == [1, 2, 1]
    assert cached(ws, trials[2])
    assert states(load(ws, "replay")) == ["Succeeded"] * 3
    assert trials[2].values == trials[0].values == [10.0 / 6]
    assert trials[2].intermediate_values == trials[0].intermediate_values  # reported, as history


@pytest.mark.slow
def test_resume_keeps_the_no_cache_the_experiment_started_with(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_TRACKING_PROCESS", "0")  # MLflow in this process: no writer start-up to wait for

    script = "import sys; print(f'loss={float(sys.argv[1])}')"
    for name, cache in (("nocache", False), ("withcache", True)):
        doc = inline_doc(name, script, ONE_POINT, parallelTrialCount=1, maxTrialCount=1)
        assert Controller(spec_of(doc), ws, recorder=lineage(ws), cache=cache).run().state == "Succeeded"
        # `workbench resume` (without --no-cache) reloads the stored spec.
        result = CliRunner().invoke(app, ["resume", name, "--max-trials", "2", "--quiet", "--home", str(ws.home)])
        assert result.exit_code == 0, result.output
    assert [cached(ws, t) for t in load(ws, "nocache").get_trials()] == [False, False]
    assert [cached(ws, t) for t in load(ws, "withcache").get_trials()] == [False, True]
