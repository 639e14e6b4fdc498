"""The Python API (``workbench.Experiment``, ``Parameter``, ``tune``, ``load``): real runs in tmp workspaces."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from app_helpers import PYTHON, Gated, alive, subprocess_env

import workbench
from workbench import Experiment, Parameter, SpecError, WorkbenchError
from workbench.query import experiment

#: Objective functions tuned below. Components must live in a .py file: trials import them from it.
OBJECTIVES = """
def parabola(x: float) -> float:
    return (x - 1.5) ** 2


def several(x: float, y: float) -> dict:
    return {"loss": (x - 1.5) ** 2 + y ** 2, "aux": 10.0 * x}


def two_objectives(x: float) -> dict:
    return {"a": x ** 2, "b": (x - 2.0) ** 2}


def labelled(x: float) -> dict:
    return {"loss": x ** 2, "note": "not a number"}
"""


@pytest.fixture
def objectives(tmp_path: Path) -> ModuleType:
    path = tmp_path / "objectives_mod.py"
    path.write_text(OBJECTIVES, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"objectives_{abs(hash(str(tmp_path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- Parameter


def test_parameter_builders() -> None:
    assert Parameter.double("lr", 1e-4, 1e-1, log=True).to_dict() == {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": 1e-4, "max": 1e-1, "distribution": "logUniform"},
    }
    d = Parameter.double("x", -1, 1, step=0.5)
    assert (d.parameter_type, d.feasible_space.min, d.feasible_space.max, d.feasible_space.step) == (
        "double",
        -1.0,
        1.0,
        0.5,
    )
    n = Parameter.int("layers", 1, 4)
    assert (n.parameter_type, n.feasible_space.min, n.feasible_space.max) == ("int", 1, 4)
    assert Parameter.discrete("batch", [16, 32, 64]).feasible_space.choices == ["16", "32", "64"]
    c = Parameter.categorical("opt", ["sgd", "adam"])
    assert (c.parameter_type, c.feasible_space.choices) == ("categorical", ["sgd", "adam"])


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (lambda: Parameter.double("lr", 0.5, 0.1), ["Parameter.double('lr')", "feasibleSpace.min", "max"]),
        (lambda: Parameter.int("n", 10, 1), ["Parameter.int('n')", "feasibleSpace.min"]),
        (lambda: Parameter.int("n", 1.5, 4), ["Parameter.int('n')", "whole number"]),
        (lambda: Parameter.double("lr", 0, 1, log=True), ["Parameter.double('lr')", "min > 0"]),
        (lambda: Parameter.double("x", 0, 1, step=0), ["feasibleSpace.step", "positive"]),
        (lambda: Parameter.categorical("opt", []), ["Parameter.categorical('opt')", "non-empty"]),
        (lambda: Parameter.discrete("b", []), ["Parameter.discrete('b')", "non-empty"]),
        (lambda: Parameter.discrete("b", [1, 2, 2]), ["duplicate"]),
        (lambda: Parameter.double("bad name", 0, 1), ["invalid parameter name"]),
    ],
)
def test_parameter_bad_ranges_raise_spec_error(build: Any, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_experiment_rejects_bad_search_settings_at_construction() -> None:
    params = [Parameter.double("x", -5, 5), Parameter.double("y", -5, 5)]
    with pytest.raises(SpecError, match=r"Experiment\('e'\).*spec.algorithm.algorithmName.*'annealing'"):
        Experiment(name="e", objective="loss", parameters=params, template="quadratic", algorithm="annealing")
    with pytest.raises(SpecError, match=r"algorithmSettings\[0\].value.*random_state"):
        Experiment(
            name="e",
            objective="loss",
            parameters=params,
            template="quadratic",
            algorithm="random",
            algorithm_settings={"random_state": "abc"},
        )
    with pytest.raises(SpecError, match="no trial template 'nope'"):
        Experiment(name="e", objective="loss", parameters=params, template="nope")
    with pytest.raises(SpecError, match="exactly one of"):
        Experiment(name="e", objective="loss", parameters=params)


# ----------------------------------------------------------------------------- Experiment.run


def test_experiment_run_returns_results(fresh_home: Path) -> None:
    exp = Experiment(
        name="api-quad",
        objective="loss",
        parameters=[Parameter.double("x", -5, 5), Parameter.double("y", -5, 5)],
        template="quadratic",
        arguments={"epochs": 3},
        algorithm="random",
        algorithm_settings={"random_state": 3},
        max_trials=6,
        parallel=2,
    )
    results = exp.run(workspace=fresh_home, progress=False)
    assert results.state == "Succeeded"
    df = results.trials_dataframe()
    assert len(df) == 6 and list(df["number"]) == list(range(6))
    assert list(df.columns[:5]) == ["number", "state", "params.x", "params.y", "metrics.loss"]
    assert (df["state"] == "Succeeded").all()
    best = results.best_trial
    assert best.value == pytest.approx(df["metrics.loss"].min())
    assert best.number == int(df.loc[df["metrics.loss"].idxmin(), "number"])
    assert results.best_params == best.params and set(best.params) == {"x", "y"}
    assert best.metrics["loss"] == pytest.approx(best.value)
    assert "api-quad" in repr(results) and "Succeeded" in repr(results)
    # the same results through load(), and in the workspace listing
    loaded = workbench.load("api-quad", workspace=fresh_home)
    assert loaded.best_trial.number == best.number
    listing = workbench.list_experiments(fresh_home)
    assert list(listing["name"]) == ["api-quad"] and listing.loc[0, "state"] == "Succeeded"
    assert listing.loc[0, "finished"] == 6 and str(listing["started"].dtype).startswith("datetime64")


# ----------------------------------------------------------------------------- tune


def test_tune_finds_the_optimum(objectives: ModuleType, fresh_home: Path) -> None:
    results = workbench.tune(
        objectives.parabola,
        parameters=[Parameter.double("x", -5, 5)],
        objective="loss",
        max_trials=20,
        parallel=2,
        algorithm_settings={"random_state": 0, "n_startup_trials": 5},
        workspace=fresh_home,
        progress=False,
    )
    assert results.name == "parabola" and results.state == "Succeeded"
    df = results.trials_dataframe()
    assert len(df) == 20 and (df["state"] == "Succeeded").all()
    best = results.best_trial
    assert best.params["x"] == pytest.approx(1.5, abs=0.5)
    assert best.value == pytest.approx((best.params["x"] - 1.5) ** 2)
    assert best.value < 0.25


def test_tune_a_function_returning_a_dict_of_metrics(objectives: ModuleType, fresh_home: Path) -> None:
    results = workbench.tune(
        objectives.several,
        parameters=[Parameter.double("x", -2, 2), Parameter.categorical("y", ["0", "1"])],
        objective="loss",
        additional_metrics=["aux"],
        max_trials=4,
        parallel=2,
        algorithm="random",
        name="dict-metrics",
        workspace=fresh_home,
        progress=False,
    )
    df = results.trials_dataframe()
    assert len(df) == 4 and (df["state"] == "Succeeded").all()
    assert {"metrics.loss", "metrics.aux"} <= set(df.columns)
    for _, row in df.iterrows():
        x, y = row["params.x"], float(row["params.y"])
        assert row["metrics.aux"] == pytest.approx(10 * x)
        assert row["metrics.loss"] == pytest.approx((x - 1.5) ** 2 + y**2)
    assert set(results.best_trial.metrics) == {"loss", "aux"}


def test_experiment_component_return_values_are_metrics(
    objectives: ModuleType, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Experiment(component=fn)``: a returned dict of numbers are metrics, as with ``tune`` or ``report()``."""
    monkeypatch.setenv("WORKBENCH_TRACKING_PROCESS", "0")
    space = [Parameter.double("x", -2, 2), Parameter.categorical("y", ["0", "1"])]
    common: dict[str, Any] = {"objective": "loss", "additional_metrics": ["aux"], "parameters": space}
    exp = Experiment(name="fn", component=objectives.several, algorithm="random", max_trials=2, parallel=2, **common)
    df = exp.run(workspace=fresh_home, progress=False).trials_dataframe()
    assert (df["state"] == "Succeeded").all(), df
    for _, row in df.iterrows():
        assert row["metrics.aux"] == pytest.approx(10 * row["params.x"])
        assert row["metrics.loss"] == pytest.approx((row["params.x"] - 1.5) ** 2 + float(row["params.y"]) ** 2)
    # FILE.py:FUNCTION is the same function: its return value counts too.
    monkeypatch.chdir(Path(objectives.__file__).parent)
    by_ref = Experiment(name="ref", component="objectives_mod.py:several", **common).spec.trial_template.pipeline
    assert by_ref is not None and by_ref.steps[0].component.implementation.python.report_as == "loss"


def test_returned_values_that_are_not_numbers_fail_the_step_naming_them(objectives: ModuleType, capsys) -> None:
    from workbench.runtime import launch

    spec = {"file": objectives.__file__, "function": "labelled", "params": {"x": 2.0}, "report_as": "loss"}
    with pytest.raises(SystemExit, match=r"labelled returned note='not a number' \(str\): .* must be numbers"):
        launch.main([json.dumps(spec)])
    assert capsys.readouterr().out == ""  # nothing reported: not even the numbers next to it


def test_tune_rejects_functions_trials_cannot_import(tmp_path: Path) -> None:
    def nested(x: float) -> float:
        return x

    params = [Parameter.double("x", 0, 1)]
    with pytest.raises(SpecError, match="top level"):
        workbench.tune(nested, parameters=params, workspace=tmp_path / "ws")
    with pytest.raises(SpecError, match="lambda"):
        workbench.tune(lambda x: x, parameters=params, workspace=tmp_path / "ws")
    namespace: dict[str, Any] = {}
    exec("def interactive(x: float) -> float:\n    return x\n", namespace)
    with pytest.raises(SpecError, match=r"\.py file"):
        workbench.tune(namespace["interactive"], parameters=params, workspace=tmp_path / "ws")
    assert not (tmp_path / "ws").exists()


def test_multi_objective(objectives: ModuleType, fresh_home: Path) -> None:
    results = workbench.tune(
        objectives.two_objectives,
        parameters=[Parameter.double("x", -1, 3)],
        objective=["a", "b"],
        direction=["minimize", "minimize"],
        algorithm="random",
        algorithm_settings={"random_state": 2},
        max_trials=6,
        parallel=2,
        name="pareto",
        workspace=fresh_home,
        progress=False,
    )
    front = results.best_trials
    assert front
    df = results.trials_dataframe()
    assert {"metrics.a", "metrics.b"} <= set(df.columns) and (df["state"] == "Succeeded").all()
    # no trial of the front is dominated by another trial
    for t in front:
        a, b = t.values
        assert not ((df["metrics.a"] < a) & (df["metrics.b"] < b)).any()
    with pytest.raises(WorkbenchError, match="best_trials"):
        _ = results.best_trial
    assert experiment(results.workspace, "pareto").front == len(front)
    # the CLI prints the front as a JSON list
    from typer.testing import CliRunner

    from workbench.cli import app

    cli_best = CliRunner().invoke(app, ["best", "pareto", "--home", str(fresh_home), "--json"])
    assert cli_best.exit_code == 0, cli_best.output
    assert sorted(t["number"] for t in json.loads(cli_best.stdout)) == sorted(t.number for t in front)


# ----------------------------------------------------------------------------- start / stop / wait


def test_start_and_wait(fresh_home: Path) -> None:
    exp = Experiment(
        name="api-bg",
        objective="loss",
        parameters=[Parameter.double("x", -5, 5), Parameter.double("y", -5, 5)],
        template="quadratic",
        arguments={"epochs": 2},
        algorithm="random",
        max_trials=3,
        parallel=2,
    )
    handle = exp.start(workspace=fresh_home)
    results = handle.wait(timeout=120)
    assert handle.done and results.state == "Succeeded"
    assert len(results.trials_dataframe()) == 3


def test_start_then_stop(fresh_home: Path, gated: Gated) -> None:
    exp = Experiment(
        name="api-stop",
        objective="loss",
        parameters=[Parameter.double("x", -5, 5), Parameter.double("y", -5, 5)],
        pipeline=gated.pipeline,
        arguments=gated.arguments(),
        algorithm="random",
        max_trials=4,
        parallel=2,
    )
    handle = exp.start(workspace=fresh_home)
    try:
        pids = gated.wait_started(2)
        assert not handle.done
        with pytest.raises(TimeoutError):
            handle.wait(timeout=0.1)
    finally:
        handle.stop()
    results = handle.wait(timeout=30)
    assert results.state == "Stopped"
    df = results.trials_dataframe()
    assert len(df) == 2 and (df["state"] == "Killed").all()
    assert not any(alive(pid) for pid in pids)


# ----------------------------------------------------------------------------- load


def test_load_missing_experiment(tmp_path: Path, quad_home: dict[str, Any]) -> None:
    with pytest.raises(WorkbenchError) as info:
        workbench.load("missing", workspace=tmp_path / "nowhere")
    message = str(info.value)
    assert "no experiment named 'missing'" in message and str(tmp_path / "nowhere") in message
    assert "experiments: none" in message
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(WorkbenchError, match=r"no experiment named 'missing'.*quad-cli"):
        workbench.load("missing", workspace=quad_home["home"])


def test_load_uses_workbench_home(quad_home: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(quad_home["home"]))
    assert len(workbench.load("quad-cli").trials_dataframe()) == 6


# ----------------------------------------------------------------------------- imports


def test_importing_workbench_is_light(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import workbench, workbench.runtime, workbench.runtime.launch\n"
        "heavy = ('optuna', 'mlflow', 'pandas', 'pydantic', 'sqlalchemy', 'sklearn', 'ml_metadata', 'typer')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
        "workbench.tune\n"
        "print(json.dumps([m for m in ('optuna', 'pandas') if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [PYTHON, "-c", code], cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    before, after = (json.loads(line) for line in proc.stdout.splitlines())
    assert before == []
    assert after == ["optuna", "pandas"]  # the lazy names still work


def test_lazy_names() -> None:
    from workbench import api

    assert workbench.Experiment is api.Experiment and workbench.tune is api.tune
    assert {"Experiment", "tune", "load", "Results"} <= set(dir(workbench))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        workbench.nope  # noqa: B018


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
def test_ctrl_c_in_experiment_run(fresh_home: Path, gated: Gated, tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from workbench import Experiment, Parameter

            if __name__ == "__main__":
                exp = Experiment(
                    name="api-interrupted", objective="loss", algorithm="random", max_trials=4, parallel=2,
                    parameters=[Parameter.double("x", -5, 5), Parameter.double("y", -5, 5)],
                    pipeline={str(gated.pipeline)!r}, arguments={gated.arguments()!r},
                )
                try:
                    exp.run(workspace={str(fresh_home)!r}, progress=False)
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
                    sys.exit(42)
                print("not interrupted", flush=True)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        pids = gated.wait_started(2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 42 and "interrupted" in out
    results = workbench.load("api-interrupted", workspace=fresh_home)
    assert results.state == "Stopped"
    df = results.trials_dataframe()
    assert len(df) == 2 and (df["state"] == "Killed").all()
    assert not any(alive(pid) for pid in pids)
