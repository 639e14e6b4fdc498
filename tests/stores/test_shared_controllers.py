"""Two ``workbench run`` processes on one experiment whose stores are PostgreSQL databases (the cluster path).

Each controller has its own workspace home (as on two machines) whose ``workbench.toml`` points at
the same Optuna, MLflow and ML Metadata databases and artifact folder. The trial step waits at a
gate (a file) until four trials run at once, so both controllers certainly hold trials of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from workbench.search import _storage as st
from workbench.search.controller import FINISHED, trial_state
from workbench.testing.databases import ScratchDatabase, scratch_postgres

WORKBENCH = Path(sys.executable).with_name("workbench")
BUDGET = 8


@pytest.fixture
def stores(postgres_db: ScratchDatabase, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Optuna in ``postgres_db``; MLflow and ML Metadata in two more databases (schemas made once, up front)."""
    from mlflow.tracking import MlflowClient

    from workbench.tracking._mlmd import open_store

    with scratch_postgres() as mlflow_db, scratch_postgres() as mlmd_db:
        MlflowClient(mlflow_db.url).search_experiments()  # runs MLflow's migrations before two writers race
        open_store(mlmd_db.mlmd_url)
        yield {
            "optuna": postgres_db.url,
            "mlflow": mlflow_db.url,
            "mlmd": mlmd_db.mlmd_url,
            "artifacts": str(tmp_path / "shared-artifacts"),
            "heartbeat_timeout": "3",
        }


def _home(folder: Path, stores: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    lines = [f"{k} = {v}" if k == "heartbeat_timeout" else f'{k} = "{v}"' for k, v in stores.items()]
    (folder / "workbench.toml").write_text("\n".join(lines) + "\n")
    return folder


def _experiment(tmp_path: Path, name: str, gate: Path, marker: str) -> Path:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        x, y = float(sys.argv[1]), float(sys.argv[2])
        marker = {marker!r}
        deadline = time.time() + 120
        while not os.path.exists({str(gate)!r}) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        print(f"loss={{(x - 2) ** 2 + (y + 1) ** 2}}", flush=True)
        """
    )
    params = [{"name": n, "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}} for n in ("x", "y")]
    component = {
        "name": "step",
        "inputs": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
        "implementation": {
            "container": {"command": ["python3", "-c", script, {"inputValue": "x"}, {"inputValue": "y"}]}
        },
    }
    doc = {
        "name": name,
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
        "parallelTrialCount": 2,
        "maxTrialCount": BUDGET,
        "parameters": params,
        "trialTemplate": {"component": component},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _start(spec: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(WORKBENCH), "run", str(spec), "--home", str(home), "--quiet"],
            cwd=spec.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(condition: Callable[[], Any], timeout: float, what: str, procs: list[Any]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for proc, log in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a controller exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = st.open_storage(url)
    if not st.study_exists(storage, name):
        return []
    return storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_controllers_share_the_budget_exactly(stores: dict[str, str], tmp_path: Path) -> None:
    name, gate, marker = "shared-sweep", tmp_path / "gate", f"wbtest-{uuid.uuid4().hex}"
    spec = _experiment(tmp_path, name, gate, marker)
    homes = [_home(tmp_path / f"machine-{i}", stores) for i in (1, 2)]
    logs = [tmp_path / f"controller-{i}.log" for i in (1, 2)]
    procs = [(_start(spec, home, log), log) for home, log in zip(homes, logs, strict=True)]
    try:
        running = lambda: sum(t.state == TrialState.RUNNING for t in _trials(stores["optuna"], name)) == 4  # noqa: E731
        _wait_for(running, 120, "both controllers to run two trials each", procs)
        gate.write_text("go")
        for proc, log in procs:
            assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    study = optuna.load_study(study_name=name, storage=st.open_storage(stores["optuna"]))
    trials = study.get_trials()
    # Exactly the budget, every trial once: no duplicate, none lost, none killed.
    assert [trial_state(t) for t in trials] == ["Succeeded"] * BUDGET
    assert sorted(t.number for t in trials) == list(range(BUDGET))
    assert len({tuple(sorted(t.params.items())) for t in trials}) == BUDGET
    assert study.user_attrs[st.ATTR_STATE] == "Succeeded"
    # Both controllers did part of the work; both said they ended.
    owners = [t.user_attrs[st.T_CONTROLLER] for t in trials]
    assert len(set(owners)) == 2 and all(owners.count(o) >= 2 for o in set(owners))
    entries = [v for k, v in study.user_attrs.items() if k.startswith(st.ATTR_CONTROLLER_PREFIX)]
    assert len(entries) == 2 and all(e.get("ended") for e in entries)
    # MLflow (PostgreSQL) has one finished run per trial; ML Metadata (PostgreSQL) one Trial context each.
    from mlflow.tracking import MlflowClient

    from workbench.tracking._mlmd import TRIAL_TYPE, open_store

    client = MlflowClient(stores["mlflow"])
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    trial_runs = [r for r in runs if "workbench.step" not in r.data.tags]
    assert sorted(int(r.data.tags["workbench.trial"]) for r in trial_runs) == list(range(BUDGET))
    assert {r.info.status for r in runs} == {"FINISHED"}
    contexts = open_store(stores["mlmd"]).get_contexts_by_type(TRIAL_TYPE)
    assert len([c for c in contexts if c.name.startswith(f"{name}/")]) == BUDGET
    assert _processes_with(marker) == []


@pytest.mark.slow
def test_a_live_controller_reruns_the_trials_of_one_that_died(stores: dict[str, str], tmp_path: Path) -> None:
    name, gate, marker = "survivor", tmp_path / "gate", f"wbtest-{uuid.uuid4().hex}"
    spec = _experiment(tmp_path, name, gate, marker)
    homes = [_home(tmp_path / f"machine-{i}", stores) for i in (1, 2)]
    logs = [tmp_path / f"controller-{i}.log" for i in (1, 2)]
    procs = [(_start(spec, home, log), log) for home, log in zip(homes, logs, strict=True)]
    victim, survivor = procs[0][0], procs[1][0]
    try:
        running = lambda: sum(t.state == TrialState.RUNNING for t in _trials(stores["optuna"], name)) == 4  # noqa: E731
        _wait_for(running, 120, "both controllers to run two trials each", procs)
        victim_pid = victim.pid
        os.killpg(victim.pid, signal.SIGKILL)  # the controller dies (its steps, in sessions of their own, do not)
        victim.wait()
        gate.write_text("go")
        assert survivor.wait(timeout=180) == 0, procs[1][1].read_text()[-3000:]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    study = optuna.load_study(study_name=name, storage=st.open_storage(stores["optuna"]))
    trials = study.get_trials()
    entries = {k[len(st.ATTR_CONTROLLER_PREFIX) :]: v for k, v in study.user_attrs.items()}
    victim_id = next(k for k, v in entries.items() if isinstance(v, dict) and v.get("pid") == victim_pid)
    killed = [t for t in trials if trial_state(t) == "Killed"]
    # The dead controller's two trials were Killed and run again once each, with the same parameters.
    assert len(killed) == 2 and {t.user_attrs[st.T_CONTROLLER] for t in killed} == {victim_id}
    for t in killed:
        again = [r for r in trials if r.user_attrs.get(st.T_REQUEUED_FROM) == t.number]
        assert len(again) == 1 and again[0].params == t.params and trial_state(again[0]) == "Succeeded"
    # Together: exactly the budget finished, all Succeeded, nothing left running or queued.
    done = [t for t in trials if trial_state(t) in FINISHED]
    assert len(done) == BUDGET and {trial_state(t) for t in done} == {"Succeeded"}
    assert len(trials) == BUDGET + 2
    assert study.user_attrs[st.ATTR_STATE] == "Succeeded"
    # The dead controller's steps were killed by the survivor (same machine), not left training.
    assert _processes_with(marker) == []
