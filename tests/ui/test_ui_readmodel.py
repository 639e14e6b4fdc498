"""The dashboard's read model against the stores' own readers, on real runs."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
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
    # `workbench trials --csv` prints the read model's frame: the same text as the Optuna-based one printed
    assert data.trials.to_csv(index=False) == expected.to_csv(index=False)


@pytest.mark.parametrize("name", ["quad-ui", "zoo-mo", "sk-ui"])
def test_trial_columns_hold_the_frames_values(ws: Workspace, name: str) -> None:
    """The plain columns ``workbench show`` draws from are the trial table's values, None where it has NaN/NaT."""
    study = rm.ReadModel(ws).study(name)
    columns = rm.trial_columns(study)
    frame = rm.trials_frame(study)[0]
    assert list(columns) == list(frame.columns)
    for key, values in columns.items():
        expected = frame[key].tolist()
        if key in ("started", "finished"):
            expected = [None if pd.isna(v) else v.timestamp() for v in expected]
            assert values == pytest.approx(expected), key
            continue
        assert [None if isinstance(v, float) and math.isnan(v) else v for v in expected] == values, key


def test_journal_reader_reads_every_distribution_kind_without_optuna(tmp_path: Path) -> None:
    """Parameter values of every kind (old and abbreviated distribution forms too) are Optuna's, read without it."""
    import json
    import subprocess
    import sys

    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
        IntUniformDistribution,
        UniformDistribution,
    )
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "optuna.journal"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="kinds", storage=storage)
    with pytest.warns(FutureWarning):
        old = {"u": UniformDistribution(0, 1), "iu": IntUniformDistribution(0, 8, step=2)}
    dists = {
        **old,
        "f": FloatDistribution(1e-3, 1, log=True),
        "s": FloatDistribution(0, 1, step=0.25),
        "i": IntDistribution(1, 64, log=True),
        "c": CategoricalDistribution([None, True, 2, 3.5, "x"]),
    }
    for k in range(5):
        params = {"u": k / 5, "iu": 2 * k, "f": 10 ** -(k % 3), "s": k / 4, "i": 2**k, "c": dists["c"].choices[k]}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(k)))
    # a trial whose distributions are in Optuna's abbreviated form, as another writer may append it
    short = {"a": {"type": "int", "low": 1, "high": 5}, "b": {"type": "categorical", "choices": ["p", "q"]}}
    log = {"op_code": 4, "worker_id": "w", "study_id": 0, "state": 1, "value": 9.0, "params": {"a": 3.0, "b": 1.0}}
    log.update(datetime_start="2026-01-01T00:00:00", datetime_complete="2026-01-01T00:00:01")
    log["distributions"] = {k: json.dumps(v) for k, v in short.items()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(log) + "\n")
    expected = optuna.load_study(study_name="kinds", storage=storage)
    mine = rm.JournalReader(str(path)).refresh()["kinds"]
    assert [t.params for t in mine.trials] == [t.params for t in expected.trials]
    assert [type(v) for t in mine.trials for v in t.params.values()] == [
        type(v) for t in expected.trials for v in t.params.values()
    ]
    assert mine.distributions == {**expected.trials[0].distributions, **expected.trials[-1].distributions}

    script = (
        "import sys; from workbench.readmodel import JournalReader; "
        f"print(sorted(JournalReader({str(path)!r}).refresh()['kinds'].trials[-1].params.items())); "
        "print('optuna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[('a', 3), ('b', 'q')]", "False"]


def test_pareto_ranks_peel_fronts_like_pareto_mask() -> None:
    """Non-domination ranks (``show`` ranks a multi-objective table by them): each front is pareto_mask of what is
    left; rows without values rank last; with ``enough``, peeling stops once the first fronts hold that many."""
    import random

    import numpy as np

    rng = random.Random(11)
    for k in (2, 3):
        directions = ["minimize", "maximize", "minimize"][:k]
        values = [[rng.randint(0, 6) for _ in range(k)] if rng.random() > 0.1 else None for _ in range(60)]
        expected = [math.inf] * len(values)
        left = [i for i, v in enumerate(values) if v is not None]
        rank = 0
        while left:
            on = rm.pareto_mask(np.array([values[i] for i in left], dtype=float), directions)
            for i, front in zip(left, on, strict=True):
                if front:
                    expected[i] = rank
            left = [i for i, front in zip(left, on, strict=True) if not front]
            rank += 1
        assert rm.pareto_ranks(values, directions) == expected
        partial = rm.pareto_ranks(values, directions, enough=10)
        kept = [r for r in partial if r != math.inf]
        assert len(kept) >= 10 and all(r == e for r, e in zip(partial, expected, strict=True) if r != math.inf)
        assert len([e for e in expected if e < max(kept)]) < 10  # no more fronts than needed


def test_pareto_front_of_two_objectives_is_pareto_mask_without_numpy() -> None:
    """The pure-Python sweep of ``ls`` and ``show`` for two objectives: the NumPy front, with ties and NaN too."""
    import random

    import numpy as np

    from workbench.readmodel._model import _front_of_two

    rng = random.Random(7)
    for _ in range(500):
        n = rng.randint(0, 30)
        values = [
            [rng.choice([rng.randint(0, 4), rng.randint(0, 4), rng.random(), math.nan]) for _ in range(2)]
            for _ in range(n)
        ]
        directions = [rng.choice(["minimize", "maximize"]) for _ in range(2)]
        expected = rm.pareto_mask(np.array(values, dtype=float).reshape(n, 2), directions).tolist()
        assert _front_of_two(values, directions) == expected, (values, directions)


def test_summaries_read_without_details_are_the_same(ws: Workspace) -> None:
    """``workbench ls`` skips the parameter and intermediate lines of a journal real controllers wrote."""
    light = rm.ReadModel(ws, details=False)

    def timeless(rows: list[dict]) -> list[dict]:  # an unfinished experiment's duration grows between the reads
        return [{k: v for k, v in r.items() if k != "duration"} for r in rows]

    assert timeless(light.summaries()) == timeless(rm.ReadModel(ws).summaries())
    trials = [t for study in light.studies().values() for t in study.trials]
    assert trials and not any(t.params or t.intermediate for t in trials)  # skipped, not decoded


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
    assert set(reader.refresh()) == {"quad-ui", "zoo-mo", "sk-ui", "hostile-md"}
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


# ---------------------------------------------------------------- filters bound what they build


def _tiny_trials() -> pd.DataFrame:
    return pd.DataFrame({"number": [0, 1], "state": ["Succeeded", "Failed"], "params.x": [0.5, 2.0]})


def test_filter_refuses_to_build_text_before_allocating_it() -> None:
    """``"a" * 300000000`` took the dashboard from 404 MB to 1.58 GB: refused before anything is built."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(rm.ExpressionError, match="work on numbers"):
            rm.filter_trials(_tiny_trials(), 'state == "a" * 300000000')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x > 1/0", "division by zero"),
        ("x > " + "-" * 1500 + "1", "nest"),
        ("x > " + "9" * 1500, "more than 30 digits"),
        ("x == [1] * 1000000000", "work on numbers"),
        ("x == [1, 2, 3]", "cannot evaluate"),
        ('x > -"a"', "work on numbers"),
    ],
)
def test_filter_errors_are_messages_not_tracebacks(expression: str, message: str) -> None:
    with pytest.raises(rm.ExpressionError, match=message):
        rm.filter_trials(_tiny_trials(), expression)


def test_filter_still_takes_negative_and_large_numbers() -> None:
    assert rm.filter_trials(_tiny_trials(), "x > -1")["number"].tolist() == [0, 1]
    assert rm.filter_trials(_tiny_trials(), "x < 99999999999999999999 and x * 2 - - 1 > 3")["number"].tolist() == [1]


# ---------------------------------------------------------------- sorting, Markdown, what matters


def test_sort_trials_ranks_only_succeeded_trials_by_a_metric() -> None:
    t = pd.DataFrame(
        {
            "number": [0, 1, 2, 3],
            "state": ["Succeeded", "Pruned", "Succeeded", "Failed"],
            "metrics.loss": [0.5, 0.01, 0.3, None],
            "params.x": [3, 1, 2, 0],
        }
    )
    assert rm.sort_trials(t, "metrics.loss")["number"].tolist() == [2, 0, 1, 3]
    assert rm.sort_trials(t, "metrics.loss", ascending=False)["number"].tolist() == [0, 2, 1, 3]
    assert rm.sort_trials(t, "params.x")["number"].tolist() == [3, 1, 2, 0]  # parameters: every trial alike


def test_markdown_html_fetches_nothing() -> None:
    text = (
        "# Title\n\n![img](http://198.51.100.7/a.png) [link](http://198.51.100.7/) <http://198.51.100.7/auto>\n\n"
        '![ref][r]\n\n[r]: http://198.51.100.7/r.png\n\n<img src="http://198.51.100.7/raw.png">\n\n'
        "```\n![in code](http://198.51.100.7/c.png)\n\n![after a blank line](http://198.51.100.7/d.png)\n```\n"
    )
    out = rm.markdown_html(text)
    assert "<h1>Title</h1>" in out
    assert not re.search(r"<(img|a|script|iframe|link)\b", out)  # no element that fetches or runs anything
    assert "&lt;img src=" in out  # raw HTML stays text
    for name in ("a.png", "r.png", "auto"):
        assert f"198.51.100.7/{name}" in out  # the addresses are shown, as text


def _experiment(n: int, direction: str = "minimize") -> rm.ExperimentData:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    rng = np.random.default_rng(1)
    x = rng.uniform(-5, 5, n)
    opt = rng.choice(["adam", "sgd"], n)
    noise = rng.uniform(-5, 5, n)
    loss = (x - 2) ** 2 + (opt == "sgd") * 3.0
    trials = pd.DataFrame(
        {
            "number": np.arange(n),
            "state": ["Succeeded"] * n,
            "params.x": x,
            "params.opt": opt,
            "params.noise": noise,
            "metrics.loss": loss if direction == "minimize" else -loss,
        }
    )
    return rm.ExperimentData(
        name="e",
        summary={},
        trials=trials,
        intermediate=pd.DataFrame(),
        directions=[direction],
        objectives=["loss"],
        params=["x", "opt", "noise"],
        metrics=["loss"],
        distributions={
            "x": FloatDistribution(-5, 5),
            "opt": CategoricalDistribution(["adam", "sgd"]),
            "noise": FloatDistribution(-5, 5),
        },
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_what_matters_names_the_top_parameters_and_the_best_range(direction: str) -> None:
    exp = _experiment(200, direction)
    importance = rm.param_importance(exp)
    assert importance.attrs["caution"] == "" and importance.attrs["trials"] == 200
    found = rm.what_matters(exp, importance)
    assert [f.param for f in found][:2] == ["x", "opt"]
    low, high = found[0].best_range
    assert -1 < low <= 2 <= high < 5 and high - low < 6  # the best fifth sit around the optimum x = 2
    assert found[0].sentence.startswith("x (importance ") and "searched -5 to 5" in found[0].sentence
    assert found[1].best_values[0] == "adam" and "use opt = adam" in found[1].sentence
    best = rm.best_of(exp)
    ranked = exp.trials["metrics.loss"].idxmin() if direction == "minimize" else exp.trials["metrics.loss"].idxmax()
    assert int(best["number"]) == int(exp.trials.loc[ranked, "number"])


def test_importance_says_method_trials_and_cautions_at_small_samples() -> None:
    small = rm.param_importance(_experiment(12))
    assert small.attrs["method"] == "PED-ANOVA" and small.attrs["trials"] == 12
    assert "only 12 succeeded trials" in small.attrs["caution"]
    assert rm.param_importance(_experiment(12), method="fanova").attrs["method"] == "fANOVA"


@pytest.mark.parametrize("template", ["kfold-cv", "quadratic", "sklearn-classifier"])
def test_starter_of_every_template_reports_its_objective(template: str) -> None:
    check = rm.check_yaml(rm.starter_yaml(template))
    assert check.ok and check.warnings == []
    assert check.spec.objective.metric_names[0] in check.spec.trial_template.pipeline.metric_names()


def test_check_yaml_warns_about_an_objective_the_template_does_not_report() -> None:
    doc = rm.starter_yaml("kfold-cv").replace("objectiveMetricName: accuracy", "objectiveMetricName: loss")
    check = rm.check_yaml(doc)
    assert check.ok and len(check.warnings) == 1
    assert "'loss' is not a metric the trial template 'kfold-cv' reports" in check.warnings[0]
    assert "MetricsUnavailable" in check.warnings[0]
