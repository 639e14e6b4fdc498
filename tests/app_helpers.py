"""Helpers for the CLI, Python API and read-model tests (tests/test_cli.py, test_api.py, test_query.py).

Experiments here are real: real workspaces under tmp_path, real step processes, real
MLflow / ML Metadata / Optuna stores. Trial templates:

- ``quadratic`` from the catalog (instant);
- a *gated* pipeline written into tmp_path: each step records its pid and blocks until a
  gate file exists, so a test decides when trials finish (Ctrl-C, stop, crash);
- a *failing* component whose every trial raises.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def quadratic_doc(name: str, trials: int = 6, parallel: int = 2, seed: int = 1, **spec: Any) -> dict[str, Any]:
    """A Workbench Experiment over the quadratic template: random search, ``epochs: 3``."""
    doc: dict[str, Any] = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {
                "algorithmName": "random",
                "algorithmSettings": [{"name": "random_state", "value": str(seed)}],
            },
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "parameters": [
                {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}},
                {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}},
            ],
            "trialTemplate": {"template": "quadratic", "arguments": {"epochs": 3}},
        },
    }
    doc["spec"].update(copy.deepcopy(spec))
    return doc


def synthetic_experiment(
    home: Path,
    name: str,
    objectives: list[tuple[str, str]],
    trials: list[tuple[float, list[float] | None]],
    namespace: str = "default",
) -> Any:
    """An experiment written straight into a workspace's Optuna store (no step runs): a spec over one double
    parameter ``x`` in [0, 100] and ``objectives`` (name, direction); one trial per ``(x, values)`` (``None``:
    a Failed trial). Returns the study."""
    import optuna
    from optuna.distributions import FloatDistribution

    from workbench.search import _storage as st
    from workbench.workspace import Workspace

    workspace = Workspace.at(home)
    workspace.ensure()
    study = optuna.create_study(
        study_name=name, storage=st.open_storage(workspace.optuna_url), directions=[d for _, d in objectives]
    )
    objective: dict[str, Any] = (
        {"type": objectives[0][1], "objectiveMetricName": objectives[0][0]}
        if len(objectives) == 1
        else {"objectives": [{"metricName": m, "type": d} for m, d in objectives]}
    )
    spec = {
        "objective": objective,
        "algorithm": {"algorithmName": "random"},
        "maxTrialCount": len(trials),
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "100"}}],
        "trialTemplate": {"template": "quadratic"},
    }
    doc = {"apiVersion": "workbench.io/v1alpha1", "kind": "Experiment",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip
    for key, value in ((st.ATTR_SPEC, doc), (st.ATTR_STATE, "Succeeded"), (st.ATTR_NAMESPACE, namespace),
                       (st.ATTR_STARTED, time.time())):  # fmt: skip
        study.set_user_attr(key, value)
    for x, values in trials:
        metrics = dict(zip([m for m, _ in objectives], values or [], strict=False))
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x},
                distributions={"x": FloatDistribution(0, 100)},
                values=values,
                state=optuna.trial.TrialState.COMPLETE if values else optuna.trial.TrialState.FAIL,
                user_attrs={st.T_METRICS: metrics, st.T_STATE: "Succeeded" if values else "Failed"},
            )
        )
    return study


def write_yaml(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- gated trials

GATED_STEPS = '''
import os
import time
from pathlib import Path

import workbench


def wait_for_gate(x: float, y: float, gate: str, pids: str) -> float:
    """Record this process, block until the gate file exists, then report the bowl."""
    Path(pids).mkdir(parents=True, exist_ok=True)
    Path(pids, str(os.getpid())).write_text(str(x))
    while not os.path.exists(gate):
        time.sleep(0.05)
    loss = (x - 2.0) ** 2 + (y + 1.0) ** 2
    workbench.report(loss=loss)
    return loss
'''

GATED_PIPELINE = {
    "apiVersion": "workbench.io/v1alpha1",
    "kind": "Pipeline",
    "metadata": {"name": "gated"},
    "spec": {
        "parameters": [
            {"name": "x", "type": "Float"},
            {"name": "y", "type": "Float"},
            {"name": "gate", "type": "String"},
            {"name": "pids", "type": "String"},
        ],
        "steps": [
            {
                "name": "gated",
                "component": "steps.py:wait_for_gate",
                "arguments": {
                    "x": "{{params.x}}",
                    "y": "{{params.y}}",
                    "gate": "{{params.gate}}",
                    "pids": "{{params.pids}}",
                },
                "timeout": "2m",
            }
        ],
    },
}


class Gated:
    """A gated trial template in ``folder``: trials run until :meth:`open` is called."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.gate = folder / "gate.open"
        self.pids = folder / "pids"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "steps.py").write_text(textwrap.dedent(GATED_STEPS), encoding="utf-8")
        self.pipeline = write_yaml(folder / "pipeline.yaml", GATED_PIPELINE)

    def arguments(self) -> dict[str, str]:
        return {"gate": str(self.gate), "pids": str(self.pids)}

    def doc(self, name: str, trials: int = 4, parallel: int = 2) -> dict[str, Any]:
        return quadratic_doc(
            name,
            trials=trials,
            parallel=parallel,
            trialTemplate={"pipeline": str(self.pipeline), "arguments": self.arguments()},
        )

    def started(self) -> list[int]:
        """Pids of the steps that started so far."""
        return [int(p.name) for p in self.pids.iterdir()] if self.pids.is_dir() else []

    def wait_started(self, n: int, timeout: float = 60.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.started()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{n} gated steps did not start within {timeout}s (started: {self.started()})")
            time.sleep(0.05)
        return self.started()

    def open(self) -> None:
        self.gate.write_text("open")

    def cleanup(self) -> None:
        """Let every step we started finish, and kill any that does not (by its recorded pid)."""
        self.open()
        deadline = time.monotonic() + 5
        for pid in self.started():
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# ----------------------------------------------------------------------------- failing trials

FAILING_STEPS = """
def explode(x: float, y: float) -> float:
    raise ValueError(f"boom at x={x:.3f}")
"""


def failing_doc(folder: Path, name: str, trials: int = 3, **spec: Any) -> dict[str, Any]:
    """An experiment whose every trial raises ``ValueError("boom ...")``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "failing.py").write_text(textwrap.dedent(FAILING_STEPS), encoding="utf-8")
    return quadratic_doc(
        name, trials=trials, trialTemplate={"component": str(folder / "failing.py") + ":explode"}, **spec
    )


# ----------------------------------------------------------------------------- processes


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WORKBENCH_HOME", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(*args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m workbench ARGS`` in a subprocess."""
    return subprocess.run(
        [PYTHON, "-m", "workbench", *args],
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """``python -m workbench ARGS`` started in the background (output to files in cwd)."""
    return subprocess.Popen(
        [PYTHON, "-m", "workbench", *args],
        cwd=cwd,
        env=subprocess_env(**env),
        stdout=(cwd / "stdout.txt").open("w"),
        stderr=(cwd / "stderr.txt").open("w"),
        text=True,
    )
