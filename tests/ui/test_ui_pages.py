"""Every page of the dashboard with ``streamlit.testing.v1.AppTest`` against a workspace of real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, store_digests
from streamlit.testing.v1 import AppTest

APP = str(REPO / "ui" / "app.py")


def open_page(
    home: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None, launch: bool = False, **params: Any
) -> AppTest:
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    if launch:
        monkeypatch.setenv("WORKBENCH_UI_ALLOW_LAUNCH", "1")
    else:
        monkeypatch.delenv("WORKBENCH_UI_ALLOW_LAUNCH", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    if page:
        at.switch_page(f"views/{page}.py")
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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


def test_lineage_page(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(ui_home, monkeypatch, "lineage", experiment="sk-ui", trial=0)
    nodes = at.dataframe[0].value
    assert {"execution", "artifact"} == set(nodes["kind"])
    assert {"load", "train", "evaluate"} <= set(nodes["step"])
    at.radio(key="lin_mode").set_value("an artifact").run()
    assert not at.exception
    assert at.get("plotly_chart")


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
