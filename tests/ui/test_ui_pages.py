"""Every page of the dashboard with ``streamlit.testing.v1.AppTest`` against a workspace of real runs."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import store_digests
from streamlit.testing.v1 import AppTest
from ui_helpers import OUTSIDE, open_page

from workbench import readmodel as rm
from workbench.format import format_value
from workbench.workspace import Workspace


def texts(at: AppTest) -> str:
    """The page's text as a reader sees it (Markdown's backslash escapes removed)."""
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [c.value for c in at.caption]
    parts += [str(i.value) for i in at.info] + [str(e.value) for e in at.error] + [str(s.value) for s in at.success]
    parts += [str(w.value) for w in at.warning]
    return unescape("\n".join(parts))


def unescape(markdown: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def test_experiments_page_lists_every_experiment(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch)
    frame = at.dataframe[0].value
    assert set(frame["name"]) == {"quad-ui", "zoo-mo", "sk-ui", "hostile-md"}
    row = frame.set_index("name").loc["quad-ui"]
    assert row["state"] == "Succeeded" and row["trials"] == "8/8" and row["progress"] == 1.0
    assert "Pareto front of" in frame.set_index("name").loc["zoo-mo", "best"]
    assert "New experiment" not in [str(p) for p in at.get("navigation")] if at.get("navigation") else True
    at.text_input(key="exps_name").input("quad").run()
    assert list(at.dataframe[0].value["name"]) == ["quad-ui"]
    at.multiselect(key="exps_states").select("Failed").run()
    assert at.dataframe[0].value.empty


def test_archived_experiments_are_hidden_until_asked_for(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.api import archive_experiment

    every = set(open_page(ui_copy, monkeypatch).dataframe[0].value["name"])
    archive_experiment("zoo-mo", workspace=ui_copy)
    at = open_page(ui_copy, monkeypatch)
    assert set(at.dataframe[0].value["name"]) == every - {"zoo-mo"}
    at.toggle(key="exps_archived").set_value(True).run()
    frame = at.dataframe[0].value.set_index("name")
    assert set(frame.index) == every and frame.loc["zoo-mo", "state"].endswith("(archived)")
    compare = open_page(ui_copy, monkeypatch, "compare")
    assert "zoo-mo" not in str([s.options for s in compare.selectbox] + [m.options for m in compare.multiselect])


@pytest.mark.parametrize(
    "view",
    [
        "History",
        "Parallel coordinates",
        "Importance",
        "Slice",
        "Contour",
        "Learning curves",
        "EDF",
        "Timeline",
        "Trials",
        "Spec",
    ],
)
def test_experiment_page_views(ui_home: Path, monkeypatch: pytest.MonkeyPatch, view: str) -> None:
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view=view)
    assert at.title[0].value == "quad-ui"
    assert at.metric[0].value == "8"
    if view not in ("Trials", "Spec"):
        assert at.get("plotly_chart"), f"{view}: no chart"
    if view == "Spec":
        assert "maxTrialCount: 8" in at.code[0].value


def test_experiment_trial_table_filters(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Trials")
    assert len(at.dataframe[0].value) == 8
    at.text_input(key="tt_expr").input('x > 0 and state == "Succeeded"').run()
    shown = at.dataframe[0].value
    assert len(shown) < 8 and (shown["x"] > 0).all() and (shown["state"] == "Succeeded").all()
    at.text_input(key="tt_expr").input("__import__('os').system('true')").run()
    assert any("not allowed" in str(e.value) for e in at.error)
    at.text_input(key="tt_expr").input("").run()
    at.multiselect(key="tt_states").select("Pruned").run()
    assert set(at.dataframe[0].value["state"]) == {"Pruned"}


def test_experiment_page_multi_objective(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "experiment", name="zoo-mo")
    assert at.radio(key="exp_view").value == "Pareto front"
    assert "trials on the Pareto front" in texts(at)
    assert at.get("plotly_chart")


def test_trial_page_sklearn(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "trial", experiment="sk-ui", trial=0)
    assert at.title[0].value == "sk-ui · trial 0"
    steps = [d.value for d in at.dataframe if "cached" in getattr(d.value, "columns", [])][0]
    assert list(steps["step"]) == ["load", "train", "evaluate"]
    assert set(steps["state"]) == {"Succeeded"} and not steps["cached"].any()
    assert at.get("plotly_chart")  # metric history and the pipeline graph
    assert "open in the MLflow UI" in texts(at)
    assert any("dataset iris" in c.value for c in at.code)  # the log of the first step


@pytest.mark.parametrize(
    "artifact",
    ["make/table", "make/image", "make/notes", "make/page", "make/bundle", "score/metrics", "score/confusion"],
)
def test_trial_page_artifact_previews(ui_home: Path, monkeypatch: pytest.MonkeyPatch, artifact: str) -> None:
    at = open_page(ui_home, monkeypatch, "trial", experiment="zoo-mo", trial=1, artifact=artifact)
    assert at.selectbox(key="tr_art").value is not None
    body = texts(at)
    if artifact == "make/page":
        assert "scripts do not run" in body
    if artifact == "make/bundle":
        assert at.selectbox(key=[k for k in _keys(at) if k.endswith("_member")][0]).options


def _keys(at: AppTest) -> list[str]:
    return [w.key for w in at.selectbox if w.key]


def test_compare_trials(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "compare", trials="zoo-mo:0,zoo-mo:1")
    table = at.dataframe[0].value
    assert {"zoo-mo:0", "zoo-mo:1"} <= set(table.columns)
    at.toggle(key="cmp_diff").set_value(True).run()
    diff = at.dataframe[0].value
    assert "params.scale" in diff.index and "state" not in diff.index
    for output in at.selectbox(key="cmp_art").options:
        at.selectbox(key="cmp_art").set_value(output).run()
        assert not at.exception, (output, [e.value for e in at.exception])
    at.selectbox(key="cmp_art").set_value("make/table").run()
    assert any(m.label == "changed cells" for m in at.metric)


def test_compare_experiments(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "compare", experiments="quad-ui,sk-ui")
    assert at.radio(key="cmp_mode").value == "Experiments"
    assert {"quad-ui", "sk-ui"} <= set(at.dataframe[0].value.columns)
    assert len(at.get("plotly_chart")) >= 2


def _frame_with(at: AppTest, column: str) -> Any:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_lineage_page(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "lineage", experiment="sk-ui", trial=0)
    nodes = _frame_with(at, "kind")
    assert {"execution", "artifact"} == set(nodes["kind"])
    assert {"load", "train", "evaluate"} <= set(nodes["step"])
    assert "get_lineage_subgraph" in texts(at)  # ml-metadata 1.17 has it: the page says which query ran
    at.radio(key="lin_mode").set_value("an artifact").run()
    assert not at.exception
    assert at.get("plotly_chart")


def test_lineage_page_upstream_and_downstream_of_an_artifact(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model of sk-ui: upstream is load -> train (with train's parameters); downstream is evaluate."""
    from workbench import readmodel as rm
    from workbench.workspace import Workspace

    arts = rm.experiment_artifacts(rm.Stores(Workspace.at(ui_home)), "sk-ui")
    model = int(arts.loc[arts["type"] == "Model", "id"].iloc[0])
    at = open_page(ui_home, monkeypatch, "lineage", experiment="sk-ui", artifact=model, direction="upstream")
    assert at.radio(key="lin_mode").value == "an artifact" and at.radio(key="lin_dir").value == "upstream"
    chain = _frame_with(at, "parameters")
    assert list(chain["step"]) == ["load", "train"]
    assert "alpha=" in chain.set_index("step").loc["train", "parameters"]
    assert "data" in chain.set_index("step").loc["train", "inputs"]
    at.radio(key="lin_dir").set_value("downstream").run()
    assert list(_frame_with(at, "parameters")["step"]) == ["evaluate"]
    # Click through: the selected node's link opens its trial at that step or artifact.
    execution = next(i for i in _frame_with(at, "kind")["id"] if i.startswith("e"))
    at.selectbox(key="lin_node").set_value(execution).run()
    links = [el.proto for el in at.get("page_link")]
    assert any("step=evaluate" in str(link.query_string) and "trial=0" in str(link.query_string) for link in links)


def test_runs_page(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "runs")
    runs = at.dataframe[0].value
    assert len(runs) == 1 and runs["state"].iloc[0] == "Succeeded" and runs["experiment"].iloc[0] == "adhoc"


def test_pages_write_nothing(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store_digests(ui_copy)
    for page, params in [
        (None, {}),
        ("experiment", {"name": "quad-ui", "view": "Importance"}),
        ("trial", {"experiment": "sk-ui", "trial": 0}),
        ("compare", {"trials": "zoo-mo:0,zoo-mo:2"}),
        ("lineage", {"experiment": "zoo-mo", "trial": 0}),
        ("runs", {}),
    ]:
        open_page(ui_copy, monkeypatch, page, **params)
    assert store_digests(ui_copy) == before


def test_new_experiment_page_only_in_launch_mode(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_copy, monkeypatch, "new_experiment")
    assert at.title[0].value == "Experiments"  # not registered: the default page instead
    at = open_page(ui_copy, monkeypatch, "new_experiment", launch=True)
    assert "valid: experiment" in texts(at)
    at.selectbox(key="new_tpl").set_value("quadratic")  # the catalog grows: pick the template this test knows
    at.button(key="new_use").click().run()
    assert "valid: experiment" in texts(at)
    bad = at.text_area(key="new_yaml").value.replace("max: '5.0'", "max: '-9'", 1)
    at.text_area(key="new_yaml").input(bad).run()
    errors = [unescape(str(e.value)) for e in at.error]
    assert errors and "spec.parameters[0].feasibleSpace" in errors[0]
    assert at.button(key="new_launch").disabled


@pytest.mark.slow
def test_launch_mode_starts_and_stops_an_experiment(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """New experiment: launch a YAML in the background; it appears on Experiments; Stop ends it (Stopped)."""
    import time

    import yaml

    from workbench import readmodel as rm
    from workbench.workspace import Workspace

    at = open_page(ui_copy, monkeypatch, "new_experiment", launch=True)
    doc = yaml.safe_load(at.text_area(key="new_yaml").value)
    doc["metadata"]["name"] = "launched-ui"
    doc["spec"]["maxTrialCount"] = 400
    doc["spec"]["parallelTrialCount"] = 1
    at.text_area(key="new_yaml").input(yaml.safe_dump(doc)).run()
    at.button(key="new_launch").click().run()
    assert not at.exception and "launched **launched-ui**" in texts(at)
    model = rm.ReadModel(Workspace.at(ui_copy))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        exps = model.experiments().set_index("name")
        if "launched-ui" in exps.index and exps.loc["launched-ui", "finished"] >= 2:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the launched experiment did not start running")
    at = open_page(ui_copy, monkeypatch, launch=True)
    row = at.dataframe[0].value.set_index("name").loc["launched-ui"]
    assert row["state"] == "Running"
    at = open_page(ui_copy, monkeypatch, "experiment", launch=True, name="launched-ui")
    at.button(key="exp_stop").click().run()
    assert "asked the controller" in texts(at)
    while time.monotonic() < deadline + 60:
        if model.experiments().set_index("name").loc["launched-ui", "state"] == "Stopped":
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the launched experiment did not stop")


def test_trial_page_opens_the_step_a_lineage_link_names(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "trial", experiment="sk-ui", trial=0, step="train")
    assert at.radio(key="tr_log_step").value == "train"
    assert "train" in at.code[0].value or at.code[0].value  # the train step's log is shown


def test_parallel_coordinates_range_selection_feeds_the_trial_table(
    ui_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The brush: a range chosen for x selects the succeeded trials inside it, draws it on the x axis, and links to
    the trial table filtered the same way."""
    import json

    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Parallel coordinates")
    assert "Streamlit does not report" in str(at.multiselect(key="pc_params").help)
    slider = at.slider(key="pc_rng_x")
    lo, hi = slider.min, slider.max
    mid = (lo + hi) / 2
    slider.set_range(lo, mid).run()
    assert not at.exception
    shown = _frame_with(at, "x")
    assert len(shown) >= 1 and (shown["x"] <= mid).all() and (shown["state"] == "Succeeded").all()
    from workbench import readmodel as rm
    from workbench.workspace import Workspace

    t = rm.ReadModel(Workspace.at(ui_home)).experiment("quad-ui").trials
    expected = t[(t["state"] == "Succeeded") & (t["params.x"] <= mid)]
    assert sorted(shown["number"]) == sorted(expected["number"])
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    x_dim = next(d for d in spec["data"][0]["dimensions"] if d["label"] == "x")
    assert x_dim["constraintrange"] == pytest.approx([lo, mid])
    links = [str(el.proto.query_string) for el in at.get("page_link")]
    assert any("view=Trials" in q and "filter=" in q for q in links)


# ---------------------------------------------------------------- the dashboard toured as a data scientist would


def _chart(at: AppTest, key: str) -> dict[str, Any]:
    """The plotly figure (as JSON) of the chart with widget key ``key``."""
    charts = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert charts, f"no chart {key}"
    return json.loads(charts[0].proto.spec)


def _display_values(at: AppTest, key: str) -> pd.DataFrame:
    """What a dataframe shows (the display values of its Styler), not the values underneath."""
    from streamlit import dataframe_util

    frame = next(d for d in at.dataframe if key in d.proto.id)
    assert frame.proto.arrow_data.styler.display_values, "no display values: the numbers are shown unformatted"
    return dataframe_util.convert_arrow_bytes_to_pandas_df(frame.proto.arrow_data.styler.display_values)


def test_multi_objective_views_follow_the_objective_selector(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """History, parallel coordinates, importance and the summary show the objective chosen, not always the first;
    the header names every objective."""
    at = open_page(ui_home, monkeypatch, "experiment", name="zoo-mo", view="History")
    assert "minimize loss, minimize size" in texts(at).replace("**", "")
    assert _chart(at, "hist_chart")["layout"]["yaxis"]["title"]["text"] == "loss"
    at.selectbox(key="exp_objective").set_value(1).run()
    assert _chart(at, "hist_chart")["layout"]["yaxis"]["title"]["text"] == "size"
    assert "What matters for size" in texts(at).replace("**", "")
    at.radio(key="exp_view").set_value("Parallel coordinates").run()
    assert _chart(at, "pc_chart")["data"][0]["dimensions"][-1]["label"] == "size"
    at.radio(key="exp_view").set_value("Importance").run()
    assert "Parameter importance for size" in _chart(at, "imp_chart")["layout"]["title"]["text"]
    at = open_page(ui_home, monkeypatch, "experiment", name="zoo-mo", view="History", objective="size")
    assert at.selectbox(key="exp_objective").value == 1


def test_experiment_page_opens_with_a_summary_card(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The best trial (value, parameters, a link), what matters (top parameters with the best range, one sentence
    each) and the state of the sweep, without a click."""
    exp = rm.ReadModel(Workspace.at(ui_home)).experiment("quad-ui")
    best = exp.summary["best_trial"]
    row = exp.trials.set_index("number").loc[best]
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui")
    body = texts(at).replace("**", "")
    assert f"Best trial: {best}" in body and f"loss = {format_value(row['metrics.loss'])}" in body
    assert f"x = {format_value(row['params.x'])}" in body and f"y = {format_value(row['params.y'])}" in body
    assert "8 of 8 trials finished" in body and "4 pruned" in body
    assert "What matters for loss" in body
    sentences = [line for line in body.splitlines() if "(importance " in line]
    assert len(sentences) == 2 and all("searched -5 to 5" in line for line in sentences), sentences
    assert any(f"trial={best}" in str(link.proto.query_string) for link in at.get("page_link"))


def test_importance_shows_values_method_trials_and_a_caution(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Importance")
    fig = _chart(at, "imp_chart")
    assert "PED-ANOVA on 4 succeeded trials" in fig["layout"]["title"]["text"]
    importance = rm.param_importance(rm.ReadModel(Workspace.at(ui_home)).experiment("quad-ui"))
    expected = [format_value(v, 2) for v in importance["importance"][::-1]]  # drawn bottom up
    assert fig["data"][0]["text"] == expected  # each bar says its value
    assert any("only 4 succeeded trials" in unescape(str(w.value)) for w in at.warning)
    both = next(d.value for d in at.dataframe if "fANOVA" in d.value.columns)  # both methods side by side
    assert list(both.columns) == ["PED-ANOVA", "fANOVA"] and set(both.index) == {"x", "y"}
    assert any("disagree" in str(i.value) for i in at.info) == (both["PED-ANOVA"].idxmax() != both["fANOVA"].idxmax())


@pytest.mark.parametrize(
    ("page", "params", "message"),
    [
        ("experiment", {"name": "../../etc"}, "Experiment ../../etc not found"),
        ("experiment", {"name": "no-such-experiment"}, "Experiment no-such-experiment not found"),
        ("trial", {"experiment": "quad-ui", "trial": 99999}, "Trial 99999 not found in quad-ui"),
        ("trial", {"experiment": "quad-ui", "trial": "x"}, "Trial x not found in quad-ui"),
        ("compare", {"trials": "quad-ui:99999,zoo-mo:0"}, "Trial quad-ui:99999 not found"),
        ("compare", {"experiments": "quad-ui,no-such-experiment"}, "Experiment no-such-experiment not found"),
        ("lineage", {"experiment": "sk-ui", "artifact": 99999999}, "Artifact 99999999 not found in sk-ui"),
        ("lineage", {"experiment": "sk-ui", "trial": 7}, "Trial 7 not found in sk-ui"),
    ],
)
def test_unknown_ids_in_the_url_say_not_found(
    ui_home: Path, monkeypatch: pytest.MonkeyPatch, page: str, params: dict[str, Any], message: str
) -> None:
    """Nothing else is substituted: no other experiment's title, no chart, no table; the known ones are offered."""
    at = open_page(ui_home, monkeypatch, page, **params)
    errors = [unescape(str(e.value)).replace("**", "") for e in at.error]
    assert any(message in e for e in errors), errors
    assert not at.get("plotly_chart") and not at.dataframe
    assert not [t.value for t in at.title if t.value not in ("Compare", "Lineage")]
    assert at.get("page_link")  # the known experiments (or trials, artifacts) to pick from


def test_unknown_artifact_of_a_trial_says_not_found(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "trial", experiment="zoo-mo", trial=0, artifact="make/nope")
    assert any("Artifact make/nope not found in trial 0" in unescape(str(e.value)).replace("**", "") for e in at.error)
    with pytest.raises(KeyError):
        at.selectbox(key="tr_art")  # no other artifact is previewed in its place


def test_trial_table_ranks_pruned_trials_after_results(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pruned trial's loss is its last intermediate value: sorted by loss (either way), never among the results."""
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Trials")
    for ascending in (True, False):
        at.toggle(key="tt_asc").set_value(ascending).run()
        states = list(at.dataframe[0].value["state"])
        succeeded = states.count("Succeeded")
        assert succeeded and states[:succeeded] == ["Succeeded"] * succeeded, (ascending, states)
        losses = list(at.dataframe[0].value["loss"])[:succeeded]
        assert losses == sorted(losses, reverse=not ascending)


def test_trial_table_shows_small_values_with_an_exponent(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """alpha = 1.7e-06 reads as such (one formatter), not rounded to 0.000002; the value underneath stays whole."""
    at = open_page(ui_home, monkeypatch, "experiment", name="sk-ui", view="Trials")
    alpha = float(at.dataframe[0].value["alpha"].iloc[0])
    assert alpha < 1e-5
    shown = _display_values(at, "tt_df")
    assert shown["alpha"].iloc[0] == format_value(alpha) and "e-0" in shown["alpha"].iloc[0]


@pytest.mark.parametrize(
    "expression",
    ['state == "a" * 300000000', "x > 1/0", "x > " + "-" * 1500 + "1", "x > " + "9" * 1500],
)
def test_trial_filter_refuses_what_it_cannot_evaluate(
    ui_home: Path, monkeypatch: pytest.MonkeyPatch, expression: str
) -> None:
    """A filter that would build gigabytes, divide by zero, nest deeply or hold a huge number: a message, never a
    traceback (and nothing built)."""
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Trials")
    at.text_input(key="tt_expr").input(expression).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(str(e.value).startswith("filter:") for e in at.error)


def test_trial_page_draws_each_metric_history_once(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One chart of MLflow's histories (axis titles, no subplot titles), no second copy of the objective's curve;
    metrics logged once are values, not flat lines."""
    at = open_page(ui_home, monkeypatch, "trial", experiment="sk-ui", trial=0)
    assert not [c for c in at.get("plotly_chart") if "tr_inter" in c.proto.id]
    fig = _chart(at, "tr_hist")
    panels = {t["yaxis"] for t in fig["data"]}
    y_titles = {k: v["title"]["text"] for k, v in fig["layout"].items() if k.startswith("yaxis")}
    assert len(y_titles) == len(panels) and "accuracy" in y_titles.values()
    assert all(v["title"]["text"] == "step" for k, v in fig["layout"].items() if k.startswith("xaxis"))
    assert not fig["layout"].get("annotations")  # no subplot titles to collide with tick labels
    once = {m.label: m.value for m in at.metric}
    assert "f1" in once and "f1" not in y_titles.values()  # one value (logged more than once): a number


def test_parallel_coordinates_are_readable(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tick labels without the text shadow that smears them; the title above the band of axis names."""
    at = open_page(ui_home, monkeypatch, "experiment", name="quad-ui", view="Parallel coordinates")
    fig = _chart(at, "pc_chart")
    trace = fig["data"][0]
    assert trace["tickfont"]["shadow"] == "none" and trace["labelfont"]["shadow"] == "none"
    assert fig["layout"]["margin"]["t"] >= 100 and fig["layout"]["title"]["yref"] == "container"


def test_experiments_table_links_and_progress(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full progress bar is not red; the experiments are links that stay in the app (not new tabs)."""
    at = open_page(ui_home, monkeypatch)
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["progress"]["type_config"]["color"] == "blue"
    links = {link.proto.label: str(link.proto.query_string) for link in at.get("page_link")}
    assert {"quad-ui", "zoo-mo", "sk-ui", "hostile-md"} <= set(links) and "name=quad-ui" in links["quad-ui"]
    assert not [m.value for m in at.markdown if "](" in m.value]  # no Markdown link (those open a new tab)


def test_step_markdown_is_shown_as_text(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure message with an image and a link, and a Markdown artifact with both: no image or link is
    rendered (the browser test checks that no outside request is made)."""
    at = open_page(ui_home, monkeypatch, "trial", experiment="hostile-md", trial=0)
    rendered = [m.value for m in at.markdown] + [str(e.value) for e in at.error] + [c.value for c in at.caption]
    hostile = [r for r in rendered if f"![pixel]({OUTSIDE}/step.png)" in unescape(r)]
    assert len(hostile) >= 2  # the message in the header and the failure under the log are shown...
    assert not [r for r in hostile if "![" in r or "](" in r or ":red[" in r]  # ...as text
    at = open_page(ui_home, monkeypatch, "trial", experiment="zoo-mo", trial=0, artifact="make/notes")
    html = "".join(h.proto.body for h in at.get("html"))
    assert "<h1>Notes</h1>" in html and f"{OUTSIDE}/notes.png" in html
    assert "<img" not in html and "<a " not in html and "<script" not in html
    assert not [m.value for m in at.markdown if OUTSIDE in m.value]


def test_new_experiment_starter_runs_as_shipped(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default starter's objective is a metric its template reports; one that is not gets a warning."""
    from workbench.spec import list_templates, load_pipeline

    at = open_page(ui_copy, monkeypatch, "new_experiment", launch=True)
    doc = yaml.safe_load(at.text_area(key="new_yaml").value)
    template = doc["spec"]["trialTemplate"]["template"]
    declared = load_pipeline(list_templates()[template]).metrics
    objective = doc["spec"]["objective"]
    assert objective["objectiveMetricName"] == declared[0].name and objective["type"] == declared[0].goal
    assert "valid: experiment" in texts(at) and not at.warning
    objective["objectiveMetricName"] = "no_such_metric"
    at.text_area(key="new_yaml").input(yaml.safe_dump(doc)).run()
    warnings = [unescape(str(w.value)) for w in at.warning]
    assert any("'no_such_metric' is not a metric the trial template" in w for w in warnings), warnings
    assert not at.button(key="new_launch").disabled  # a warning, not an error


def _zombies() -> list[int]:
    """Children of this process that ended and were never waited for (``<defunct>``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(entry))
    return found


@pytest.mark.slow
def test_launched_starter_succeeds_and_leaves_no_zombie(ui_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default starter launched from the dashboard (one trial) ends Succeeded, and its controller, once ended,
    is not left as a <defunct> child of the dashboard's process."""
    at = open_page(ui_copy, monkeypatch, "new_experiment", launch=True)
    doc = yaml.safe_load(at.text_area(key="new_yaml").value)
    doc["metadata"]["name"] = "starter-ui"
    doc["spec"]["maxTrialCount"] = 1
    at.text_area(key="new_yaml").input(yaml.safe_dump(doc)).run()
    at.button(key="new_launch").click().run()
    assert "launched **starter-ui**" in texts(at)
    pid = at.session_state["launched"]["pid"]
    model = rm.ReadModel(Workspace.at(ui_copy))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        exps = model.experiments().set_index("name")
        if "starter-ui" in exps.index and exps.loc["starter-ui", "state"] not in ("Created", "Running"):
            break
        time.sleep(0.5)
    row = model.experiments().set_index("name").loc["starter-ui"]
    assert row["state"] == "Succeeded" and row["failed"] == 0, row.to_dict()
    while Path(f"/proc/{pid}").exists() and pid not in _zombies() and time.monotonic() < deadline:
        time.sleep(0.2)  # the controller exits just after it records the final state
    settle = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < settle:  # a reaped child disappears at once
        time.sleep(0.1)
    assert pid not in _zombies() and not Path(f"/proc/{pid}").exists()
