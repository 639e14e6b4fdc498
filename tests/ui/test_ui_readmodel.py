"""The dashboard's read model against the stores' own readers, on real runs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from workbench import readmodel as rm
from workbench.query import list_experiments, load_study, trials_dataframe
from workbench.workspace import Workspace


@pytest.fixture(scope="module")
def ws(ui_home: Path) -> Workspace:
    return Workspace.at(ui_home)


def test_experiments_match_the_cli_read_model(ws: Workspace) -> None:
    ours = rm.ReadModel(ws).experiments().set_index("name")
    for row in list_experiments(ws):
        mine = ours.loc[row.name]
        for field in (
            "state",
            "algorithm",
            "finished",
            "max_trials",
            "failed",
            "pruned",
            "running",
            "front",
            "imported",
        ):
            assert mine[field] == getattr(row, field), (row.name, field)
        if row.best_value is None:
            assert mine["best_value"] is None or math.isnan(mine["best_value"])
        else:
            assert mine["best_value"] == pytest.approx(row.best_value) and mine["best_trial"] == row.best_trial


@pytest.mark.parametrize("name", ["quad-ui", "zoo-mo", "sk-ui"])
def test_trials_frame_equals_query_trials_dataframe(ws: Workspace, name: str) -> None:
    data = rm.ReadModel(ws).experiment(name)
    study = load_study(ws, name)
    expected = trials_dataframe(study)
    assert list(data.trials.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(data.trials, expected, check_dtype=False)
    inter = data.intermediate
    for t in study.get_trials(deepcopy=False):
        mine = inter[inter["number"] == t.number].set_index("step")["value"].to_dict()
        assert mine == {int(k): v for k, v in t.intermediate_values.items()}
    assert data.params == [c[7:] for c in expected.columns if c.startswith("params.")]
    assert set(data.distributions) == set(data.params)


def test_journal_reader_follows_a_growing_journal_like_optuna(tmp_path: Path) -> None:
    """Appended trials, a half-written line, enqueued trials, failures and a deleted study, compared with Optuna."""
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "optuna.journal"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="a", storage=storage, directions=["minimize", "maximize"])
    reader = rm.JournalReader(str(path))

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 1e-3, 1, log=True)
        c = trial.suggest_categorical("c", ["p", "q"])
        n = trial.suggest_int("n", 1, 9)
        trial.set_user_attr("workbench.metrics", {"extra": x * n})
        if n == 9:
            raise optuna.TrialPruned()
        return x * n, float(c == "p")

    study.optimize(objective, n_trials=5)
    assert len(reader.refresh()["a"].trials) == 5
    study.enqueue_trial({"x": 0.5, "c": "q", "n": 2})
    study.optimize(objective, n_trials=3, catch=(ValueError,))
    failing = study.ask()
    study.tell(failing, state=optuna.trial.TrialState.FAIL)
    study.ask()  # left running
    other = optuna.create_study(study_name="gone", storage=storage)
    other.optimize(lambda t: t.suggest_float("z", 0, 1), n_trials=2)
    optuna.delete_study(study_name="gone", storage=storage)
    with open(path, "ab") as f:
        f.write(b'{"op_code": 8, "worker_id": "w", "trial_id": 0, "user_attr": {"half')  # a writer mid-line
    ours = reader.refresh()
    assert set(ours) == {"a"} and reader.bad_lines == 0
    expected = rm.records_from_storage(optuna.storages.JournalStorage(JournalFileBackend(str(path))))["a"]
    mine = ours["a"]
    assert mine.directions == expected.directions == ["minimize", "maximize"]
    assert len(mine.trials) == len(expected.trials) == 10
    for a, b in zip(mine.trials, expected.trials, strict=True):
        assert (a.number, a.state, a.params, a.user_attrs, a.intermediate, a.values) == (
            b.number,
            b.state,
            b.params,
            b.user_attrs,
            b.intermediate,
            b.values,
        )
        assert a.datetime_start == pytest.approx(b.datetime_start)
        assert (a.datetime_complete is None) == (b.datetime_complete is None)
    assert {k: type(v).__name__ for k, v in mine.distributions.items()} == {
        k: type(v).__name__ for k, v in expected.distributions.items()
    }


def test_journal_reader_starts_over_when_the_file_is_replaced(ws: Workspace, tmp_path: Path) -> None:
    src = Path(ws.optuna_url[len("journal://") :])
    path = tmp_path / "optuna.journal"
    shutil.copy(src, path)
    reader = rm.JournalReader(str(path))
    assert set(reader.refresh()) == {"quad-ui", "zoo-mo", "sk-ui"}
    path.write_bytes(b"")
    assert reader.refresh() == {}


def test_store_stamp_changes_with_the_journal(ui_copy: Path) -> None:
    w = Workspace.at(ui_copy)
    before = rm.store_stamp(w, ("optuna",))
    assert rm.store_stamp(w, ("optuna",)) == before
    with open(ui_copy / "optuna.journal", "ab") as f:
        f.write(b"\n")
    assert rm.store_stamp(w, ("optuna",)) != before


def test_run_steps_pipeline_graph_and_mlflow(ws: Workspace) -> None:
    data = rm.ReadModel(ws).experiment("sk-ui")
    run_id = data.trials["run_id"].iloc[0]
    stores = rm.Stores(ws)
    steps, artifacts = rm.run_steps(stores, run_id)
    assert list(steps["step"]) == ["load", "train", "evaluate"]
    assert (steps["duration_s"] > 0).all() and list(steps["attempts"]) == [1, 1, 1]
    outputs = {(a["step"], a["name"]): a["type"] for a in artifacts if a["direction"] == "output"}
    assert outputs == {
        ("load", "data"): "Dataset",
        ("train", "model"): "Model",
        ("evaluate", "metrics"): "Metrics",
        ("evaluate", "confusion_matrix"): "ClassificationMetrics",
    }
    graph = rm.pipeline_graph(data.spec)
    assert {(e["source"], e["target"], e["label"]) for e in graph["edges"]} == {
        ("load", "train", "data"),
        ("load", "evaluate", "data"),
        ("train", "evaluate", "model"),
    }
    ml = rm.mlflow_run(stores, "sk-ui", run_id)
    assert ml.run_id and set(ml.steps) == {"load", "train", "evaluate"} and ml.link.endswith(ml.run_id)
    hist = rm.metric_history(stores, ml.run_id)
    assert {"accuracy"} <= set(hist["metric"]) and len(hist[hist["metric"] == "accuracy"]) >= 3


def test_lineage_of_a_trial_and_of_an_artifact(ws: Workspace) -> None:
    stores = rm.Stores(ws)
    run_id = rm.ReadModel(ws).experiment("sk-ui").trials["run_id"].iloc[0]
    graph = rm.lineage(stores, run_id=run_id)
    nodes, edges = graph["nodes"].set_index("id"), graph["edges"]
    assert len(nodes[nodes["kind"] == "execution"]) == 3 and len(nodes[nodes["kind"] == "artifact"]) == 4
    model = nodes[(nodes["kind"] == "artifact") & (nodes["type"] == "Model")].index[0]
    assert set(edges.loc[edges["target"] == model, "event"]) == {"OUTPUT"}
    assert set(edges.loc[edges["source"] == model, "event"]) == {"INPUT"}
    arts = rm.experiment_artifacts(stores, "sk-ui")
    data_id = int(arts.loc[arts["name"] == "data", "id"].iloc[0])
    down = rm.lineage(stores, artifact_id=data_id, hops=3)["nodes"]
    assert {"load", "train", "evaluate"} <= set(down["step"])  # producer and both consumers, and on to the model
    assert rm.lineage(stores, run_id="nope")["nodes"].empty


def test_standalone_runs(ws: Workspace) -> None:
    runs = rm.standalone_runs(rm.Stores(ws))
    assert len(runs) == 1 and runs["state"].iloc[0] == "Succeeded" and runs["duration_s"].iloc[0] > 0


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('x > 0 and state == "Succeeded"', lambda t: t[(t["params.x"] > 0) & (t["state"] == "Succeeded")]),
        ("params.x <= 1 or not y > 0", lambda t: t[(t["params.x"] <= 1) | ~(t["params.y"] > 0)]),
        ("state in ['Pruned', 'Failed']", lambda t: t[t["state"].isin(["Pruned", "Failed"])]),
        ("-5 < x < 0", lambda t: t[(t["params.x"] > -5) & (t["params.x"] < 0)]),
        ("loss * 2 > 10 and number != 3", lambda t: t[(t["metrics.loss"] * 2 > 10) & (t["number"] != 3)]),
        ("", lambda t: t),
    ],
)
def test_filter_expressions(ws: Workspace, expression: str, expected) -> None:  # noqa: ANN001
    trials = rm.ReadModel(ws).experiment("quad-ui").trials
    assert rm.filter_trials(trials, expression)["number"].tolist() == expected(trials)["number"].tolist()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "Call is not allowed"),
        ("x.__class__ > 1", "unknown name"),
        ("zzz > 1", "unknown name 'zzz'"),
        ("x >", "syntax error"),
        ("x", "must compare"),
        ("[c for c in 'ab']", "not allowed"),
        ("x ** 2 > 1", "not allowed"),
    ],
)
def test_filter_expressions_refused(ws: Workspace, expression: str, message: str) -> None:
    trials = rm.ReadModel(ws).experiment("quad-ui").trials
    with pytest.raises(rm.ExpressionError, match=message):
        rm.filter_trials(trials, expression)


def test_parameter_importance(ws: Workspace) -> None:
    data = rm.ReadModel(ws).experiment("quad-ui")
    for method in rm.IMPORTANCE_METHODS:
        imp = rm.param_importance(data, method=method)
        assert set(imp["param"]) == {"x", "y"} and imp["importance"].sum() == pytest.approx(1.0)
        assert "succeeded trials" in imp.attrs["note"]
    with pytest.raises(ValueError, match="unknown importance method"):
        rm.param_importance(data, method="shap")


def test_side_by_side_marks_differences() -> None:
    table = rm.side_by_side(
        {"a": {"lr": 0.1, "opt": "sgd", "acc": 0.9}, "b": {"lr": 0.2, "opt": "sgd", "acc": 0.9}}, baseline="a"
    )
    assert table.loc["lr", "differs"] and not table.loc["opt", "differs"] and not table.loc["acc", "differs"]
    assert table.loc["lr", "Δ b"] == pytest.approx(0.1)
    assert list(rm.side_by_side({"a": {"x": 1}, "b": {"x": 1}}, "a", differences_only=True).index) == []


def test_check_yaml_reports_field_paths() -> None:
    from workbench.readmodel._launch import check_yaml, starter_yaml

    repo = Path(__file__).resolve().parents[2]
    assert check_yaml((repo / "examples" / "quickstart.yaml").read_text(), repo).ok
    assert check_yaml((repo / "examples" / "katib-random.yaml").read_text(), repo / "examples").ok
    text = starter_yaml("quadratic", name="starter")
    assert check_yaml(text).ok
    bad = check_yaml(text.replace("max: '5.0'", "max: '-9'", 1))
    assert not bad.ok and bad.errors[0]["path"].startswith("spec.parameters[0].feasibleSpace")
    syntax = check_yaml("spec: [unclosed")
    assert not syntax.ok and "line" in syntax.errors[0]["message"]


def test_range_selection_and_its_filter_expression_agree(ws: Workspace) -> None:
    trials = rm.ReadModel(ws).experiment("quad-ui").trials
    ranges = {"params.x": (-1.0, 4.0), "metrics.loss": (0.0, 30.0)}
    picked = rm.select_ranges(trials, ranges, {"state": ["Succeeded", "Pruned"]})
    assert len(picked) and (picked["params.x"].between(-1, 4)).all() and set(picked["state"]) <= {"Succeeded", "Pruned"}
    expression = rm.ranges_expression(ranges, {"state": ["Succeeded", "Pruned"]})
    assert rm.filter_trials(trials, expression)["number"].tolist() == picked["number"].tolist()
    assert rm.ranges_expression({"params.learning-rate": (0, 1)}) is None  # not writable as an expression
