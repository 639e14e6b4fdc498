"""Helpers for the tests of workbench.search: ExperimentSpecs built through the loader, processes, waiting."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from workbench.errors import SpecError
from workbench.spec import ExperimentSpec, experiment_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)

_INPUT_TYPES = {"double": "Float", "int": "Integer", "discrete": "Float", "categorical": "String"}

X = {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-1", "max": "1"}}
N = {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "8"}}
OPT = {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam", "ftrl"]}}
BS = {"name": "bs", "parameterType": "discrete", "feasibleSpace": {"list": ["16", "32", "64"]}}


def trial_pipeline(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """A one-step pipeline whose parameters are exactly the search parameters."""
    inputs = [{"name": p["name"], "type": _INPUT_TYPES[p["parameterType"]]} for p in parameters]
    command: list[Any] = ["echo"] + [{"inputValue": p["name"]} for p in parameters]
    return {
        "name": "trial",
        "parameters": inputs,
        "steps": [
            {
                "name": "noop",
                "component": {"name": "noop", "inputs": inputs, "implementation": {"container": {"command": command}}},
                "arguments": {p["name"]: "{{params." + p["name"] + "}}" for p in parameters},
            }
        ],
    }


def make_spec(
    parameters: list[dict[str, Any]] | None = None,
    *,
    algorithm: str = "random",
    settings: dict[str, Any] | list[tuple[str, Any]] | None = None,
    early_stopping: str | None = None,
    early_settings: dict[str, Any] | None = None,
    objective: dict[str, Any] | None = None,
    base_dir: Path | None = None,
    **extra: Any,
) -> ExperimentSpec:
    """An ExperimentSpec (Workbench form) loaded through ``experiment_from_dict``."""
    parameters = parameters if parameters is not None else [X, N, OPT]
    items = settings.items() if isinstance(settings, dict) else (settings or [])
    doc: dict[str, Any] = {
        "name": "exp",
        "objective": objective or {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": algorithm, "algorithmSettings": [{"name": k, "value": v} for k, v in items]},
        "parameters": parameters,
        "trialTemplate": {"pipeline": trial_pipeline(parameters)},
        **extra,
    }
    if early_stopping:
        doc["earlyStopping"] = {
            "algorithmName": early_stopping,
            "algorithmSettings": [{"name": k, "value": v} for k, v in (early_settings or {}).items()],
        }
    return experiment_from_dict(doc, base_dir or Path("."))


MULTI = {"objectives": [{"metricName": "loss", "type": "minimize"}, {"metricName": "latency", "type": "minimize"}]}


def raises_at(path: str, *fragments: str) -> Any:
    """``with raises_at("spec.x", "word"):`` -- a SpecError with that exact path mentioning each fragment."""
    return _RaisesAt(path, fragments)


class _RaisesAt:
    def __init__(self, path: str, fragments: tuple[str, ...]) -> None:
        self.path = path
        self.fragments = fragments
        self._ctx = pytest.raises(SpecError)

    def __enter__(self) -> Any:
        self.info = self._ctx.__enter__()
        return self.info

    def __exit__(self, *exc: Any) -> bool:
        handled = self._ctx.__exit__(*exc)
        err = self.info.value
        assert err.path == self.path, f"path {err.path!r} != {self.path!r} ({err.message})"
        for fragment in self.fragments:
            assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
        return bool(handled)


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (zombies do not count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "stat").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and status.rsplit(")", 1)[-1].split()[0] != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def slow_script(
    marker: str, epochs: int = 4, seconds: float = 0.2, hold: Path | None = None, ignore_term: bool = False
) -> str:
    """A slow quadratic: reports ``loss=`` every epoch, ``seconds`` apart.

    With ``hold`` given, the step runs for a minute while that file exists. When its output
    pipe breaks (its controller died), it keeps running for a minute, like a silent training
    job would. ``ignore_term``: SIGTERM does not stop it. ``marker`` is in the command line, so
    the process can be found.
    """
    hold_path = str(hold) if hold else ""
    return f"""
        import os, signal, sys, time
        if {ignore_term}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        x, y = float(sys.argv[1]), float(sys.argv[2])
        marker = {marker!r}  # finds the process by its command line
        bowl = (x - 2) ** 2 + (y + 1) ** 2
        epochs = {epochs}
        if {hold_path!r} and os.path.exists({hold_path!r}):
            epochs = 600
        try:
            for epoch in range(1, epochs + 1):
                time.sleep({seconds})
                print(f"epoch {{epoch}}: loss={{bowl + (1 + bowl) * 0.5 ** epoch}}", flush=True)
        except BrokenPipeError:
            time.sleep(60)
        """
