"""Helpers for the dashboard tests: build a real workspace by running small experiments through the CLI.

The workspace holds (all real runs, no hand-made store contents):

- ``quad-ui``: the ``quadratic`` catalog template, random search, 8 trials, 2 in parallel, median
  stopping (intermediate values, pruned trials);
- ``zoo-mo``: a multi-objective experiment (minimize ``loss`` and ``size``) over the ``zoo`` test
  template (``tests/ui/zoo``), whose steps write one artifact of every previewable kind;
- ``sk-ui``: one trial of the ``sklearn-classifier`` template (Model folder, Metrics, confusion matrix);
- ``hostile-md``: one trial whose step fails printing Markdown with an outside image and link (the
  dashboard must show it as text; ``zoo``'s Markdown artifact holds the same);
- one standalone run of the ``zoo`` pipeline (not a trial) for the Runs page.

The controller and the engine are used as ``workbench run`` uses them, in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = sys.executable
ZOO = HERE / "zoo"
APP = str(REPO / "ui" / "app.py")


def open_page(
    home: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None, launch: bool = False, **params: Any
) -> AppTest:
    """Run the dashboard on ``home`` as a browser would open ``page`` (``views/<page>.py``) with ``params``.

    Launching from the dashboard stays off unless ``launch``; the page must render without an exception.
    """
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    if launch:
        monkeypatch.setenv("WORKBENCH_UI_ALLOW_LAUNCH", "1")
    else:
        monkeypatch.delenv("WORKBENCH_UI_ALLOW_LAUNCH", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    if page:
        at.switch_page(f"views/{page}.py")
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    out["PYTHONPATH"] = os.pathsep.join([str(REPO), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    return out


def run_cli(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [PYTHON, "-m", "workbench", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise AssertionError(f"workbench {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def experiment_doc(name: str, template: Any, parameters: list[dict[str, Any]], trials: int, **spec: Any) -> dict:
    doc = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
            "parallelTrialCount": 2,
            "maxTrialCount": trials,
            "parameters": parameters,
            "trialTemplate": template,
        },
    }
    doc["spec"].update(spec)
    return doc


def double(name: str, low: float, high: float) -> dict[str, Any]:
    return {"name": name, "parameterType": "double", "feasibleSpace": {"min": str(low), "max": str(high)}}


#: An address nothing answers (TEST-NET-2): a browser that fetches it makes an outside request.
OUTSIDE = "http://198.51.100.7"
HOSTILE_STEP = (
    f"import sys; print('![pixel]({OUTSIDE}/step.png) [here]({OUTSIDE}/) :red[alarm]', file=sys.stderr); sys.exit(3)"
)
#: The final state of each experiment ``build_workspace`` runs.
STATES = {"quad-ui": "Succeeded", "zoo-mo": "Succeeded", "sk-ui": "Succeeded", "hostile-md": "Failed"}


def build_workspace(folder: Path) -> Path:
    """Run the experiments above into ``folder/home``; returns the workspace folder."""
    home = folder / "home"
    specs = {
        "quad-ui": experiment_doc(
            "quad-ui",
            {"template": "quadratic", "arguments": {"epochs": 6}},
            [double("x", -5, 5), double("y", -5, 5)],
            8,
            earlyStopping={
                "algorithmName": "medianstop",
                "algorithmSettings": [
                    {"name": "min_trials_required", "value": "2"},
                    {"name": "start_step", "value": "2"},
                ],
            },
        ),
        "zoo-mo": experiment_doc(
            "zoo-mo",
            {"pipeline": str(ZOO / "pipeline.yaml")},
            [double("scale", 0.5, 2.5)],
            3,
            objective={
                "objectives": [{"metricName": "loss", "type": "minimize"}, {"metricName": "size", "type": "minimize"}]
            },
        ),
        "sk-ui": experiment_doc(
            "sk-ui",
            {"template": "sklearn-classifier", "arguments": {"dataset": "iris", "epochs": 3}},
            [double("alpha", 1e-7, 1e-5)],  # a value people misread at 6 decimals (1.7e-06 is not 0.000002)
            1,
            parallelTrialCount=1,
            objective={
                "type": "maximize",
                "objectiveMetricName": "accuracy",
                "additionalMetricNames": ["f1"],
                "metricStrategies": [{"name": "accuracy", "value": "latest"}],
            },
        ),
        "hostile-md": experiment_doc(
            "hostile-md",
            {
                "pipeline": {
                    "name": "hostile",
                    "parameters": [{"name": "x", "type": "Float"}],
                    "steps": [
                        {
                            "name": "boom",
                            "component": {
                                "name": "boom",
                                "inputs": [{"name": "x", "type": "Float"}],
                                "implementation": {
                                    "container": {"command": [PYTHON, "-c", HOSTILE_STEP, {"inputValue": "x"}]}
                                },
                            },
                            "arguments": {"x": "{{params.x}}"},
                        }
                    ],
                }
            },
            [double("x", 0, 1)],
            1,
            parallelTrialCount=1,
        ),
    }
    paths = []
    for name, doc in specs.items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        paths.append(str(path))
    # One process runs the three experiments (what ``workbench run`` does for each) and a standalone run:
    # the imports and store setup are paid once.
    proc = subprocess.run(
        [PYTHON, "-c", BUILD, str(home), str(ZOO / "pipeline.yaml"), *paths],
        cwd=folder,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == [STATES[n] for n in specs] + ["Succeeded"], proc.stdout + proc.stderr
    return home


BUILD = """
import sys, uuid
from workbench.backends import LocalBackend
from workbench.engine import PipelineRunner, RunContext
from workbench.search.controller import Controller
from workbench.spec import load_experiment, load_pipeline
from workbench.tracking import make_recorder
from workbench.workspace import Workspace

ws = Workspace.at(sys.argv[1])
for path in sys.argv[3:]:
    print(Controller(load_experiment(path), ws).run().state, flush=True)
recorder = make_recorder(ws)
result = PipelineRunner(LocalBackend(), ws, recorder=recorder).run(
    load_pipeline(sys.argv[2]), {"scale": 1.25}, RunContext(experiment="adhoc", run_id=uuid.uuid4().hex))
recorder.flush()
recorder.close()
print(result.state)
"""
