"""Every chart of the dashboard: pure functions from DataFrames to plotly figures (no Streamlit here).

Scatter plots switch to WebGL (``Scattergl``) past :data:`GL_THRESHOLD` points; many lines
(learning curves, the timeline) are drawn as one trace per state with gaps, not one trace
per trial, so 50,000 trials stay a handful of traces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from workbench.format import format_value

#: Above this many points a scatter trace is drawn with WebGL.
GL_THRESHOLD = 2000
#: Above this many trials the optimization history draws a density instead of one point per trial.
DENSITY_THRESHOLD = 5000
#: Drawing budgets of the charts whose cost grows with every trial drawn (the data behind them is whole: tables,
#: filters and statistics always use every trial). Past a budget a chart draws the best trials and an evenly
#: spaced sample of the rest, and says so in its title; the page offers to draw everything.
MAX_LINES = 1000  # parallel coordinates, learning curves
MAX_POINTS = 3000  # slice panels, contour overlay, timeline, EDF steps
STATE_COLORS = {
    "Succeeded": "#2ca02c",
    "Pruned": "#ff9f1c",
    "Failed": "#d62728",
    "MetricsUnavailable": "#e377c2",
    "Killed": "#9467bd",
    "Running": "#1f77b4",
    "Pending": "#9e9e9e",
    "Cached": "#17becf",
    "Skipped": "#bcbd22",
    "Cancelled": "#8c564b",
    "Stopped": "#9467bd",
    "Created": "#9e9e9e",
}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _template() -> go.layout.Template:
    """plotly_white with legible axes on every chart: exponents written as ``1e-06`` (not plotly's SI ``1µ``,
    in tick labels and hover values alike) and margins that grow to fit tick labels and axis titles."""
    template = go.layout.Template(pio.templates["plotly_white"])
    axis = {"exponentformat": "e", "automargin": True, "title": {"standoff": 8}}
    template.layout.xaxis.update(axis)
    template.layout.yaxis.update(axis)
    return template


TEMPLATE = _template()
_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "template": TEMPLATE, "height": 420}


def scatter_class(n: int) -> type:
    """``go.Scattergl`` for more than :data:`GL_THRESHOLD` points, else ``go.Scatter``."""
    return go.Scattergl if n > GL_THRESHOLD else go.Scatter


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _numeric(values: pd.Series) -> bool:
    """True for a numeric column (booleans count as categories)."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def sample(
    frame: pd.DataFrame, limit: int | None, objective: str | None = None, direction: str = "minimize", best: float = 0.5
) -> tuple[pd.DataFrame, str]:
    """At most ``limit`` rows: the best ``best`` share by ``objective`` plus evenly spaced others (in order).

    Returns the rows and a note for the chart's title ("" when nothing was left out).
    """
    n = len(frame)
    if limit is None or n <= limit:
        return frame, ""
    keep = pd.Index([])
    if objective is not None and objective in frame:
        k = int(limit * best)
        ranked = frame[objective].sort_values(ascending=direction == "minimize", na_position="last", kind="stable")
        keep = ranked.index[:k]
    rest = frame.index.difference(keep)
    spaced = rest[np.linspace(0, len(rest) - 1, max(0, limit - len(keep))).astype(int)] if len(rest) else rest
    rows = frame.loc[frame.index.isin(keep.union(spaced))]
    return rows, f" — drawing {len(rows):,} of {n:,}"


def _label(column: str) -> str:
    return column.split(".", 1)[1] if column.startswith(("params.", "metrics.")) else column


def best_steps(numbers: pd.Series, values: pd.Series, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """The best-so-far staircase reduced to its corners: the trials that improved it, and the last trial."""
    best = best_so_far(values, direction)
    x = numbers.to_numpy()
    if len(best) == 0:
        return x, best
    keep = np.r_[True, ~((best[1:] == best[:-1]) | (np.isnan(best[1:]) & np.isnan(best[:-1])))]
    keep[-1] = True
    return x[keep], best[keep]


def best_so_far(values: pd.Series, direction: str) -> np.ndarray:
    """Running best (min for ``minimize``, max for ``maximize``), NaN ignored."""
    arr = values.to_numpy(dtype=float)
    filled = np.where(np.isnan(arr), np.inf if direction == "minimize" else -np.inf, arr)
    out = np.minimum.accumulate(filled) if direction == "minimize" else np.maximum.accumulate(filled)
    return np.where(np.isinf(out), np.nan, out)


# ------------------------------------------------------------------ experiment plots


def history(
    trials: pd.DataFrame,
    objective: str,
    direction: str,
    *,
    show_other: bool = True,
    log_y: bool = False,
    title: str = "Optimization history",
    every_trial: bool | None = None,
) -> go.Figure:
    """Objective value per trial (succeeded trials; pruned/failed ones with a value in grey) and the best so far.

    Above :data:`DENSITY_THRESHOLD` trials (unless ``every_trial``) the trials are drawn as a density
    (a heatmap of counts, a tenth of the drawing time of 10,000 WebGL points in a software-rendered
    browser); the best-so-far line stays exact.
    """
    if objective not in trials.columns or trials.empty:
        return _empty(title, "no trials yet")
    ok = best_src = trials[(trials["state"] == "Succeeded") & trials[objective].notna()].sort_values("number")
    fig = go.Figure()
    shown = trials[trials[objective].notna() & ((trials["state"] == "Succeeded") | show_other)]
    if not every_trial and len(shown) > DENSITY_THRESHOLD:
        fig.add_trace(_density(shown["number"], shown[objective], log_y, objective))
        title = f"{title} (density of {len(shown):,} trials)"
        show_other = False
        ok = ok.iloc[0:0]
    if show_other:
        other = trials[(trials["state"] != "Succeeded") & trials[objective].notna()]
        if len(other):
            fig.add_trace(
                scatter_class(len(other))(
                    x=other["number"],
                    y=other[objective],
                    mode="markers",
                    name="pruned / failed (last value)",
                    marker={"color": "#c7c7c7", "size": 5},
                    customdata=other["number"],
                    hovertemplate="trial %{x}<br>%{y}<extra>%{fullData.name}</extra>",
                )
            )
    if not ok.empty:
        fig.add_trace(_trial_points(ok, objective))
    if best_src.empty:
        fig.update_layout(title=title, **_LAYOUT)
        return fig
    bx, by = best_steps(best_src["number"], best_src[objective], direction)
    fig.add_trace(
        go.Scatter(
            x=bx,
            y=by,
            mode="lines",
            name="best so far",
            line={"color": "#d62728", "width": 2, "shape": "hv"},
            hovertemplate="best so far %{y} (trial %{x})<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="trial", yaxis_title=_label(objective), **_LAYOUT)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def _density(numbers: pd.Series, values: pd.Series, log_y: bool, objective: str) -> go.Heatmap:
    """Trials per (trial number, value) cell, empty cells transparent."""
    x = numbers.to_numpy(dtype=float)
    y = values.to_numpy(dtype=float)
    keep = np.isfinite(y) & ((y > 0) if log_y else True)
    x, y = x[keep], (np.log10(y[keep]) if log_y else y[keep])
    counts, xe, ye = np.histogram2d(x, y, bins=(min(200, max(1, len(x) // 20)), 80))
    yc = (ye[:-1] + ye[1:]) / 2
    return go.Heatmap(
        x=(xe[:-1] + xe[1:]) / 2,
        y=10**yc if log_y else yc,
        z=np.where(counts.T > 0, counts.T, np.nan),
        colorscale="Blues",
        showscale=False,
        name="trials",
        hovertemplate="around trial %{x:.0f}, " + _label(objective) + " %{y:.4g}: %{z:.0f} trials<extra></extra>",
    )


def _trial_points(ok: pd.DataFrame, objective: str) -> go.Scatter:
    return scatter_class(len(ok))(
        x=ok["number"],
        y=ok[objective],
        mode="markers",
        name=_label(objective),
        marker={
            "color": STATE_COLORS["Succeeded"],
            "size": 6 if len(ok) <= 5000 else 3,
            "opacity": 1.0 if len(ok) <= 5000 else 0.5,
        },
        customdata=ok["number"],
        hovertemplate="trial %{x}<br>" + _label(objective) + " %{y}<extra></extra>",
    )


def _dimension(
    values: pd.Series,
    label: str,
    log: bool,
    constraint: tuple[float, float] | None = None,
    chosen: Sequence[Any] | None = None,
) -> dict:
    dim: dict[str, Any] = {"label": label}
    if not _numeric(values):
        cats = sorted({str(v) for v in values.dropna()})
        code = {c: i for i, c in enumerate(cats)}
        dim.update(
            values=[code.get(str(v), np.nan) if v is not None else np.nan for v in values],
            tickvals=list(range(len(cats))),
            ticktext=cats,
        )
        if len(cats) == 1:
            dim["range"] = [-0.5, 0.5]
        if chosen is not None:  # one brush per chosen category
            picked = sorted(code[str(c)] for c in chosen if str(c) in code)
            dim["constraintrange"] = [[i - 0.25, i + 0.25] for i in picked] or [[-0.5, -0.4]]
        return dim
    arr = values.to_numpy(dtype=float)
    if log and np.nanmin(arr, initial=np.inf) > 0:
        logs = np.log10(arr)
        lo, hi = np.nanmin(logs), np.nanmax(logs)
        ticks = np.arange(math.floor(lo), math.ceil(hi) + 1)
        dim.update(
            values=logs,
            range=[float(ticks[0]), float(max(ticks[-1], ticks[0] + 1))],  # whole decades: no tick off the axis
            tickvals=ticks.tolist(),
            ticktext=[format_value(10.0 ** int(t)) for t in ticks],
            label=f"{label} (log)",
        )
        if constraint is not None:
            dim["constraintrange"] = [math.log10(max(constraint[0], 1e-300)), math.log10(max(constraint[1], 1e-300))]
        return dim
    dim["values"] = arr
    dim["tickformat"] = ".4~g"  # 4 significant digits, an exponent for tiny or huge values
    if constraint is not None:
        dim["constraintrange"] = list(constraint)
    return dim


def parallel_coordinates(
    trials: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    direction: str,
    *,
    log_params: Sequence[str] = (),
    ranges: dict[str, tuple[float, float]] | None = None,
    choices: dict[str, Sequence[Any]] | None = None,
    max_lines: int | None = MAX_LINES,
) -> go.Figure:
    """One line per succeeded trial through the chosen parameters (in the given order) and the objective.

    ``ranges`` (``{column: (low, high)}``) and ``choices`` (``{column: [category, ...]}``) are drawn as
    brushes on their axes (plotly's ``constraintrange``): the selection the page made with its range
    selectors. Past ``max_lines`` trials the best half and an even sample of the rest are drawn
    (``None``: all).
    """
    title = "Parallel coordinates"
    if objective not in trials.columns:
        return _empty(title, "no objective values yet")
    ok = trials[(trials["state"] == "Succeeded") & trials[objective].notna()]
    if ok.empty:
        return _empty(title, "no succeeded trials yet")
    ranges = ranges or {}
    choices = choices or {}
    total = len(ok)
    ok, note = sample(ok, max_lines, objective, direction)
    dims = [
        _dimension(ok[f"params.{p}"], p, p in log_params, ranges.get(f"params.{p}"), choices.get(f"params.{p}"))
        for p in params
        if f"params.{p}" in ok.columns
    ]
    dims.append(_dimension(ok[objective], _label(objective), False, ranges.get(objective)))
    color = ok[objective].to_numpy(dtype=float)
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": color,
                "colorscale": "Viridis",
                "reversescale": direction == "minimize",
                "showscale": True,
                "colorbar": {"title": {"text": _label(objective)}, "x": 1.04},
            },
            # Plain labels: plotly's default white text shadow smears them in a browser without GPU.
            labelfont={"size": 13, "shadow": "none"},
            tickfont={"size": 11, "shadow": "none"},
            rangefont={"size": 10, "shadow": "none", "color": "#777"},
        )
    )
    fig.update_layout(
        # The title sits at the top of the figure; axis names and ranges get their own band under it.
        title={
            "text": f"{title} ({total:,} succeeded trials{note})",
            "y": 0.985,
            "yref": "container",
            "yanchor": "top",
        },
        **{**_LAYOUT, "height": 460, "margin": {"l": 70, "r": 90, "t": 110, "b": 30}},
    )
    return fig


def importance(frame: pd.DataFrame, note: str = "", objective: str = "") -> go.Figure:
    """Horizontal bars of parameter importance for ``objective``, each labelled with its value; ``note`` (under the
    title) names the method and how many trials it used (see :func:`workbench.readmodel.param_importance`)."""
    title = f"Parameter importance for {objective}" if objective else "Parameter importance"
    if frame.empty:
        return _empty(title, note or "not enough trials")
    f = frame.iloc[::-1]
    values = f["importance"].astype(float)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=f["param"],
            orientation="h",
            marker_color="#1f77b4",
            text=[format_value(v, 2) for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, max(1e-9, float(values.max())) * 1.15])
    fig.update_layout(
        title=f"{title}<br><sup>{note}</sup>" if note else title,
        xaxis_title="importance (sums to 1)",
        **{**_LAYOUT, "height": max(250, 90 + 28 * len(f)), "margin": {"l": 50, "r": 40, "t": 60, "b": 40}},
    )
    return fig


def slice_plot(
    trials: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    *,
    log_params: Sequence[str] = (),
    cols: int = 3,
    max_points: int | None = MAX_POINTS,
    direction: str = "minimize",
) -> go.Figure:
    """The objective against each parameter (one panel per parameter), colored by trial number."""
    title = "Slice"
    ok = (
        trials[(trials["state"] == "Succeeded") & trials[objective].notna()] if objective in trials else trials.iloc[:0]
    )
    params = [p for p in params if f"params.{p}" in ok.columns]
    if ok.empty or not params:
        return _empty(title, "no succeeded trials yet")
    ok, note = sample(ok, max_points, objective, direction, best=0.2)
    title += note
    cols = max(1, min(cols, len(params)))
    rows = math.ceil(len(params) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=params,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        vertical_spacing=0.12 if rows > 1 else 0.1,
    )
    cls = scatter_class(len(ok) * len(params))
    for i, p in enumerate(params):
        r, c = i // cols + 1, i % cols + 1
        x = ok[f"params.{p}"]
        fig.add_trace(
            cls(
                x=x.astype(str) if not _numeric(x) else x,
                y=ok[objective],
                mode="markers",
                showlegend=False,
                marker={
                    "size": 5,
                    "color": ok["number"],
                    "colorscale": "Blues",
                    "showscale": i == 0,
                    "colorbar": {"title": {"text": "trial"}} if i == 0 else None,
                },
                customdata=ok["number"],
                hovertemplate=p + " %{x}<br>value %{y}<br>trial %{customdata}<extra></extra>",
            ),
            row=r,
            col=c,
        )
        if p in log_params:
            fig.update_xaxes(type="log", row=r, col=c)
    fig.update_yaxes(title_text=_label(objective), col=1)
    fig.update_layout(title=title, **{**_LAYOUT, "height": 300 * rows + 80})
    return fig


def _codes(series: pd.Series, log: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """Numeric positions for an axis (category codes or log10) and the axis settings that label them."""
    if not _numeric(series):
        cats = sorted({str(v) for v in series.dropna()})
        code = {c: i for i, c in enumerate(cats)}
        return np.array([code.get(str(v), np.nan) for v in series], dtype=float), {
            "tickvals": list(range(len(cats))),
            "ticktext": cats,
        }
    arr = series.to_numpy(dtype=float)
    if log and np.nanmin(arr, initial=np.inf) > 0:
        return np.log10(arr), {"title_suffix": " (log10)"}
    return arr, {}


def contour(
    trials: pd.DataFrame,
    x: str,
    y: str,
    objective: str,
    direction: str,
    *,
    log_x: bool = False,
    log_y: bool = False,
    bins: int = 25,
) -> go.Figure:
    """The objective over a pair of parameters: the mean value per grid cell as a contour, trials as points."""
    title = f"Contour: {x} × {y}"
    cols = [f"params.{x}", f"params.{y}", objective]
    if any(c not in trials.columns for c in cols):
        return _empty(title, "choose two parameters")
    ok = trials[(trials["state"] == "Succeeded")].dropna(subset=cols)
    if len(ok) < 3:
        return _empty(title, "needs at least 3 succeeded trials with both parameters")
    xs, xaxis = _codes(ok[cols[0]], log_x)
    ys, yaxis = _codes(ok[cols[1]], log_y)
    z = ok[objective].to_numpy(dtype=float)
    xb = min(bins, len(xaxis.get("tickvals", [])) or bins)
    yb = min(bins, len(yaxis.get("tickvals", [])) or bins)
    xr = (np.nanmin(xs) - 0.5, np.nanmax(xs) + 0.5) if "tickvals" in xaxis else (np.nanmin(xs), np.nanmax(xs) + 1e-12)
    yr = (np.nanmin(ys) - 0.5, np.nanmax(ys) + 0.5) if "tickvals" in yaxis else (np.nanmin(ys), np.nanmax(ys) + 1e-12)
    sums, xe, ye = np.histogram2d(xs, ys, bins=[xb, yb], range=[xr, yr], weights=z)
    counts, _, _ = np.histogram2d(xs, ys, bins=[xb, yb], range=[xr, yr])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    fig = go.Figure()
    fig.add_trace(
        go.Contour(
            x=(xe[:-1] + xe[1:]) / 2,
            y=(ye[:-1] + ye[1:]) / 2,
            z=mean.T,
            colorscale="Viridis",
            reversescale=direction == "minimize",
            connectgaps=True,
            contours={"coloring": "heatmap"},
            colorbar={"title": {"text": _label(objective)}},
            hoverinfo="skip",
        )
    )
    shown = np.linspace(0, len(ok) - 1, min(len(ok), MAX_POINTS)).astype(int)
    fig.add_trace(
        scatter_class(len(shown))(
            x=xs[shown],
            y=ys[shown],
            mode="markers",
            showlegend=False,
            marker={"size": 4, "color": "black", "opacity": 0.5},
            customdata=np.stack([ok["number"].to_numpy()[shown], z[shown]], axis=1),
            hovertemplate="trial %{customdata[0]}<br>value %{customdata[1]}<extra></extra>",
        )
    )
    xt = {k: v for k, v in xaxis.items() if k != "title_suffix"}
    yt = {k: v for k, v in yaxis.items() if k != "title_suffix"}
    fig.update_xaxes(title_text=x + xaxis.get("title_suffix", ""), **xt)
    fig.update_yaxes(title_text=y + yaxis.get("title_suffix", ""), **yt)
    fig.update_layout(title=title, **{**_LAYOUT, "height": 480})
    return fig


def _segments(groups: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (x, y) polylines with NaN gaps between them (one trace for many lines)."""
    if not groups:
        return np.array([]), np.array([])
    xs, ys = [], []
    for x, y in groups:
        xs.extend([x, [np.nan]])
        ys.extend([y, [np.nan]])
    return np.concatenate(xs).astype(float), np.concatenate(ys).astype(float)


def intermediate_values(
    inter: pd.DataFrame,
    *,
    states: Sequence[str] | None = None,
    highlight: Sequence[int] = (),
    max_trials: int | None = MAX_LINES,
    title: str = "Intermediate values (learning curves)",
    y_label: str = "value",
) -> go.Figure:
    """Learning curves of all trials, one trace per state (pruned trials visible as short orange curves).

    Above ``max_trials`` trials, an evenly spaced sample of trials is drawn (the highlighted ones always).
    """
    if inter.empty:
        return _empty(title, "no intermediate values reported")
    frame = inter if states is None else inter[inter["state"].isin(states)]
    numbers = frame["number"].unique()
    note = ""
    if max_trials is not None and len(numbers) > max_trials:
        keep = set(numbers[np.linspace(0, len(numbers) - 1, max_trials).astype(int)].tolist()) | set(highlight)
        frame = frame[frame["number"].isin(keep)]
        note = f" (a sample of {max_trials:,} of {len(numbers):,} trials)"
    fig = go.Figure()
    frame = frame.sort_values(["number", "step"], kind="stable")
    for state, part in frame.groupby("state", observed=True, sort=False):
        if part.empty:
            continue
        bounds = np.flatnonzero(np.diff(part["number"].to_numpy())) + 1
        xs = np.split(part["step"].to_numpy(), bounds)
        ys = np.split(part["value"].to_numpy(), bounds)
        x, y = _segments(list(zip(xs, ys, strict=True)))
        fig.add_trace(
            go.Scattergl(
                x=x,
                y=y,
                mode="lines",
                name=f"{state} ({len(xs):,})",
                line={"color": STATE_COLORS.get(str(state), "#777"), "width": 1},
                opacity=0.6,
                hoverinfo="skip",
            )
        )
    for i, number in enumerate(highlight):
        part = frame[frame["number"] == number]
        if len(part):
            fig.add_trace(
                go.Scatter(
                    x=part["step"],
                    y=part["value"],
                    mode="lines+markers",
                    name=f"trial {number}",
                    line={"width": 3, "color": PALETTE[i % len(PALETTE)]},
                )
            )
    fig.update_layout(title=title + note, xaxis_title="step", yaxis_title=y_label, **_LAYOUT)
    return fig


def edf(
    series: dict[str, pd.Series], objective: str = "value", title: str = "Empirical distribution (EDF)"
) -> go.Figure:
    """Share of trials with a value at most x, one line per experiment."""
    fig = go.Figure()
    drawn = 0
    for i, (name, values) in enumerate(series.items()):
        v = np.sort(values.dropna().to_numpy(dtype=float))
        if not len(v):
            continue
        y = np.arange(1, len(v) + 1) / len(v)
        if len(v) > MAX_POINTS:  # the staircase at MAX_POINTS evenly spaced quantiles (and both ends)
            idx = np.unique(np.linspace(0, len(v) - 1, MAX_POINTS).astype(int))
            v, y = v[idx], y[idx]
        fig.add_trace(
            scatter_class(len(v))(
                x=v, y=y, mode="lines", name=name, line={"shape": "hv", "color": PALETTE[i % len(PALETTE)]}
            )
        )
        drawn += 1
    if not drawn:
        return _empty(title, "no succeeded trials yet")
    fig.update_layout(title=title, xaxis_title=objective, yaxis_title="share of trials ≤ x", **_LAYOUT)
    return fig


def timeline(trials: pd.DataFrame, now: pd.Timestamp | None = None, max_points: int | None = MAX_POINTS) -> go.Figure:
    """Each trial as a bar from start to end on its own row, colored by state: shows parallelism and failures."""
    title = "Timeline"
    frame = trials[trials["started"].notna()]
    if frame.empty:
        return _empty(title, "no trial has started yet")
    failed = frame[frame["state"].isin(["Failed", "MetricsUnavailable", "Killed"])]
    frame, note = sample(frame, max_points)
    if note:  # every failed, pruned or killed trial stays visible
        frame = pd.concat([frame, failed[~failed.index.isin(frame.index)]]).sort_index()
        note = f" — drawing {len(frame):,} of {len(trials):,}"
    title += note
    now = now if now is not None else pd.Timestamp.utcnow().tz_localize(None)
    end = frame["finished"].fillna(now)
    fig = go.Figure()
    for state, part in frame.groupby("state", sort=False):
        idx = part.index
        n = len(part)
        xs = np.empty(3 * n, dtype="datetime64[ns]")
        xs[0::3] = part["started"].to_numpy(dtype="datetime64[ns]")
        xs[1::3] = end.loc[idx].to_numpy(dtype="datetime64[ns]")
        xs[2::3] = np.datetime64("NaT")
        ys = np.empty(3 * n)
        ys[0::3] = part["number"].to_numpy()
        ys[1::3] = part["number"].to_numpy()
        ys[2::3] = np.nan
        x_list = pd.Series(xs).dt.strftime("%Y-%m-%d %H:%M:%S.%f").where(pd.notna(xs), None).tolist()
        fig.add_trace(
            go.Scattergl(
                x=x_list,
                y=ys,
                mode="lines",
                name=f"{state} ({n:,})",
                line={"color": STATE_COLORS.get(str(state), "#777"), "width": 4 if len(frame) < 300 else 2},
                hoverinfo="skip",
            )
        )
    # Hover per trial: a marker at each trial's start.
    if len(frame) <= 5000:
        fig.add_trace(
            go.Scatter(
                x=frame["started"],
                y=frame["number"],
                mode="markers",
                showlegend=False,
                marker={"size": 3, "color": "rgba(0,0,0,0)"},
                customdata=np.stack([frame["state"], frame["duration_s"].round(2)], axis=1),
                hovertemplate="trial %{y}<br>%{customdata[0]}<br>%{customdata[1]} s<extra></extra>",
            )
        )
    fig.update_layout(title=title, xaxis_title="time", yaxis_title="trial", **_LAYOUT)
    fig.update_xaxes(type="date")
    return fig


def pareto_front(
    trials: pd.DataFrame,
    objectives: Sequence[str],
    directions: Sequence[str],
    front: pd.Series,
) -> go.Figure:
    """Succeeded trials in objective space (first two objectives; a third as color), the Pareto front highlighted."""
    title = "Pareto front"
    cols = [f"metrics.{o}" for o in objectives]
    if len(cols) < 2 or any(c not in trials.columns for c in cols[:2]):
        return _empty(title, "needs two objectives")
    ok = trials[(trials["state"] == "Succeeded")].dropna(subset=cols[:2])
    if ok.empty:
        return _empty(title, "no succeeded trials yet")
    on = front.reindex(ok.index).fillna(False).astype(bool)
    fig = go.Figure()
    for label, part, color, size in (("dominated", ok[~on], "#b0b0b0", 6), ("Pareto front", ok[on], "#d62728", 9)):
        if part.empty:
            continue
        marker: dict[str, Any] = {"color": color, "size": size}
        if len(cols) > 2 and cols[2] in part and label == "dominated":
            marker = {"color": part[cols[2]], "colorscale": "Greys", "size": size}
        fig.add_trace(
            scatter_class(len(part))(
                x=part[cols[0]],
                y=part[cols[1]],
                mode="markers",
                name=f"{label} ({len(part)})",
                marker=marker,
                customdata=part["number"],
                hovertemplate="trial %{customdata}<br>%{x}, %{y}<extra></extra>",
            )
        )
    front_pts = ok[on].sort_values(cols[0])
    if len(front_pts) > 1:
        fig.add_trace(
            go.Scatter(
                x=front_pts[cols[0]],
                y=front_pts[cols[1]],
                mode="lines",
                showlegend=False,
                line={"color": "#d62728", "dash": "dot"},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=f"{objectives[0]} ({directions[0]})",
        yaxis_title=f"{objectives[1]} ({directions[1]})",
        **_LAYOUT,
    )
    return fig


# ------------------------------------------------------------------ compare


def history_overlay(histories: dict[str, tuple[pd.DataFrame, str, str]]) -> go.Figure:
    """Best-so-far curves of several experiments on one chart: ``{name: (trials, objective column, direction)}``."""
    title = "Optimization histories (best so far)"
    fig = go.Figure()
    for i, (name, (trials, objective, direction)) in enumerate(histories.items()):
        if objective not in trials.columns:
            continue
        ok = trials[(trials["state"] == "Succeeded") & trials[objective].notna()].sort_values("number")
        if ok.empty:
            continue
        color = PALETTE[i % len(PALETTE)]
        cls = scatter_class(len(ok))
        fig.add_trace(
            cls(
                x=ok["number"],
                y=ok[objective],
                mode="markers",
                name=f"{name}",
                legendgroup=name,
                marker={"size": 4, "color": color, "opacity": 0.35},
            )
        )
        bx, by = best_steps(ok["number"], ok[objective], direction)
        fig.add_trace(
            go.Scatter(
                x=bx,
                y=by,
                mode="lines",
                legendgroup=name,
                name=f"{name}: best",
                line={"color": color, "width": 2, "shape": "hv"},
            )
        )
    if not fig.data:
        return _empty(title, "no succeeded trials")
    fig.update_layout(title=title, xaxis_title="trial", yaxis_title="objective", **_LAYOUT)
    return fig


def logged_once(frame: pd.DataFrame, label: str = "label") -> list[str]:
    """The metrics of a long ``metric``/``step``/``value`` table with one value per ``label`` (logged once, or the
    same final value logged again): values, not histories (a chart would draw each as a flat line).

    Example:
        >>> logged_once(pd.DataFrame({"metric": ["f1", "f1", "loss", "loss"], "step": [0, 1, 1, 2],
        ...                           "value": [0.7, 0.7, 2.0, 1.0], "label": "t"}))
        ['f1']
    """
    if frame.empty:
        return []
    distinct = frame.groupby(["metric", label], sort=False)["value"].nunique().groupby(level=0, sort=False).max()
    return [str(m) for m in distinct.index[distinct <= 1]]


def curves(frame: pd.DataFrame, *, label: str = "label", title: str = "Learning curves") -> go.Figure:
    """One line per ``label`` from a long table with ``step``/``value`` columns, one panel per ``metric`` if present.

    Each panel names its metric on the y axis and ``step`` on the x axis (no subplot titles to collide with
    tick labels); metrics logged once per label belong next to the chart as values (:func:`logged_once`).
    """
    if frame.empty:
        return _empty(title, "no metric history")
    metrics = list(dict.fromkeys(frame["metric"])) if "metric" in frame.columns else [None]
    rows = len(metrics)
    height = 250 * rows + 90
    fig = make_subplots(rows=rows, cols=1, vertical_spacing=min(0.3, 70 / height) if rows > 1 else 0.0)
    labels = list(dict.fromkeys(frame[label]))
    for r, metric in enumerate(metrics, start=1):
        part = frame if metric is None else frame[frame["metric"] == metric]
        for i, name in enumerate(labels):
            line = part[part[label] == name].sort_values("step")
            if line.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=line["step"],
                    y=line["value"],
                    mode="lines+markers",
                    name=str(name),
                    legendgroup=str(name),
                    showlegend=r == 1 and len(labels) > 1,
                    line={"color": PALETTE[i % len(PALETTE)]},
                    marker={"size": 4},
                    hovertemplate=f"{name}<br>step %{{x}}<br>{metric or 'value'} %{{y}}<extra></extra>",
                ),
                row=r,
                col=1,
            )
        fig.update_yaxes(title_text=metric or "value", row=r, col=1)
        fig.update_xaxes(title_text="step", row=r, col=1)
    fig.update_layout(title=title, **{**_LAYOUT, "height": height, "margin": {"l": 60, "r": 20, "t": 50, "b": 40}})
    return fig


def metrics_bars(values: dict[str, dict[str, float]], title: str = "Metrics") -> go.Figure:
    """Grouped bars: ``{series name: {metric: value}}`` (one group per metric, one bar per series)."""
    if not values:
        return _empty(title, "no metrics")
    metrics = list(dict.fromkeys(k for v in values.values() for k in v))
    fig = go.Figure()
    for i, (name, vals) in enumerate(values.items()):
        fig.add_trace(
            go.Bar(
                x=metrics,
                y=[vals.get(m) for m in metrics],
                name=str(name),
                marker_color=PALETTE[i % len(PALETTE)],
                text=[_short(vals.get(m)) for m in metrics],
                textposition="outside",
            )
        )
    fig.update_layout(title=title, barmode="group", **_LAYOUT)
    return fig


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""


def confusion_matrix(
    labels: Sequence[Any], matrix: Sequence[Sequence[float]], title: str = "Confusion matrix", diverging: bool = False
) -> go.Figure:
    """A confusion matrix as an annotated heatmap (rows: true, columns: predicted); ``diverging`` for differences."""
    z = np.array(matrix, dtype=float)
    labels = [str(x) for x in labels] or [str(i) for i in range(len(z))]
    text = [[f"{v:g}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu" if diverging else "Blues",
            zmid=0 if diverging else None,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="true label", type="category")
    fig.update_xaxes(title_text="predicted", type="category")
    fig.update_layout(title=title, **{**_LAYOUT, "height": 420})
    return fig


# ------------------------------------------------------------------ graphs


def dag_layout(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Positions for a DAG drawn left to right: x = longest path from a source, nodes of a layer spread on y."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        if s in preds and t in preds:
            preds[t].append(s)
    layer: dict[str, int] = {}

    def depth(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n in layer:
            return layer[n]
        if n in seen:  # a cycle (should not happen): cut it
            return 0
        layer[n] = 1 + max((depth(p, seen | {n}) for p in preds[n]), default=-1)
        return layer[n]

    for n in nodes:
        depth(n)
    by_layer: dict[int, list[str]] = {}
    for n in nodes:
        by_layer.setdefault(layer[n], []).append(n)
    pos = {}
    for x, members in by_layer.items():
        k = len(members)
        for i, n in enumerate(members):
            pos[n] = (float(x), (k - 1) / 2 - i)
    return pos


def dag(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    title: str = "",
    color_by: str = "state",
    symbol_by: str | None = None,
    hover: Sequence[str] = (),
    height: int | None = None,
) -> go.Figure:
    """A DAG: nodes (``id``, ``label`` and the ``color_by`` column) and edges (``source``, ``target``, ``label``?).

    Node points carry their ``id`` as ``customdata`` (for click selection).
    """
    if nodes.empty:
        return _empty(title, "nothing to show")
    ids = nodes["id"].astype(str).tolist()
    pairs = list(zip(edges["source"].astype(str), edges["target"].astype(str), strict=True)) if len(edges) else []
    pos = dag_layout(ids, pairs)
    fig = go.Figure()
    # Edges: straight between neighbouring layers; an edge that skips layers bows out of the row (through a
    # control point above it), so that it does not hide behind the nodes it passes.
    ex: list[float | None] = []
    ey: list[float | None] = []
    for _, e in edges.iterrows() if len(edges) else []:
        s, t = str(e["source"]), str(e["target"])
        if s not in pos or t not in pos:
            continue
        (x0, y0), (x1, y1) = pos[s], pos[t]
        span = abs(x1 - x0)
        bow = 0.0 if span <= 1 else 0.35 * (span - 1) + 0.25
        xs = np.linspace(x0, x1, 12)
        ys = np.linspace(y0, y1, 12) + bow * np.sin(np.linspace(0, np.pi, 12))
        ex += [*xs.tolist(), None]
        ey += [*ys.tolist(), None]
        head_from = (xs[-3], ys[-3]) if bow else (x0 + 0.12, y0)
        fig.add_annotation(
            x=x1 - 0.1 * np.sign(x1 - x0 or 1),
            y=y1 + (ys[-2] - y1) * 0.5,
            ax=head_from[0],
            ay=head_from[1],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=1.2,
            arrowcolor="#888",
            text="",
        )
        label = str(e.get("label", "") or e.get("name", "") or "")
        if label:
            fig.add_annotation(
                x=float(xs[6]),
                y=float(ys[6]),
                text=label,
                showarrow=False,
                font={"size": 10, "color": "#666"},
                yshift=8,
            )
    fig.add_trace(
        go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#aaa", "width": 1.5}, hoverinfo="skip", showlegend=False)
    )
    groups = nodes[color_by].fillna("").astype(str) if color_by in nodes.columns else pd.Series("", index=nodes.index)
    for g in dict.fromkeys(groups):
        part = nodes[groups == g]
        symbols = "circle"
        if symbol_by and symbol_by in part.columns:
            symbols = ["square" if k == "execution" else "diamond" for k in part[symbol_by]]
        hover_cols = [c for c in hover if c in part.columns]
        custom = part[["id", *hover_cols]].astype(str).to_numpy()
        tmpl = "<b>%{text}</b>" + "".join(f"<br>{c}: %{{customdata[{i + 1}]}}" for i, c in enumerate(hover_cols))
        fig.add_trace(
            go.Scatter(
                x=[pos[str(i)][0] for i in part["id"]],
                y=[pos[str(i)][1] for i in part["id"]],
                mode="markers+text",
                text=part["label"].astype(str),
                textposition="top center",
                customdata=custom,
                name=g or "node",
                marker={
                    "size": 26,
                    "color": STATE_COLORS.get(g, PALETTE[len(fig.data) % len(PALETTE)]),
                    "symbol": symbols,
                    "line": {"width": 1, "color": "#333"},
                },
                hovertemplate=tmpl + "<extra></extra>",
            )
        )
    span_y = max((abs(p[1]) for p in pos.values()), default=0) + (
        0.6 if any(v is not None and v > 0.01 for v in ey) else 0.0
    )
    fig.update_xaxes(visible=False, range=[-0.5, max((p[0] for p in pos.values()), default=0) + 0.5])
    fig.update_yaxes(visible=False, range=[-span_y - 0.8, span_y + 0.8])
    fig.update_layout(
        title=title,
        **{**_LAYOUT, "height": height or max(260, 120 + 90 * (2 * span_y + 1))},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig
