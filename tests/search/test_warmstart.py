"""Warm start: enqueued parameter sets and finished trials from a CSV, applied once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from app_helpers import synthetic_experiment
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from search_helpers import BS, MULTI, OPT, N, X, make_spec, raises_at

from workbench.search import (
    WARM_STARTED_ATTR,
    apply_warm_start,
    check_search,
    check_warm_start,
    create_study_components,
    distributions,
)

PARAMS = [X, N, OPT, BS]


def write(tmp_path: Path, text: str, name: str = "known.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_enqueue_is_validated_typed_and_idempotent(tmp_path: Path) -> None:
    enqueue = [{"x": "0.5", "n": 3, "opt": "adam", "bs": "32"}, {"x": -1, "n": "8.0"}]
    spec = make_spec(PARAMS, warmStart={"enqueue": enqueue}, base_dir=tmp_path)
    study = optuna.create_study()
    assert apply_warm_start(study, spec, tmp_path) == 2
    assert apply_warm_start(study, spec, tmp_path) == 0
    assert len(study.trials) == 2 and WARM_STARTED_ATTR in study.user_attrs
    dists = distributions(spec.parameters)
    first = study.ask(dists)
    assert first.params == {"x": 0.5, "n": 3, "opt": "adam", "bs": 32}
    assert first.user_attrs["workbench.warm_start"] is True
    second = study.ask(dists)  # partial set: the sampler picks the missing parameters
    assert second.params["x"] == -1.0 and second.params["n"] == 8 and second.params["opt"] in ("sgd", "adam", "ftrl")
    study.tell(first, 1.0)
    study.tell(second, 2.0)
    # Re-applying after the study has moved on (or in a new controller process) adds nothing either.
    study.set_user_attr(WARM_STARTED_ATTR, "stale")
    assert apply_warm_start(study, spec, tmp_path) == 0


@pytest.mark.parametrize(
    ("entry", "path", "fragments"),
    [
        ({"x": 2}, "spec.warmStart.enqueue[1].x", ["from -1 to 1, got 2"]),
        ({"n": 2.5}, "spec.warmStart.enqueue[1].n", ["whole number"]),
        ({"opt": "rmsprop"}, "spec.warmStart.enqueue[1].opt", ["one of ['sgd', 'adam', 'ftrl']"]),
        ({"bs": 20}, "spec.warmStart.enqueue[1].bs", ["one of [16, 32, 64]"]),
        ({"lr": 0.1}, "spec.warmStart.enqueue[1].lr", ["not a search parameter"]),
        ({}, "spec.warmStart.enqueue[1]", ["mapping"]),
    ],
)
def test_bad_enqueue_values(tmp_path: Path, entry: dict, path: str, fragments: list[str]) -> None:
    spec = make_spec(PARAMS, warmStart={"enqueue": [{"x": 0.1}, entry]})
    with raises_at(path, *fragments):
        check_search(spec)
    study = optuna.create_study()
    with raises_at(path):
        apply_warm_start(study, spec, tmp_path)
    assert study.trials == []  # nothing half-written


CSV = """x,n,opt,bs,loss,state
0.5,3,adam,32,0.25,Succeeded
-0.5,1,sgd,16,1.5,
0.0,8,ftrl,64,,Failed
0.1,2,adam,16,0.9,EarlyStopped
"""


def test_csv_adds_finished_trials_once(tmp_path: Path) -> None:
    write(tmp_path, CSV)
    spec = make_spec(
        PARAMS,
        warmStart={"csv": "known.csv", "enqueue": [{"x": 0.5, "n": 3, "opt": "adam", "bs": 32}]},
        base_dir=tmp_path,
    )
    check_search(spec, tmp_path)
    sampler, pruner, directions = create_study_components(spec)
    study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    # 4 CSV rows; the enqueued set already ran (it is the first CSV row), so it is skipped.
    assert apply_warm_start(study, spec, tmp_path) == 4
    assert apply_warm_start(study, spec, tmp_path) == 0
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert [t.user_attrs["workbench.state"] for t in trials] == ["Succeeded", "Succeeded", "Failed", "Pruned"]
    assert all(t.user_attrs["workbench.warm_start"] is True for t in trials)
    assert trials[0].params == {"x": 0.5, "n": 3, "opt": "adam", "bs": 32}
    assert trials[0].values == [0.25] and trials[0].user_attrs["workbench.metrics"] == {"loss": 0.25}
    assert trials[3].values is None and trials[3].user_attrs["workbench.metrics"] == {"loss": 0.9}
    assert study.best_trial.number == 0
    # The sampler uses the imported trials; the study keeps working.
    trial = study.ask(distributions(spec.parameters))
    study.tell(trial, 1.0)


def test_appended_rows_are_added_on_the_next_apply(tmp_path: Path) -> None:
    path = write(tmp_path, CSV)
    spec = make_spec(PARAMS, warmStart={"csv": "known.csv"}, base_dir=tmp_path)
    study = optuna.create_study()
    assert apply_warm_start(study, spec, tmp_path) == 4
    path.write_text(CSV + "0.2,4,sgd,64,0.1,Succeeded\n")
    assert apply_warm_start(study, spec, tmp_path) == 1
    assert apply_warm_start(study, spec, tmp_path) == 0
    assert len(study.trials) == 5 and study.best_value == 0.1


def test_multi_objective_and_additional_metric_columns(tmp_path: Path) -> None:
    write(tmp_path, "latency,x,loss,accuracy\n12,0.5,0.3,0.91\n8,-0.25,0.4,\n")
    objective = {**MULTI, "additionalMetricNames": ["accuracy"]}
    spec = make_spec([X], objective=objective, warmStart={"csv": "known.csv"}, base_dir=tmp_path)
    study = optuna.create_study(directions=create_study_components(spec)[2])
    assert apply_warm_start(study, spec, tmp_path) == 2
    assert [t.values for t in study.trials] == [[0.3, 12.0], [0.4, 8.0]]  # objective order, not column order
    assert study.trials[0].user_attrs["workbench.metrics"] == {"loss": 0.3, "latency": 12.0, "accuracy": 0.91}
    assert "accuracy" not in study.trials[1].user_attrs["workbench.metrics"]


def test_bom_quotes_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "known.csv").write_bytes('\ufeffx, opt ,loss\n\n"0.5","adam",1\n'.encode())
    spec = make_spec([X, OPT], warmStart={"csv": "known.csv"}, base_dir=tmp_path)
    study = optuna.create_study()
    assert apply_warm_start(study, spec, tmp_path) == 1
    assert study.trials[0].params == {"x": 0.5, "opt": "adam"}


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("x,n,opt,bs\n", ["line 1: missing column 'loss' (objective metric)"]),
        ("x,n,opt,loss\n", ["line 1: missing column 'bs' (parameter)"]),
        ("x,n,opt,bs,loss,trial\n", ["column 6 ('trial')", "expected columns: x, n, opt, bs, loss, state"]),
        ("x,n,opt,bs,loss,x\n", ["column 'x' appears more than once"]),
        ("", ["empty"]),
        ("x,n,opt,bs,loss\n0.5,3,adam,32,0.1\nabc,3,adam,32,0.1\n", ["line 3, column 'x': expected a number, got"]),
        ("x,n,opt,bs,loss\n0.5,3,adam,32,low\n", ["line 2, column 'loss': expected a finite number, got 'low'"]),
        ("x,n,opt,bs,loss\n0.5,3,adam,32,nan\n", ["line 2, column 'loss'", "finite"]),
        ("x,n,opt,bs,loss\n0.5,3,adam,32,\n", ["line 2, column 'loss': a Succeeded trial needs a value"]),
        ("x,n,opt,bs,loss\n0.5,30,adam,32,1\n", ["line 2, column 'n': expected a number from 1 to 8"]),
        ("x,n,opt,bs,loss\n0.5,3,rmsprop,32,1\n", ["line 2, column 'opt'", "one of"]),
        ("x,n,opt,bs,loss\n0.5,3,adam\n", ["line 2, column 'bs': missing value"]),
        ("x,n,opt,bs,loss\n0.5,3,adam,32,1,9\n", ["line 2: more fields than the header"]),
        ("x,n,opt,bs,loss,state\n0.5,3,adam,32,1,Crashed\n", ["line 2, column 'state'", "Succeeded, Failed"]),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    spec = make_spec(PARAMS, warmStart={"csv": "known.csv"}, base_dir=tmp_path)
    with raises_at("spec.warmStart.csv", str(path), *fragments):
        check_warm_start(spec, tmp_path)
    study = optuna.create_study()
    with raises_at("spec.warmStart.csv", *fragments):
        apply_warm_start(study, spec, tmp_path)
    assert study.trials == [] and WARM_STARTED_ATTR not in study.user_attrs  # nothing half-written


def test_missing_csv_file(tmp_path: Path) -> None:
    spec = make_spec(PARAMS, warmStart={"csv": "nope/results.csv"}, base_dir=tmp_path)
    check_search(spec)  # without base_dir the file is not read
    with raises_at("spec.warmStart.csv", "not found", str(tmp_path / "nope" / "results.csv")):
        check_search(spec, tmp_path)
    with raises_at("spec.warmStart.csv", "not found"):
        apply_warm_start(optuna.create_study(), spec, tmp_path)


def test_no_warm_start_adds_nothing(tmp_path: Path) -> None:
    study = optuna.create_study()
    assert apply_warm_start(study, make_spec(PARAMS), tmp_path) == 0
    assert study.trials == [] and study.user_attrs == {}


# ------------------------------------------------------------------ the project's own export, earlier experiments


def _source(home: Path, name: str = "earlier", namespace: str = "default") -> optuna.Study:
    """An earlier experiment over x in [0, 100] (loss), with every kind of trial ``workbench trials --csv`` lists."""
    trials = [(10.0, [0.5]), (20.0, [0.25]), (30.0, None)]
    study = synthetic_experiment(home, name, [("loss", "minimize")], trials, namespace=namespace)
    others = [
        (TrialState.PRUNED, {"workbench.state": "Pruned", "workbench.metrics": {"loss": 0.7}}),
        (TrialState.FAIL, {"workbench.state": "MetricsUnavailable"}),
        (TrialState.FAIL, {"workbench.state": "Killed"}),
        (TrialState.RUNNING, {}),
        (TrialState.WAITING, {}),
    ]
    for state, attrs in others:
        study.add_trial(_trial(40.0, state=state, user_attrs=attrs))
    study.add_trial(_trial(150.0, high=200, values=[0.1], user_attrs={"workbench.metrics": {"loss": 0.1, "extra": 3}}))
    return study


def _trial(x: float, high: float = 100, **kw: Any) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(params={"x": x}, distributions={"x": FloatDistribution(0, high)}, **kw)


X100 = {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "100"}}
X_ONLY_100 = [X100]


def test_the_csv_that_workbench_trials_writes_is_a_warm_start(tmp_path: Path) -> None:
    """The regression: warm start refused the CSV of `workbench trials NAME --csv`."""
    from typer.testing import CliRunner

    from workbench.cli import app

    _source(tmp_path / "home")
    export = CliRunner().invoke(app, ["trials", "earlier", "--csv", "--home", str(tmp_path / "home")])
    assert export.exit_code == 0, export.output
    write(tmp_path, export.stdout, "trials.csv")
    assert export.stdout.startswith("number,state,params.x,metrics.loss,metrics.extra,started,")
    spec = make_spec(X_ONLY_100, warmStart={"csv": "trials.csv"}, base_dir=tmp_path)
    study = optuna.create_study()
    # x = 150 lies outside [0, 100]: an error naming the line, as for any CSV.
    with raises_at("spec.warmStart.csv", "line 10, column 'x'", "from 0 to 100"):
        check_warm_start(spec, tmp_path)
    lines = export.stdout.splitlines()
    write(tmp_path, "\n".join(lines[:-1]) + "\n", "trials.csv")
    check_warm_start(spec, tmp_path)
    # Succeeded 10 and 20, Failed 30, Pruned, MetricsUnavailable (Failed); Killed, Running, Pending are skipped.
    assert apply_warm_start(study, spec, tmp_path) == 5
    assert [t.user_attrs["workbench.state"] for t in study.trials] == ["Succeeded", "Succeeded", "Failed", "Pruned",
                                                                       "Failed"]  # fmt: skip
    assert [t.params["x"] for t in study.trials] == [10.0, 20.0, 30.0, 40.0, 40.0]
    assert study.best_value == 0.25 and study.trials[3].user_attrs["workbench.metrics"] == {"loss": 0.7}


def test_warm_start_from_an_earlier_experiment_by_name(tmp_path: Path) -> None:
    from workbench.search import _storage as st
    from workbench.workspace import Workspace

    _source(tmp_path / "home")
    storage = st.open_storage(Workspace.at(tmp_path / "home").optuna_url)
    spec = make_spec(X_ONLY_100, warmStart={"experiment": "earlier"}, base_dir=tmp_path)
    check_warm_start(spec, tmp_path, storage)
    study = optuna.create_study(study_name="exp", storage=storage)
    assert apply_warm_start(study, spec, tmp_path, storage) == 5  # x = 150 is outside [0, 100]: left out
    assert apply_warm_start(study, spec, tmp_path, storage) == 0
    assert [t.user_attrs["workbench.state"] for t in study.trials] == ["Succeeded", "Succeeded", "Failed", "Pruned",
                                                                       "Failed"]  # fmt: skip
    assert study.best_value == 0.25 and all("workbench.warm_start_key" in t.user_attrs for t in study.trials)
    earlier = optuna.load_study(study_name="earlier", storage=storage)
    earlier.add_trial(_trial(50.0, values=[0.05], user_attrs={"workbench.metrics": {"loss": 0.05}}))
    assert apply_warm_start(study, spec, tmp_path, storage) == 1  # what the earlier experiment learnt since
    assert study.best_value == 0.05


@pytest.mark.parametrize(
    ("warm", "fragments"),
    [
        ({"experiment": "nope"}, ["no experiment 'nope' in namespace 'default'"]),
        (
            {"experiment": "earlier", "namespace": "team-b"},
            ["no experiment 'earlier' in namespace 'team-b'", "there is one in namespace 'default'"],
        ),  # fmt: skip
        ({"experiment": "exp"}, ["cannot warm-start from itself"]),
    ],
)
def test_a_bad_earlier_experiment_is_a_spec_error(tmp_path: Path, warm: dict, fragments: list[str]) -> None:
    from workbench.search import _storage as st
    from workbench.workspace import Workspace

    _source(tmp_path / "home")
    storage = st.open_storage(Workspace.at(tmp_path / "home").optuna_url)
    spec = make_spec(X_ONLY_100, warmStart=warm, base_dir=tmp_path)
    with raises_at("spec.warmStart.experiment", *fragments):
        check_warm_start(spec, tmp_path, storage)


def test_an_earlier_experiment_without_this_parameter_or_objective(tmp_path: Path) -> None:
    from workbench.search import _storage as st
    from workbench.workspace import Workspace

    _source(tmp_path / "home")
    storage = st.open_storage(Workspace.at(tmp_path / "home").optuna_url)
    spec = make_spec([X100, N], warmStart={"experiment": "earlier"}, base_dir=tmp_path)
    with raises_at("spec.warmStart.experiment", "experiment 'earlier' has no parameter 'n'"):
        check_warm_start(spec, tmp_path, storage)
    other = make_spec(X_ONLY_100, warmStart={"experiment": "earlier"}, objective={"type": "maximize",
                      "objectiveMetricName": "accuracy"}, base_dir=tmp_path)  # fmt: skip
    with raises_at("spec.warmStart.experiment", "did not record the objective metric 'accuracy'"):
        check_warm_start(other, tmp_path, storage)


def test_warm_start_namespace_needs_an_experiment(tmp_path: Path) -> None:
    from workbench.errors import SpecError

    with pytest.raises(SpecError, match="warmStart.namespace"):
        make_spec(X_ONLY_100, warmStart={"namespace": "team-b"}, base_dir=tmp_path)
