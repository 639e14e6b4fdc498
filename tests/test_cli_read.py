"""The read commands of ``workbench/cli.py`` (``ls``, ``show``, ``best``, ``trials``) on studies written straight
through Optuna's JournalStorage (no sweep: fast): what they draw, that they agree with Optuna, and what they import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from app_helpers import subprocess_env
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial
from typer.testing import CliRunner

from workbench.cli import app
from workbench.search import _storage as st

#: Modules a command that only reads the Optuna journal must not import (their import is most of a slow start).
HEAVY = ("optuna", "pandas", "numpy", "mlflow", "ml_metadata", "streamlit", "kubernetes", "sqlalchemy", "plotly")


def _spec(name: str, directions: list[str], trials: int) -> dict[str, Any]:
    metrics = ["loss", "size"][: len(directions)]
    objective: dict[str, Any] = {"type": directions[0], "objectiveMetricName": metrics[0]}
    if len(directions) > 1:
        objective["objectives"] = [{"metricName": m, "type": d} for m, d in zip(metrics, directions, strict=True)]
    parameters = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}},
        {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
        {"name": "kind", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
    ]
    return {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": objective,
            "algorithm": {"algorithmName": "random"},
            "maxTrialCount": trials,
            "parameters": parameters,
        },
    }


def _write_experiment(storage: optuna.storages.BaseStorage, name: str, directions: list[str], trials: int) -> None:
    """An experiment as a controller leaves it: spec and state attributes, trials with Workbench's attributes.

    Trial 3 fails and trial 5 is pruned; the others succeed (the values tie in places, as real ones can).
    """
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    study.set_user_attr(st.ATTR_SPEC, _spec(name, directions, trials))
    study.set_user_attr(st.ATTR_STATE, "Succeeded")
    study.set_user_attr(st.ATTR_STARTED, time.time() - 100)
    study.set_user_attr(st.ATTR_FINISHED, time.time())
    dists = {"x": FloatDistribution(-5, 5), "n": IntDistribution(1, 9), "kind": CategoricalDistribution(["a", "b"])}
    for k in range(trials):
        params = {"x": (k * 7 % 11) - 5.0, "n": k % 9 + 1, "kind": "ab"[k % 2]}
        loss = round((params["x"] - 1) ** 2, 3)
        values = [loss, float(params["n"])][: len(directions)]
        state = TrialState.FAIL if k == 3 else TrialState.PRUNED if k == 5 else TrialState.COMPLETE
        wb_state = {TrialState.FAIL: "Failed", TrialState.PRUNED: "Pruned"}.get(state, "Succeeded")
        metrics = dict(zip(["loss", "size"], values, strict=False)) if state == TrialState.COMPLETE else {}
        attrs = {st.T_STATE: wb_state, st.T_METRICS: metrics, st.T_RUN_ID: f"run-{name}-{k}"}
        attrs[st.T_MESSAGE] = "step train failed (exit 1)" if state == TrialState.FAIL else ""
        study.add_trial(
            create_trial(
                state=state,
                params=params,
                distributions=dists,
                values=values if state == TrialState.COMPLETE else None,
                user_attrs=attrs,
            )
        )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding ``many`` (14 trials, minimize loss) and ``pareto`` (12 trials, minimize loss and size)."""
    folder = tmp_path_factory.mktemp("cli-read")
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "optuna.journal")))
    _write_experiment(storage, "many", ["minimize"], 14)
    _write_experiment(storage, "pareto", ["minimize", "minimize"], 12)
    return folder


def _study(home: Path, name: str) -> optuna.Study:
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(home / "optuna.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def table_numbers(text: str) -> list[int]:
    """The trial numbers of the rows of the rich tables in ``text``."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()]
    return [int(r[0]) for r in rows if r and r[0].isdigit()]


def _ranked(study: optuna.Study) -> list[int]:
    """Trial numbers best first as Optuna sees them: succeeded by value (ties in trial order), then the others."""
    done = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: (t.value, t.number))
    rest = [t.number for t in study.trials if t.state != TrialState.COMPLETE]
    return [t.number for t in done] + rest


# ----------------------------------------------------------------------------- show


def test_show_draws_the_best_10_trials_and_says_how_to_see_all(home: Path) -> None:
    out = invoke("show", "many", "--home", str(home)).stdout
    expected = _ranked(_study(home, "many"))
    assert table_numbers(out) == expected[:10]
    assert "best 10 of 14; every trial: workbench show many --all" in out
    assert "trial 3 Failed: step train failed (exit 1)" in out  # problems are listed whether drawn or not

    every = invoke("show", "many", "--all", "--home", str(home)).stdout
    assert table_numbers(every) == expected
    assert "best 10 of" not in every and "--all" not in every

    three = invoke("show", "many", "--limit", "3", "--home", str(home)).stdout
    assert table_numbers(three) == expected[:3] and "best 3 of 14" in three


def test_show_of_a_multi_objective_experiment_draws_the_pareto_front_first(home: Path) -> None:
    out = invoke("show", "pareto", "--home", str(home)).stdout
    front = sorted(t.number for t in _study(home, "pareto").best_trials)
    numbers = table_numbers(out.split("problems:")[0])
    assert numbers[: len(front)] == front and len(numbers) == 10
    assert "Pareto front first, 10 of 12; every trial: workbench show pareto --all" in out
    assert f"{len(front)} trials: {', '.join(map(str, front))}" in out
    every = table_numbers(invoke("show", "pareto", "--all", "--home", str(home)).stdout.split("problems:")[0])
    assert every[:10] == numbers and sorted(every) == list(range(12)) and every[-2:] == [3, 5]  # no results last


# ----------------------------------------------------------------------------- best, trials


def test_best_is_the_trial_optuna_calls_best(home: Path) -> None:
    study = _study(home, "many")
    got = json.loads(invoke("best", "many", "--json", "--home", str(home)).stdout)
    best = study.best_trial
    assert (got["number"], got["params"], got["values"]) == (best.number, best.params, best.values)
    assert got["metrics"] == {"loss": best.value}

    pareto = _study(home, "pareto")
    got = json.loads(invoke("best", "pareto", "--json", "--home", str(home)).stdout)
    expected = sorted(pareto.best_trials, key=lambda t: t.number)
    assert [(g["number"], g["params"], g["values"]) for g in got] == [(t.number, t.params, t.values) for t in expected]


def test_trials_draws_every_trial_in_order(home: Path) -> None:
    out = invoke("trials", "many", "--home", str(home)).stdout
    assert table_numbers(out) == list(range(14))
    assert "problems:" in out and "trial 3 Failed" in out


# ----------------------------------------------------------------------------- imports


@pytest.mark.parametrize(
    "args",
    [["--help"], ["ls"], ["show", "many"], ["best", "many"], ["trials", "many"]],
    ids=["help", "ls", "show", "best", "trials"],
)
def test_read_commands_import_no_heavy_module(home: Path, args: list[str]) -> None:
    """The whole ``workbench`` entry point, as a user starts it: Python's own import log lists every module."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "workbench", *args],
        env=subprocess_env(WORKBENCH_HOME=str(home)),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = set(re.findall(r"^import time:.*\|\s*([\w.]+)$", proc.stderr, re.MULTILINE))
    assert imported, "no import log"
    heavy = sorted({m.split(".")[0] for m in imported} & set(HEAVY))
    assert heavy == [], f"`workbench {' '.join(args)}` imported {heavy}"
