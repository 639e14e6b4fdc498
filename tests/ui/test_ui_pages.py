"""Every page of the dashboard with ``streamlit.testing.v1.AppTest`` against a workspace of real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import store_digests
from streamlit.testing.v1 import AppTest
from ui_helpers import open_page


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [c.value for c in at.caption]
    parts += [str(i.value) for i in at.info] + [str(e.value) for e in at.error] + [str(s.value) for s in at.success]
    return "\n".join(parts)


def test_experiments_page_lists_every_experiment(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch)
    frame = at.dataframe[0].value
    assert set(frame["name"]) == {"quad-ui", "zoo-mo", "sk-ui"}
    row = frame.set_index("name").loc["quad-ui"]
    assert row["state"] == "Succeeded" and row["trials"] == "8/8" and row["progress"] == 1.0
    assert "Pareto front of" in frame.set_index("name").loc["zoo-mo", "best"]
    assert "New experiment" not in [str(p) for p in at.get("navigation")] if at.get("navigation") else True
    at.text_input(key="exps_name").input("quad").run()
    assert list(at.dataframe[0].value["name"]) == ["quad-ui"]
    at.multiselect(key="exps_states").select("Failed").run()
    assert at.dataframe[0].value.empty


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
    assert {"zoo-mo:0", "zoo-mo:1", "differs"} <= set(table.columns)
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
    errors = [str(e.value) for e in at.error]
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
