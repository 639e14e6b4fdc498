"""The ``workbench`` command line: real workspaces, real step processes.

Most commands run in-process through typer's ``CliRunner`` (same app, same exit codes);
``run`` of a fresh workspace, ``trials --csv``, a crash and Ctrl-C run ``python -m
workbench`` as a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from app_helpers import Gated, alive, cli, failing_doc, quadratic_doc, start_cli, synthetic_experiment, write_yaml
from typer.testing import CliRunner

from workbench.cli import app
from workbench.format import format_value
from workbench.query import experiment, load_study, trials_dataframe
from workbench.workspace import Workspace

COMMANDS = ["run", "resume", "stop", "ls", "show", "best", "trials", "templates", "validate"]


def invoke(*args: str, **env: str) -> Any:
    """Run the CLI in-process; ``result.stdout`` / ``result.stderr`` / ``result.exit_code``."""
    return CliRunner().invoke(app, list(args), env=env or None, catch_exceptions=False)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the rich tables in ``text`` whose first cell is a trial number."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0].isdigit():
            rows.append(cells)
    return rows


# ----------------------------------------------------------------------------- help


def test_no_arguments_prints_usage() -> None:
    result = invoke()
    assert result.exit_code in (0, 2)
    for command in COMMANDS:
        assert command in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and command in result.output
    if command not in ("templates", "ls"):
        assert "--home" in result.output or command == "validate"


def test_python_dash_m_workbench_runs_the_cli(tmp_path: Path) -> None:
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "validate" in proc.stdout


# ----------------------------------------------------------------------------- bad specs

STEPS_PY = "def f(v: float, x: float = 0.0, y: float = 0.0) -> float:\n    return v\n"


def _inline_pipeline(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pipeline": {
            "apiVersion": "workbench.io/v1alpha1",
            "kind": "Pipeline",
            "metadata": {"name": "p"},
            "spec": {"parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}], "steps": steps},
        }
    }


def _katib(command: list[str], trial_parameters: list[dict[str, str]]) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11-slim", "command": command}
    return {
        "primaryContainerName": "main",
        "trialParameters": trial_parameters,
        "trialSpec": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
        },
    }


def _bad(case: str) -> Any:
    """The document of a bad experiment (a string: raw YAML text; None: no file at all)."""
    doc = quadratic_doc("bad")
    spec = doc["spec"]
    if case == "malformed-yaml":
        return "apiVersion: workbench.io/v1alpha1\nspec:\n  objective: [unclosed\n  algorithm: : x\n"
    if case == "missing-file":
        return None
    if case == "unknown-algorithm":
        spec["algorithm"] = {"algorithmName": "simulated-annealing"}
    elif case == "setting-wrong-type":
        spec["algorithm"]["algorithmSettings"] = [{"name": "random_state", "value": "abc"}]
    elif case == "min-greater-than-max":
        spec["parameters"][1]["feasibleSpace"] = {"min": "3", "max": "-3"}
    elif case == "empty-categorical":
        spec["parameters"].append({"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": []}})
    elif case == "grid-double-without-step":
        spec["algorithm"] = {"algorithmName": "grid"}
    elif case == "pipeline-cycle":
        spec["trialTemplate"] = _inline_pipeline(
            [
                {"name": "a", "component": "steps.py:f", "arguments": {"v": "{{steps.b.outputs.Output}}"}},
                {"name": "b", "component": "steps.py:f", "arguments": {"v": "{{steps.a.outputs.Output}}"}},
            ]
        )
    elif case == "unproduced-output":
        spec["trialTemplate"] = _inline_pipeline(
            [
                {"name": "a", "component": "steps.py:f", "arguments": {"v": "{{params.x}}", "y": "{{params.y}}"}},
                {"name": "b", "component": "steps.py:f", "arguments": {"v": "{{steps.a.outputs.model}}"}},
            ]
        )
    elif case == "unknown-trial-parameter":
        spec["trialTemplate"] = _katib(
            ["python3", "-c", "print(1)", "${trialParameters.lr}"],
            [{"name": "lr", "reference": "learning_rate"}],
        )
    else:  # pragma: no cover
        raise ValueError(case)
    return doc


#: case -> fragments the error message must contain (besides the file path).
BAD_SPECS = {
    "malformed-yaml": ["malformed YAML", "line 4"],
    "unknown-algorithm": ["spec.algorithm.algorithmName", "simulated-annealing"],
    "setting-wrong-type": ["spec.algorithm.algorithmSettings[0].value", "random_state", "'abc'"],
    "min-greater-than-max": ["spec.parameters[1].feasibleSpace.min", "max"],
    "empty-categorical": ["spec.parameters[2].feasibleSpace.list", "non-empty"],
    "grid-double-without-step": ["spec.parameters[0].feasibleSpace.step", "grid"],
    "pipeline-cycle": ["spec.trialTemplate.pipeline.spec.steps", "cycle", "a -> b -> a"],
    "unproduced-output": ["spec.trialTemplate.pipeline.spec.steps[1].arguments.v", "'model'"],
    "unknown-trial-parameter": ["spec.trialTemplate.trialParameters[0].reference", "learning_rate"],
    "missing-file": ["not found"],
}


def _write_bad(tmp_path: Path, case: str) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "steps.py").write_text(STEPS_PY)
    path = folder / f"{case}.yaml"
    doc = _bad(case)
    if isinstance(doc, str):
        path.write_text(doc)
    elif doc is not None:
        write_yaml(path, doc)
    return path


def _check_error(result: Any, path: Path, fragments: list[str]) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert message.startswith("error: "), message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in result.output
    assert "\n" not in message.strip(), f"the error is one unwrapped line: {message!r}"


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_validate_rejects_bad_spec_and_writes_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_bad(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", str(path), WORKBENCH_HOME=str(tmp_path / "env-home"))
    _check_error(result, path, BAD_SPECS[case])
    assert not (tmp_path / ".workbench").exists()
    assert not (tmp_path / "env-home").exists()


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_run_rejects_bad_spec_and_writes_nothing(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_bad(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    result = invoke("run", str(path), "--home", str(home))
    _check_error(result, path, BAD_SPECS[case])
    assert not home.exists() or not any(home.iterdir())
    assert not (tmp_path / ".workbench").exists()


def test_bad_spec_exit_code_in_a_subprocess(tmp_path: Path) -> None:
    """The installed entry point (``main``) maps errors to exit codes too."""
    path = _write_bad(tmp_path, "min-greater-than-max")
    proc = cli("run", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "spec.parameters[1].feasibleSpace.min" in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".workbench").exists()


def test_validate_good_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_yaml(tmp_path / "good.yaml", quadratic_doc("good"))
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("valid")
    assert "'good'" in out and "minimize loss" in out and "random" in out and "evaluate" in out
    assert "x double [-5, 5]" in out
    assert not (tmp_path / ".workbench").exists()


def test_validate_warns_when_the_objective_is_not_a_metric_the_template_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every trial of such an experiment would end MetricsUnavailable: still valid (exit 0), with a warning."""
    doc = quadratic_doc("wrong-metric")
    doc["spec"]["objective"] = {"type": "maximize", "objectiveMetricName": "accuracy"}
    path = write_yaml(tmp_path / "wrong.yaml", doc)
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "warning" in result.stdout
    assert "'accuracy' is not a metric the trial template 'quadratic' reports (it declares: loss)" in result.stdout
    doc["spec"]["objective"] = {"type": "maximize", "objectiveMetricName": "loss"}
    result = invoke("validate", str(write_yaml(tmp_path / "inverted.yaml", doc)))
    assert "says to minimize 'loss', but the objective maximizes it" in result.stdout
    result = invoke("validate", str(write_yaml(tmp_path / "good.yaml", quadratic_doc("good"))))
    assert "warning" not in result.stdout


def test_validate_a_katib_example() -> None:
    from app_helpers import REPO

    result = invoke("validate", str(REPO / "examples" / "katib-random.yaml"))
    assert result.exit_code == 0, result.output
    assert "katib-random" in result.stdout


def _not_found_doc(tmp_path: Path) -> Path:
    doc = quadratic_doc("no-command")
    doc["spec"]["trialTemplate"] = _katib(
        ["no-such-command-for-workbench-tests", "${trialParameters.x}", "${trialParameters.y}"],
        [{"name": "x", "reference": "x"}, {"name": "y", "reference": "y"}],
    )
    return write_yaml(tmp_path / "no-command.yaml", doc)


def test_run_with_missing_command_fails_before_writing(tmp_path: Path) -> None:
    path = _not_found_doc(tmp_path)
    home = tmp_path / "home"
    result = invoke("run", str(path), "--home", str(home))
    assert result.exit_code == 2, result.output
    assert "no-such-command-for-workbench-tests" in result.stderr and "not found" in result.stderr
    assert str(path) in result.stderr
    assert not home.exists()


def test_validate_checks_commands_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _not_found_doc(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", str(path))
    assert result.exit_code == 2, result.output
    assert "not found" in result.stderr
    assert not (tmp_path / ".workbench").exists()


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "good.yaml", quadratic_doc("good"))
    result = invoke("run", str(path), "--backend", "mainframe", "--home", str(tmp_path / "home"))
    assert result.exit_code == 2
    assert "mainframe" in result.stderr
    assert not (tmp_path / "home").exists()


# ----------------------------------------------------------------------------- a real run


def test_run_prints_summary_table_and_best_trial(quad_home: dict[str, Any]) -> None:
    proc: subprocess.CompletedProcess[str] = quad_home["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "experiment quad-cli" in out
    assert "Succeeded" in out and "trials 6/6" in out and "budget of 6 trials" in out
    for header in ("number", "state", "x", "y", "loss"):
        assert header in out
    study = load_study(Workspace.at(quad_home["home"]), "quad-cli")
    best = study.best_trial
    assert "best trial" in out and f"trial {best.number}: loss = {format_value(best.value)}" in out
    # no table is cut at 80 columns when the output is not a terminal
    assert "…" not in out


def test_ls_lists_experiments_newest_first(quad_copy: Path, tmp_path: Path) -> None:
    later = write_yaml(tmp_path / "later.yaml", quadratic_doc("later", trials=2))
    assert invoke("run", str(later), "--home", str(quad_copy), "-q").exit_code == 0
    result = invoke("ls", "--home", str(quad_copy))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "quad-cli" in line or "later" in line]
    assert [("later" if "later" in line else "quad-cli") for line in lines] == ["later", "quad-cli"]
    quad_line = lines[1]
    assert "Succeeded" in quad_line and "6/6" in quad_line and "random" in quad_line
    assert "2/2" in lines[0]


def test_ls_of_an_empty_workspace(tmp_path: Path) -> None:
    result = invoke("ls", "--home", str(tmp_path / "nothing"))
    assert result.exit_code == 0
    assert "no experiments" in result.stdout and str(tmp_path / "nothing") in result.stdout
    assert not (tmp_path / "nothing").exists()


def test_show(quad_home: dict[str, Any]) -> None:
    result = invoke("show", "quad-cli", "--home", str(quad_home["home"]))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "experiment quad-cli" in out and "Succeeded" in out
    assert "trials 6/6" in out and "failed 0" in out and "pruned 0" in out and "minimize loss" in out
    df = trials_dataframe(load_study(Workspace.at(quad_home["home"]), "quad-cli"))
    rows = table_rows(out)
    assert len(rows) == 6 and all(r[1] == "Succeeded" for r in rows)
    # best first
    assert [int(r[0]) for r in rows] == [int(n) for n in df.sort_values("metrics.loss")["number"]]
    limited = invoke("show", "quad-cli", "--home", str(quad_home["home"]), "--limit", "2")
    assert len(table_rows(limited.stdout)) == 2
    assert "best 2 of 6" in limited.stdout


def test_best_json(quad_home: dict[str, Any]) -> None:
    result = invoke("best", "quad-cli", "--home", str(quad_home["home"]), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["params"]) == {"x", "y"}
    df = trials_dataframe(load_study(Workspace.at(quad_home["home"]), "quad-cli"))
    best = df.loc[df["metrics.loss"].idxmin()]
    assert data["number"] == int(best["number"])
    assert data["values"] == [pytest.approx(best["metrics.loss"])]
    assert data["params"]["x"] == pytest.approx(best["params.x"])
    assert data["metrics"]["loss"] == pytest.approx(best["metrics.loss"])


def test_best_plain(quad_home: dict[str, Any]) -> None:
    result = invoke("best", "quad-cli", "--home", str(quad_home["home"]))
    assert result.exit_code == 0
    assert "x = " in result.stdout and "y = " in result.stdout and "loss" in result.stdout


def test_trials_csv_in_a_subprocess(quad_home: dict[str, Any], tmp_path: Path) -> None:
    proc = cli("trials", "quad-cli", "--csv", "--home", str(quad_home["home"]), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(io.StringIO(proc.stdout))
    assert len(df) == 6
    assert sorted(df["number"]) == list(range(6))
    assert {"params.x", "params.y", "metrics.loss", "state"} <= set(df.columns)
    assert (df["state"] == "Succeeded").all()
    assert df["params.x"].between(-5, 5).all() and df["metrics.loss"].notna().all()


def test_trials_table(quad_home: dict[str, Any]) -> None:
    result = invoke("trials", "quad-cli", "--home", str(quad_home["home"]))
    assert result.exit_code == 0
    assert [int(r[0]) for r in table_rows(result.stdout)] == list(range(6))


def test_templates() -> None:
    result = invoke("templates")
    assert result.exit_code == 0
    assert "quadratic" in result.stdout and "sklearn-classifier" in result.stdout
    assert "invalid" not in result.stdout


@pytest.mark.parametrize("command", ["resume", "show", "best", "trials", "stop"])
def test_unknown_experiment(command: str, quad_home: dict[str, Any]) -> None:
    result = invoke(command, "nope", "--home", str(quad_home["home"]))
    assert result.exit_code == 1
    assert "no experiment named 'nope'" in result.stderr
    assert "quad-cli" in result.stderr  # the experiments that do exist
    assert "Traceback" not in result.output


def test_resume_max_trials_runs_the_extra_trials(quad_copy: Path) -> None:
    result = invoke("resume", "quad-cli", "--max-trials", "9", "--home", str(quad_copy))
    assert result.exit_code == 0, result.output
    assert "6 trials finished before" in result.stdout
    row = experiment(Workspace.at(quad_copy), "quad-cli")
    assert (row.state, row.finished, row.max_trials) == ("Succeeded", 9, 9)
    df = trials_dataframe(load_study(Workspace.at(quad_copy), "quad-cli"))
    assert sorted(df["number"]) == list(range(9)) and (df["state"] == "Succeeded").all()
    # resuming again without a larger budget runs nothing
    again = invoke("resume", "quad-cli", "--home", str(quad_copy), "-q")
    assert again.exit_code == 0
    assert len(trials_dataframe(load_study(Workspace.at(quad_copy), "quad-cli"))) == 9


def test_stop_of_a_finished_experiment_changes_nothing(quad_home: dict[str, Any]) -> None:
    result = invoke("stop", "quad-cli", "--home", str(quad_home["home"]))
    assert result.exit_code == 0
    assert "nothing to stop" in result.stdout
    assert experiment(Workspace.at(quad_home["home"]), "quad-cli").state == "Succeeded"


# ----------------------------------------------------------------------------- failing experiments


def test_all_trials_fail_with_max_failed_exits_1(fresh_home: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "fail.yaml", failing_doc(tmp_path, "all-fail", trials=4, maxFailedTrialCount=1))
    result = invoke("run", str(path), "--home", str(fresh_home))
    assert result.exit_code == 1, result.output
    assert "Failed" in result.stderr
    row = experiment(Workspace.at(fresh_home), "all-fail")
    assert row.state == "Failed" and row.failed >= 2
    shown = invoke("show", "all-fail", "--home", str(fresh_home))
    assert "problems:" in shown.stdout and "boom at x=" in shown.stdout


def test_all_trials_fail_without_max_failed_exits_1(fresh_home: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "fail.yaml", failing_doc(tmp_path, "no-success", trials=3))
    result = invoke("run", str(path), "--home", str(fresh_home), "-q")
    assert result.exit_code == 1, result.output
    assert "no trial succeeded" in result.stderr
    best = invoke("best", "no-success", "--home", str(fresh_home), "--json")
    assert best.exit_code == 1 and "no succeeded trial" in best.stderr
    csv = invoke("trials", "no-success", "--home", str(fresh_home), "--csv")
    df = pd.read_csv(io.StringIO(csv.stdout))
    assert len(df) == 3 and (df["state"] == "Failed").all()
    assert "metrics.loss" in df.columns and df["metrics.loss"].isna().all()
    assert df["message"].str.contains("exited with code 1").all()
    shown = invoke("trials", "no-success", "--home", str(fresh_home))
    assert shown.stdout.count("ValueError: boom at x=") == 3 and "explode.log" in shown.stdout


# ----------------------------------------------------------------------------- stop, crash, Ctrl-C


def test_stop_with_a_live_controller(fresh_home: Path, gated: Gated) -> None:
    from workbench.api import ExperimentHandle
    from workbench.spec import experiment_from_dict

    spec = experiment_from_dict(gated.doc("live-stop", trials=4, parallel=2))
    handle = ExperimentHandle(spec, Workspace.at(fresh_home))
    try:
        pids = gated.wait_started(2)
        result = invoke("stop", "live-stop", "--home", str(fresh_home), "--wait", "30")
        assert result.exit_code == 0, result.output
        assert "asked the controller" in result.stdout
        results = handle.wait(timeout=30)
    finally:
        handle.stop()
    assert results.state == "Stopped"
    df = results.trials_dataframe()
    assert (df["state"] == "Killed").sum() == 2 and len(df) == 2
    assert not any(alive(pid) for pid in pids)


def test_stop_after_a_crash_marks_stopped_and_resume_finishes(fresh_home: Path, gated: Gated, tmp_path: Path) -> None:
    spec = write_yaml(tmp_path / "gated.yaml", gated.doc("crashed", trials=3, parallel=2))
    proc = start_cli("run", str(spec), "--home", str(fresh_home), cwd=tmp_path)
    try:
        gated.wait_started(2)
    finally:
        proc.kill()  # the controller dies; its steps are left running (in their own sessions)
        proc.wait(10)
    ws = Workspace.at(fresh_home)
    assert experiment(ws, "crashed").state == "Stopped"  # no live controller: shown as stopped
    result = invoke("stop", "crashed", "--home", str(fresh_home))
    assert result.exit_code == 0, result.output
    assert "marked Stopped" in result.stdout and "2 unfinished trials" in result.stdout
    row = experiment(ws, "crashed")
    assert row.state == "Stopped" and "workbench stop" in row.message
    gated.open()
    resumed = invoke("resume", "crashed", "--home", str(fresh_home), "-q")
    assert resumed.exit_code == 0, resumed.output
    row = experiment(ws, "crashed")
    assert (row.state, row.finished) == ("Succeeded", 3)


@pytest.mark.slow
def test_ctrl_c_stops_the_experiment(fresh_home: Path, gated: Gated, tmp_path: Path) -> None:
    spec = write_yaml(tmp_path / "gated.yaml", gated.doc("interrupted", trials=4, parallel=2))
    proc = start_cli("run", str(spec), "--home", str(fresh_home), cwd=tmp_path)
    try:
        pids = gated.wait_started(2)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)  # the gated steps never end by themselves: stopping means they were cancelled
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout = (tmp_path / "stdout.txt").read_text()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 130, stdout + stderr
    assert "stopped" in stderr and "workbench resume interrupted" in stderr
    ws = Workspace.at(fresh_home)
    row = experiment(ws, "interrupted")
    assert row.state == "Stopped" and "Ctrl-C" in row.message
    df = trials_dataframe(load_study(ws, "interrupted"))
    assert len(df) == 2 and (df["state"] == "Killed").all()
    assert not any(alive(pid) for pid in pids)
    assert not os.path.exists(gated.gate)


# ----------------------------------------------------------------------------- best and the Pareto front


def test_best_names_a_single_objective(tmp_path: Path) -> None:
    """The regression: `workbench best` printed `values [0.060076]`."""
    synthetic_experiment(tmp_path, "one", [("loss", "minimize")], [(1.0, [0.5]), (2.0, [0.060076]), (3.0, None)])
    result = invoke("best", "one", "--home", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "trial 1: loss = 0.06008"
    assert "values" not in result.stdout and "x = 2" in result.stdout
    data = json.loads(invoke("best", "one", "--home", str(tmp_path), "--json").stdout)
    assert data["objective"] == {"loss": 0.060076} and data["values"] == [0.060076] and data["number"] == 1


def test_best_names_every_objective_of_the_pareto_front(tmp_path: Path) -> None:
    objectives = [("accuracy", "maximize"), ("size", "minimize")]
    synthetic_experiment(tmp_path, "two", objectives, [(1.0, [0.9, 10.0]), (2.0, [0.8, 5.0]), (3.0, [0.7, 20.0])])
    result = invoke("best", "two", "--home", str(tmp_path))
    assert result.exit_code == 0, result.output
    heads = [line for line in result.stdout.splitlines() if line.startswith("trial")]
    assert heads == ["trial 0: accuracy = 0.9, size = 10", "trial 1: accuracy = 0.8, size = 5"]
    data = json.loads(invoke("best", "two", "--home", str(tmp_path), "--json").stdout)
    assert [d["objective"] for d in data] == [{"accuracy": 0.9, "size": 10.0}, {"accuracy": 0.8, "size": 5.0}]


def test_show_of_a_multi_objective_experiment_lists_the_pareto_front_first(tmp_path: Path) -> None:
    """The regression: the summary said "best 10 of 18" but listed trials 0-9 in number order."""
    objectives = [("accuracy", "maximize"), ("size", "minimize")]
    dominated = [(float(i), [0.5, 50.0 + i]) for i in range(12)]  # trials 0-11: dominated by every later one
    front = [(50.0 + i, [0.9 - i / 100, 10.0 - i]) for i in range(4)]  # trials 12-15: the front
    second = [(70.0, [0.85, 11.0]), (71.0, [0.7, 40.0])]  # trials 16, 17: fronts 2 and 3
    synthetic_experiment(tmp_path, "mo", objectives, dominated + front + second + [(99.0, None)])
    result = invoke("show", "mo", "--home", str(tmp_path), "--limit", "10")
    assert result.exit_code == 0, result.output
    assert "Pareto front first, 10 of 19" in result.stdout
    listed = [int(r[0]) for r in table_rows(result.stdout)]
    assert listed[:6] == [12, 13, 14, 15, 16, 17] and len(listed) == 10
    assert set(listed[6:]) <= set(range(12))


@pytest.mark.slow
def test_run_warm_started_from_an_earlier_experiment(quad_copy: Path, tmp_path: Path) -> None:
    doc = quadratic_doc("second", trials=2, warmStart={"experiment": "quad-cli"})
    path = write_yaml(tmp_path / "second.yaml", doc)
    result = invoke("run", str(path), "--home", str(quad_copy), WORKBENCH_TRACKING_PROCESS="0")
    assert result.exit_code == 0, result.output
    assert "trials 2/2 (+6 imported by warmStart)" in result.stdout
    before = trials_dataframe(load_study(Workspace.at(quad_copy), "quad-cli"))
    after = trials_dataframe(load_study(Workspace.at(quad_copy), "second"))
    assert after["imported"].sum() == 6 and after["metrics.loss"].min() <= before["metrics.loss"].min()
    other = write_yaml(tmp_path / "third.yaml", quadratic_doc("third", warmStart={"experiment": "quad-cli",
                                                                                   "namespace": "team-b"}))  # fmt: skip
    refused = invoke("validate", str(other), WORKBENCH_HOME=str(quad_copy))
    assert refused.exit_code == 2 and "spec.warmStart.experiment" in refused.stderr
    assert "no experiment 'quad-cli' in namespace 'team-b'" in refused.stderr
