"""Helpers of the fault-injection suite: experiments as a user writes them, ``workbench`` as a process, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import yaml

from workbench.search import _storage as st

WORKBENCH = Path(sys.executable).with_name("workbench")

#: A step that reports a loss per epoch, then writes ``size`` bytes to its output (``size`` 0: no output).
STEP = """
import sys, time
x, size, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for epoch in range(1, 3):
    time.sleep(SLEEP)
    print(f"loss={(x - 1) ** 2 + 1 / epoch}", flush=True)
with open(out, "w") as fh:
    fh.write("w" * size)
"""


class Tmpfs:
    """A mounted tmpfs of a few megabytes (``path``); :meth:`read_only` remounts it read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, capture_output=True)


def experiment(
    name: str, trials: int = 6, parallel: int = 2, failures: int | None = None, size: int = 0, sleep: float = 0.1
) -> dict[str, Any]:
    """An experiment whose one step writes ``size`` bytes of output (a model)."""
    script = textwrap.dedent(STEP).replace("SLEEP", repr(sleep))
    command = ["python3", "-c", script, {"inputValue": "x"}, str(size), {"outputPath": "model"}]
    return component_experiment(name, command, trials=trials, parallel=parallel, failures=failures)


def component_experiment(
    name: str, command: list[Any], trials: int = 6, parallel: int = 2, failures: int | None = None,
    outputs: tuple[str, ...] = ("model",), seed: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """A random search over ``x`` in [-3, 3] whose trial is one component running ``command``.

    ``command`` may use ``{"inputValue": "x"}`` and ``{"outputPath": <name>}`` for each of ``outputs`` (Models).
    """
    spec: dict[str, Any] = {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": str(seed)}]},
        "parallelTrialCount": parallel,
        "maxTrialCount": trials,
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-3", "max": "3"}}],
        "trialTemplate": {
            "component": {
                "name": "fit",
                "inputs": [{"name": "x", "type": "Float"}],
                "outputs": [{"name": o, "type": "Model"} for o in outputs],
                "implementation": {"container": {"command": command}},
            }
        },
    }
    if failures is not None:
        spec["maxFailedTrialCount"] = failures
    return {"apiVersion": "workbench.io/v1alpha1", "kind": "Experiment", "metadata": {"name": name}, "spec": spec}


def write_spec(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def env(**extra: str) -> dict[str, str]:
    """The environment of a ``workbench`` process: the stores come from the workspace's settings only."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}, **extra}


def start(*args: str, cwd: Path, **extra: str) -> subprocess.Popen[str]:
    """``workbench ARGS`` as a process (its own session), output captured."""
    return subprocess.Popen(
        [str(WORKBENCH), *args], cwd=cwd, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def settings(home: Path, **stores: str) -> Path:
    """A workspace whose ``workbench.toml`` points stores elsewhere (``optuna``, ``mlflow``, ``artifacts``, ...)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "workbench.toml").write_text("".join(f'{k} = "{v}"\n' for k, v in stores.items()))
    return home


def trials(storage_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = st.open_storage(storage_url)
    if not st.study_exists(storage, name):
        return []
    return storage.get_all_trials(storage.get_study_id_from_name(name))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120.0, proc: subprocess.Popen[str] | None = None):
    """Wait until ``check()``; fail with ``what`` (and the process's output if it ended) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"workbench exited ({proc.returncode}) before {what}:\n{out[-3000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)
