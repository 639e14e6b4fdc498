"""The same experiments on the local backend and on Kubernetes (the test API server): the results must match.

Each experiment runs twice, in two fresh workspaces: once with local processes, once with one pod per
step (the kubelet stand-in runs the pod's command locally, so paths and Python packages are the same).
Seeded samplers and one trial at a time where timing matters make the trials comparable one by one:
same parameters, same states, same values. Tracking is left out (``BaseRecorder``): it does not depend
on the backend and has its own tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from k8s_helpers import backend, wait_for

from workbench.backends import LocalBackend
from workbench.search import _storage as st
from workbench.search.controller import Controller, Summary, trial_state
from workbench.spec import experiment_from_dict
from workbench.testing.k8s_server import FakeCluster
from workbench.tracking._base import BaseRecorder
from workbench.workspace import Workspace

optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO = Path(__file__).resolve().parents[2]
X = {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}
Y = {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}
MINIMIZE_LOSS = {"type": "minimize", "objectiveMetricName": "loss"}
KATIB_IMAGE = "docker.io/library/python:3.11-slim"


@pytest.fixture(autouse=True)
def _no_store_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORKBENCH_HOME", "WORKBENCH_OPTUNA_URL", "WORKBENCH_MLFLOW_URI", "WORKBENCH_MLMD_URL",
                "WORKBENCH_ARTIFACTS", "WORKBENCH_BACKEND"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


def quadratic_doc(name: str, **spec: Any) -> dict[str, Any]:
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


def component_doc(name: str, script: str, **spec: Any) -> dict[str, Any]:
    """One inline KFP-style container component: ``python3 -c SCRIPT <x> <y>``."""
    inputs = [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}]
    command = ["python3", "-c", textwrap.dedent(script), {"inputValue": "x"}, {"inputValue": "y"}]
    component = {"name": "step", "inputs": inputs, "implementation": {"container": {"image": KATIB_IMAGE,
                                                                                      "command": command}}}
    return quadratic_doc(name, trialTemplate={"component": component}, **spec)


class Outcome:
    """What an experiment left: its summary and its trials (number, state, params, values, message)."""

    def __init__(self, summary: Summary, study: optuna.Study) -> None:
        self.summary = summary
        self.trials = [
            (t.number, trial_state(t), t.params, t.values, t.user_attrs.get(st.T_MESSAGE, ""))
            for t in study.get_trials()
        ]
        self.study = study

    def states(self) -> list[str]:
        return [t[1] for t in self.trials]


def run_on(kind: str, doc: dict[str, Any], tmp: Path, base_dir: Path = REPO, **kwargs: Any) -> Outcome:
    """Run the experiment ``doc`` on ``local`` or ``kubernetes`` (a fresh test cluster) in a fresh workspace."""
    home = tmp / kind / "home"
    ws = Workspace.at(home)
    spec = experiment_from_dict(json.loads(json.dumps(doc)), base_dir)
    cluster = None
    if kind == "local":
        b: Any = LocalBackend()
    else:
        cluster = FakeCluster(default_workdir=str(tmp), images={KATIB_IMAGE: str(REPO / "examples")}, validate=True)
        cluster.start()
        b = backend(cluster, home)
    try:
        controller = Controller(spec, ws, backend=b, recorder=BaseRecorder(), grace_period=2.0)
        stop_after = kwargs.pop("stop_after", None)
        if stop_after is not None:
            threading.Timer(stop_after, controller.request_stop).start()
        summary = controller.run()
        study = optuna.load_study(study_name=spec.name, storage=st.open_storage(ws.optuna_url))
        outcome = Outcome(summary, study)
        if cluster is not None:
            wait_for(lambda: not cluster.pods(), 10, "every pod to be deleted")
            assert not cluster.invalid, cluster.invalid
            outcome.requests = dict(cluster.requests)  # type: ignore[attr-defined]
        return outcome
    finally:
        if cluster is not None:
            b.close()
            cluster.stop()


def both(doc: dict[str, Any], tmp: Path, **kwargs: Any) -> tuple[Outcome, Outcome]:
    return run_on("local", doc, tmp, **kwargs), run_on("kubernetes", doc, tmp, **kwargs)


def same_trials(local: Outcome, kube: Outcome) -> None:
    assert local.summary.state == kube.summary.state, (local.summary, kube.summary)
    assert local.summary.counts == kube.summary.counts
    for a, b in zip(local.trials, kube.trials, strict=True):
        number, state, params, values, message = a
        assert (number, state, params) == b[:3]
        assert values == pytest.approx(b[3]) if values is not None else b[3] is None
        assert message == b[4]


# ----------------------------------------------------------------------------------------- the suite


def test_quadratic_template(tmp_path):
    local, kube = both(quadratic_doc("quad"), tmp_path)
    same_trials(local, kube)
    assert local.summary.counts == {"Succeeded": 4}
    requests = kube.requests  # type: ignore[attr-defined]
    assert requests["CREATE pods"] == 4 and requests["DELETE pods"] == 4 and requests["GET log"] == 4
    assert requests["LIST pods"] == 1 and requests["WATCH pods"] == 1


def test_pipeline_with_a_kfp_component_artifacts_and_a_condition(tmp_path):
    make = {
        "name": "make",
        "inputs": [{"name": "x", "type": "Float"}],
        "outputs": [{"name": "table", "type": "Dataset"}],
        "implementation": {"container": {"image": KATIB_IMAGE, "command": [
            "python3", "-c", "import sys, pathlib; p = pathlib.Path(sys.argv[2]); p.parent.mkdir(parents=True, "
            "exist_ok=True); p.write_text(sys.argv[1])", {"inputValue": "x"}, {"outputPath": "table"}]}},
    }  # fmt: skip
    score = {
        "name": "score",
        "inputs": [{"name": "table", "type": "Dataset"}, {"name": "y", "type": "Float"}],
        "outputs": [{"name": "loss", "type": "Float"}],
        "implementation": {"container": {"image": KATIB_IMAGE, "command": [
            "python3", "-c", "import sys, pathlib; x = float(pathlib.Path(sys.argv[1]).read_text()); "
            "y = float(sys.argv[2]); v = (x - 2) ** 2 + (y + 1) ** 2; print(f'loss={v}'); "
            "pathlib.Path(sys.argv[3]).write_text(str(v))",
            {"inputPath": "table"}, {"inputValue": "y"}, {"outputPath": "loss"}]}},
    }  # fmt: skip
    report = {
        "name": "report",
        "inputs": [{"name": "loss", "type": "Float"}],
        "implementation": {"container": {"image": KATIB_IMAGE, "command": [
            "python3", "-c", "import sys; print('good', sys.argv[1])", {"inputValue": "loss"}]}},
    }  # fmt: skip
    pipeline = {
        "name": "mixed",
        "parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
        "steps": [
            {"name": "make", "component": make, "arguments": {"x": "{{params.x}}"}},
            {"name": "score", "component": score,
             "arguments": {"table": "{{steps.make.outputs.table}}", "y": "{{params.y}}"}},
            {"name": "report", "component": report, "arguments": {"loss": "{{steps.score.outputs.loss}}"},
             "when": "{{steps.score.outputs.loss}} < 20"},
        ],
    }  # fmt: skip
    local, kube = both(quadratic_doc("mixed", trialTemplate={"pipeline": pipeline}), tmp_path)
    same_trials(local, kube)
    assert local.summary.counts == {"Succeeded": 4}


def test_katib_experiment_runs_its_trial_spec_as_the_pod(tmp_path):
    path = REPO / "examples" / "katib-random.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["maxTrialCount"] = 3
    doc["spec"]["parallelTrialCount"] = 2
    local = run_on("local", doc, tmp_path, base_dir=path.parent)
    kube = run_on("kubernetes", doc, tmp_path, base_dir=path.parent)
    same_trials(local, kube)
    assert local.summary.counts == {"Succeeded": 3}


def test_median_stopping_prunes_the_same_trials(tmp_path):
    script = """
        import sys, time
        x, y = float(sys.argv[1]), float(sys.argv[2])
        bowl = (x - 2) ** 2 + (y + 1) ** 2
        for epoch in range(1, 9):
            time.sleep(0.05)
            print(f"epoch {epoch}: loss={bowl + (1 + bowl) * 0.5 ** epoch}", flush=True)
    """
    doc = component_doc(
        "prune", script, parallelTrialCount=1, maxTrialCount=6,
        earlyStopping={"algorithmName": "medianstop", "algorithmSettings": [
            {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "1"}]},
        warmStart={"enqueue": [{"x": 2.0, "y": -1.0}, {"x": 2.2, "y": -1.1}]},
    )  # fmt: skip
    local, kube = both(doc, tmp_path)
    # Which epoch a pruned step reached depends on timing; which trials were pruned does not.
    assert local.states() == kube.states()
    assert local.states().count("Pruned") >= 2


def test_failures_retries_and_max_failed_trials(tmp_path):
    script = """
        import sys
        x, y = float(sys.argv[1]), float(sys.argv[2])
        if x > 0:
            print("diverged", flush=True)
            sys.exit(3)
        print(f"loss={(x - 2) ** 2 + (y + 1) ** 2}")
    """
    doc = component_doc("fail", script, parallelTrialCount=1, maxTrialCount=8, maxFailedTrialCount=2)
    local, kube = both(doc, tmp_path)
    same_trials(local, kube)
    assert local.summary.state == "Failed" and "3 trials failed" in local.summary.message
    assert any("exited with code 3" in t[4] for t in kube.trials)


def test_metrics_unavailable_and_timeouts(tmp_path):
    script = """
        import sys, time
        x = float(sys.argv[1])
        if x > 2:
            time.sleep(30)
        elif x < -2:
            print("no metric here")
        else:
            print(f"loss={x * x}")
    """
    doc = component_doc("odd", script, parallelTrialCount=2, maxTrialCount=6)
    doc["trialTemplate"] = {"pipeline": {
        "name": "odd", "parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
        "steps": [{"name": "step", "component": doc["trialTemplate"]["component"], "timeout": "1s",
                   "arguments": {"x": "{{params.x}}", "y": "{{params.y}}"}}]}}  # fmt: skip
    local, kube = both(doc, tmp_path)
    same_trials(local, kube)
    states = set(local.states())
    assert {"MetricsUnavailable", "Failed"} <= states, local.states()
    assert any("timed out after 1s" in t[4] for t in kube.trials)


def test_stop_kills_running_trials_and_resume_completes(tmp_path):
    script = """
        import sys, time
        x, y = float(sys.argv[1]), float(sys.argv[2])
        for epoch in range(1, 20):
            time.sleep(0.05)
            print(f"epoch {epoch}: loss={(x - 2) ** 2 + (y + 1) ** 2}", flush=True)
    """
    doc = component_doc("stop", script, parallelTrialCount=2, maxTrialCount=4)
    for kind in ("local", "kubernetes"):
        stopped = run_on(kind, doc, tmp_path / "a", stop_after=0.5)
        assert stopped.summary.state == "Stopped"
        assert "Killed" in stopped.states()
        again = run_on(kind, doc, tmp_path / "a")
        assert again.summary.state == "Succeeded"
        assert sum(s == "Succeeded" for s in again.states()) == 4


# ----------------------------------------------------------------------------------------- crash and adoption


@pytest.mark.slow
def test_a_resumed_controller_adopts_the_pods_of_a_killed_one(tmp_path):
    """``workbench run --backend kubernetes`` is killed while its pods run; ``resume`` adopts them (no duplicates)."""
    cluster = FakeCluster(default_workdir=str(tmp_path), images={KATIB_IMAGE: str(REPO / "examples")}, validate=True)
    cluster.start()
    hold = tmp_path / "hold"
    hold.write_text("x")
    script = f"""
        import os, sys, time
        x, y = float(sys.argv[1]), float(sys.argv[2])
        print("epoch 0: started", flush=True)
        while os.path.exists({str(hold)!r}):
            time.sleep(0.05)
        for epoch in range(1, 4):
            print(f"epoch {{epoch}}: loss={{(x - 2) ** 2 + (y + 1) ** 2 + 0.5 ** epoch}}", flush=True)
    """
    doc = component_doc("adopt", script, parallelTrialCount=2, maxTrialCount=4)
    spec_file = tmp_path / "adopt.yaml"
    spec_file.write_text(yaml.safe_dump({"apiVersion": "workbench.io/v1alpha1", "kind": "Experiment",
                                         "metadata": {"name": "adopt"}, "spec": {
                                             k: v for k, v in doc.items() if k != "name"}}))  # fmt: skip
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_K8S_HOST=cluster.url, WORKBENCH_K8S_VOLUME_CLAIM="", WORKBENCH_BACKEND="kubernetes")
    workbench = Path(sys.executable).with_name("workbench")
    try:
        proc = subprocess.Popen([str(workbench), "run", str(spec_file), "--home", str(home), "-q"], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        wait_for(lambda: len([p for p in cluster.pods() if p["status"].get("phase") == "Running"]) == 2, 60,
                 "two running pods")  # fmt: skip
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        running = {p["metadata"]["name"] for p in cluster.pods()}
        assert len(running) == 2 and len(cluster.created) == 2

        lists = cluster.requests["LIST pods"]
        again = subprocess.Popen([str(workbench), "resume", "adopt", "--home", str(home), "-q"], cwd=tmp_path,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        wait_for(lambda: cluster.requests["LIST pods"] > lists, 60, "the new controller to list the pods")
        time.sleep(0.5)
        hold.unlink()  # the adopted pods go on and finish under the new controller
        out, _ = again.communicate(timeout=120)
        assert again.returncode == 0, out
        study = optuna.load_study(study_name="adopt", storage=st.open_storage(Workspace.at(home).optuna_url))
        assert [trial_state(t) for t in study.get_trials()] == ["Succeeded"] * 4  # none Killed, none run twice
        assert len(cluster.created) == 4  # the two adopted pods were not started again
        assert not cluster.pods()
    finally:
        cluster.stop()
