"""Figure builders: pure functions from DataFrames to plotly figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ui import figures


def trials(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n) * 2, unit="s")
    states = np.where(rng.random(n) < 0.8, "Succeeded", np.where(rng.random(n) < 0.5, "Pruned", "Failed"))
    return pd.DataFrame(
        {
            "number": np.arange(n),
            "state": states,
            "params.lr": 10 ** rng.uniform(-4, 0, n),
            "params.depth": rng.integers(1, 10, n),
            "params.opt": rng.choice(["sgd", "adam"], n).astype(object),
            "metrics.loss": rng.random(n),
            "metrics.size": rng.random(n) * 100,
            "started": start,
            "finished": start + pd.to_timedelta(rng.random(n) * 5, unit="s"),
            "duration_s": rng.random(n) * 5,
        }
    )


def inter(n: int, steps: int = 5) -> pd.DataFrame:
    t = trials(n)
    rows = pd.DataFrame({"number": np.repeat(t["number"], steps), "step": np.tile(np.arange(1, steps + 1), n)})
    rows["value"] = 1 / rows["step"] + rows["number"] * 0.001
    rows["state"] = pd.Categorical(np.repeat(t["state"], steps), categories=["Succeeded", "Pruned", "Failed"])
    return rows.reset_index(drop=True)


def test_history_best_so_far_and_webgl_switch() -> None:
    small = figures.history(trials(50), "metrics.loss", "minimize")
    assert {type(t).__name__ for t in small.data} == {"Scatter"}
    best = small.data[-1]
    assert best.name == "best so far" and np.all(np.diff(np.asarray(best.y, dtype=float)) <= 0)
    big = figures.history(trials(figures.GL_THRESHOLD * 2), "metrics.loss", "minimize")
    assert any(isinstance(t, go.Scattergl) for t in big.data)
    assert figures.best_so_far(pd.Series([3.0, np.nan, 1.0, 2.0]), "maximize").tolist() == [3.0, 3.0, 3.0, 3.0]


def test_history_of_many_trials_is_a_density_with_the_exact_best_line() -> None:
    t = trials(figures.DENSITY_THRESHOLD + 1000)
    dense = figures.history(t, "metrics.loss", "minimize")
    heat, best = dense.data
    assert isinstance(heat, go.Heatmap) and np.nansum(np.asarray(heat.z, dtype=float)) == len(t)
    ok = t[t["state"] == "Succeeded"]
    assert best.y[-1] == ok["metrics.loss"].min() and "density of" in dense.layout.title.text
    points = figures.history(t, "metrics.loss", "minimize", every_trial=True)
    assert not any(isinstance(tr, go.Heatmap) for tr in points.data)
    assert sum(len(tr.x) for tr in points.data[:-1]) == len(t)
    t2 = trials(figures.DENSITY_THRESHOLD * 2)
    logged = figures.history(t2, "metrics.loss", "minimize", log_y=True, show_other=False)
    assert np.nansum(np.asarray(logged.data[0].z, dtype=float)) == (t2["state"] == "Succeeded").sum()


def test_parallel_coordinates_orders_dimensions_and_labels_categories() -> None:
    fig = figures.parallel_coordinates(
        trials(100),
        ["opt", "lr", "depth"],
        "metrics.loss",
        "minimize",
        log_params=["lr"],
        ranges={"params.depth": (2.0, 5.0)},
    )
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["opt", "lr (log)", "depth", "loss"]
    assert list(dims[0].ticktext) == ["adam", "sgd"]
    assert tuple(dims[2].constraintrange) == (2.0, 5.0)


@pytest.mark.parametrize("n", [30, 6000])
def test_every_experiment_figure_builds(n: int) -> None:
    t = trials(n)
    for fig in (
        figures.slice_plot(t, ["lr", "depth", "opt"], "metrics.loss", log_params=["lr"]),
        figures.contour(t, "lr", "opt", "metrics.loss", "minimize", log_x=True),
        figures.intermediate_values(inter(n), highlight=[0], max_trials=1000),
        figures.edf({"a": t["metrics.loss"], "b": t["metrics.size"]}),
        figures.timeline(t),
        figures.pareto_front(t, ["loss", "size"], ["minimize", "minimize"], pd.Series(t.index < 5, index=t.index)),
        figures.history_overlay({"a": (t, "metrics.loss", "minimize"), "b": (t, "metrics.size", "maximize")}),
        figures.importance(pd.DataFrame({"param": ["lr", "depth"], "importance": [0.7, 0.3]}), "note"),
    ):
        assert isinstance(fig, go.Figure) and fig.data
        fig.to_json()  # serialisable as Streamlit sends it
    if n > figures.GL_THRESHOLD:
        assert isinstance(figures.slice_plot(t, ["lr"], "metrics.loss").data[0], go.Scattergl)


def test_intermediate_values_use_one_trace_per_state_and_sample() -> None:
    fig = figures.intermediate_values(inter(3000), max_trials=500, highlight=[7])
    per_state = [t for t in fig.data if isinstance(t, go.Scattergl)]
    assert len(per_state) <= 3 and "sample of 500" in fig.layout.title.text
    assert fig.data[-1].name == "trial 7"


def test_empty_inputs_give_a_message_not_an_error() -> None:
    empty = trials(0)
    for fig in (
        figures.history(empty, "metrics.loss", "minimize"),
        figures.parallel_coordinates(empty, ["lr"], "metrics.loss", "minimize"),
        figures.timeline(empty),
        figures.intermediate_values(inter(0)),
        figures.edf({}),
    ):
        assert fig.layout.annotations


def test_dag_layout_and_graph() -> None:
    pos = figures.dag_layout(
        ["load", "train", "evaluate"], [("load", "train"), ("train", "evaluate"), ("load", "evaluate")]
    )
    assert pos["load"][0] < pos["train"][0] < pos["evaluate"][0]
    nodes = pd.DataFrame({"id": ["load", "train"], "label": ["load", "train"], "state": ["Succeeded", "Failed"]})
    edges = pd.DataFrame({"source": ["load"], "target": ["train"], "label": ["data"]})
    fig = figures.dag(nodes, edges, hover=["state"])
    names = {t.name for t in fig.data if t.mode == "markers+text"}
    assert names == {"Succeeded", "Failed"}
    assert any(a.text == "data" for a in fig.layout.annotations)


def test_confusion_matrix_and_metric_bars() -> None:
    cm = figures.confusion_matrix(["a", "b"], [[5, 1], [2, 7]])
    assert isinstance(cm.data[0], go.Heatmap) and cm.data[0].z.tolist() == [[5, 1], [2, 7]]
    bars = figures.metrics_bars({"t1": {"acc": 0.9, "f1": 0.8}, "t2": {"acc": 0.95}})
    assert [b.name for b in bars.data] == ["t1", "t2"] and list(bars.data[1].y) == [0.95, None]


def test_parallel_coordinates_draws_selected_ranges_and_categories_as_brushes() -> None:
    t = pd.DataFrame(
        {
            "number": range(6),
            "state": ["Succeeded"] * 6,
            "params.lr": [1e-4, 1e-3, 1e-2, 1e-1, 0.5, 1.0],
            "params.opt": ["sgd", "adam", "rms", "sgd", "adam", "rms"],
            "metrics.loss": [5.0, 4.0, 3.0, 2.0, 1.0, 0.5],
        }
    )
    fig = figures.parallel_coordinates(
        t,
        ["lr", "opt"],
        "metrics.loss",
        "minimize",
        log_params=["lr"],
        ranges={"params.lr": (1e-3, 1e-1), "metrics.loss": (1.0, 4.0)},
        choices={"params.opt": ["adam", "sgd"]},
    )
    dims = {d.label: d for d in fig.data[0].dimensions}
    assert list(dims["lr (log)"].constraintrange) == pytest.approx([-3.0, -1.0])  # log axis: brushed in log10
    assert list(dims["loss"].constraintrange) == [1.0, 4.0]
    # categories are coded in sorted order (adam 0, rms 1, sgd 2): one brush per kept category
    assert [list(r) for r in dims["opt"].constraintrange] == [[-0.25, 0.25], [1.75, 2.25]]
