"""Experiment: header (state, objectives, budget, goal), the summary card (the sweep, the best trial, what matters),
plots per objective, the trial table, the spec."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from ui import data, figures, nav, widgets
from workbench import readmodel as rm
from workbench.format import exact_value, format_value

BRUSH_HELP = (
    "Dragging along an axis of the chart brushes it in the browser only: Streamlit does not report plotly's "
    "parallel-coordinates brushes back to the app. So trials are selected with the range selectors here (a "
    "slider per numeric parameter and for the objective, a list of kept values per categorical one); each "
    "selection is drawn on its axis as a brush, and the trials inside every range are listed under the chart, "
    "to open, compare, download or filter the trial table with."
)

name = widgets.pick_experiment("experiment")
if name is None:
    st.stop()
seen = data.stamp()
exp = data.experiment(name)
s = exp.summary

# ------------------------------------------------------------------ header


def _objective_index() -> int:
    """Which objective the per-objective parts show: a selector on a multi-objective experiment (``?objective=``)."""
    if not exp.multi:
        return 0
    wanted = nav.param("objective")
    if wanted is not None and wanted not in exp.objectives:
        st.warning(f"objective **{widgets.plain(wanted)}** not found: showing {exp.objectives[0]}.")
    return int(
        st.selectbox(
            "Objective",
            range(len(exp.objectives)),
            index=exp.objectives.index(wanted) if wanted in exp.objectives else 0,
            format_func=lambda i: f"{exp.directions[i]} {exp.objectives[i]}",
            key="exp_objective",
            help="The objective the summary, history, importance, parallel coordinates, slice, contour, EDF and "
            "the trial table's order use (the Pareto front shows them all).",
        )
    )


def _header() -> None:
    """Title, state, every objective with its direction, the algorithm and the counters."""
    st.title(name)
    objective_text = ", ".join(
        f"{d} **{widgets.plain(o)}**" for o, d in zip(exp.objectives, exp.directions, strict=False)
    )
    st.markdown(
        f"{widgets.badge(s['state'])} &nbsp; {objective_text} &nbsp; algorithm **{widgets.plain(s['algorithm'])}**"
        + (f" &nbsp; · {widgets.plain(s['message'])}" if s["message"] else "")
    )
    c = st.columns(7)
    budget = s["max_trials"]
    c[0].metric("Trials finished", f"{s['finished']:,}", help=f"of a budget of {budget:,}" if budget else "no budget")
    if budget:
        c[0].progress(min(1.0, s["finished"] / budget), text=f"{s['finished'] / budget:.0%} of {budget:,}")
    if exp.multi:
        c[1].metric("Pareto front", f"{s['front']:,}", help="trials on the Pareto front")
    else:
        c[1].metric(
            "Best value",
            format_value(s["best_value"]),
            help=f"{exact_value(s['best_value'])} (trial {s['best_trial']})" if s["best_trial"] is not None else None,
        )
    c[2].metric("Goal", format_value(s["goal"]))
    c[3].metric("Running", f"{s['running']:,}")
    c[4].metric("Failed", f"{s['failed']:,}")
    c[5].metric("Pruned", f"{s['pruned']:,}")
    c[6].metric("Duration", widgets.duration(s["duration"]))


def _sweep_sentence() -> str:
    """The state of the sweep in one sentence."""
    budget = f" of {s['max_trials']:,}" if s["max_trials"] else ""
    parts = [f"{s['finished']:,}{budget} trials finished"]
    if s["running"]:
        parts.append(f"{s['running']:,} running")
    parts.append(f"{s['pruned']:,} pruned, {s['failed']:,} failed")
    return f"{widgets.badge(s['state'])} {', '.join(parts)} · {widgets.duration(s['duration'])}"


def _summary_card(objective: int) -> Any:
    """The experiment at a glance: the sweep, the best trial (parameters, link), and a slot for what matters.

    The slot is filled at the end of the page (:func:`_what_matters`): it needs the parameter importance, and
    everything else on the page should not wait for it.
    """
    card = st.container(border=True)
    with card:
        left, right = st.columns([2, 3])
        with left:
            st.markdown(_sweep_sentence())
            # The study's best trial (the header's), or, per objective of a multi-objective one, the best value.
            best = data.trial_row(name, s["best_trial"]) if not exp.multi else rm.best_of(exp, objective)
            metric = exp.objectives[objective]
            if best is None:
                st.caption("No succeeded trial yet.")
            else:
                number = int(best["number"])
                value = best[exp.objective_column(objective)]
                st.markdown(
                    f"**Best trial: {number}** · {exp.directions[objective]} {widgets.plain(metric)} = "
                    f"**{format_value(value)}**"
                    + (" (the best of this objective; see the Pareto front for the trade-offs)" if exp.multi else "")
                )
                params = {c[len("params.") :]: best[c] for c in exp.trials.columns if c.startswith("params.")}
                st.markdown(
                    " · ".join(f"{widgets.plain(k)} = **{widgets.plain(format_value(v))}**" for k, v in params.items())
                )
                nav.link("trial", f"Open trial {number}", experiment=name, trial=number)
        with right:
            slot = st.empty()
            slot.caption("What matters: computing parameter importance…")
    return slot


def _what_matters(slot: Any, objective: int) -> None:
    """Fill the summary card's slot: the top parameters by importance with the range of the best trials."""
    findings = data.what_matters(name, objective)
    imp = data.importance(name, "ped-anova", objective)
    with slot.container():
        if not findings:
            st.caption(f"What matters: {imp.attrs.get('note') or 'needs succeeded trials'}.")
            return
        st.markdown(
            f"**What matters** for {widgets.plain(exp.objectives[objective])} "
            f"({imp.attrs.get('method', 'PED-ANOVA')} importance, {imp.attrs.get('trials', 0):,} trials)"
        )
        st.markdown("\n".join(f"- {widgets.plain(f.sentence)}" for f in findings))
        if imp.attrs.get("caution"):
            st.caption(f":orange[caution]: {widgets.plain(imp.attrs['caution'])}.")


_header()
objective_index = _objective_index()
if data.allow_launch() and s["state"] == "Running":
    if st.button("Stop experiment", type="secondary", key="exp_stop"):
        try:
            st.session_state[f"stopped_{name}"] = ("ok", rm.stop(data.workspace(), name))
        except Exception as err:  # noqa: BLE001 - shown to the user
            st.session_state[f"stopped_{name}"] = ("error", f"could not stop {name}: {err}")
if f"stopped_{name}" in st.session_state:  # kept across the reruns that follow the stop
    kind, text = st.session_state[f"stopped_{name}"]
    (st.success if kind == "ok" else st.error)(widgets.plain(text))
matters_slot = _summary_card(objective_index)

# ------------------------------------------------------------------ views
views = ["History", "Parallel coordinates", "Importance", "Slice", "Contour", "Learning curves", "EDF", "Timeline"]
if exp.multi:
    views.insert(0, "Pareto front")
views += ["Trials", "Spec"]
wanted = nav.param("view")
if wanted is not None and wanted not in views:
    st.warning(f"view **{widgets.plain(wanted)}** not found: the views are {', '.join(views)}.")
view = st.radio(
    "View",
    views,
    index=views.index(wanted) if wanted in views else 0,
    horizontal=True,
    key="exp_view",
    label_visibility="collapsed",
)
t = exp.trials
objective = exp.objective_column(objective_index)


def _draw_all(key: str, what: str) -> int | None:
    """A toggle to draw every trial when a chart would draw a sample (large studies); returns the limit to use."""
    if len(t) <= min(figures.MAX_LINES, figures.MAX_POINTS):
        return None
    on = st.toggle(f"Draw all {len(t):,} trials' {what} (slower to draw)", value=False, key=key)
    return len(t) + 1 if on else None


def _importance_view() -> None:
    """Importance by the chosen method (values on the bars, the method and trial count in the title), a caution
    at small samples, and both methods side by side: when they rank a different parameter first, the page says so."""
    labels = {"ped-anova": "PED-ANOVA (fast)", "fanova": "fANOVA (sampled)"}
    method = st.radio("Method", rm.IMPORTANCE_METHODS, horizontal=True, key="imp_method", format_func=labels.get)
    imp = data.importance(name, method, objective_index)
    st.plotly_chart(data.figure(name, "importance", method=method, objective=objective_index), key="imp_chart")
    if imp.attrs.get("caution"):
        st.warning(f"Caution: {widgets.plain(imp.attrs['caution'])}.")
    tables = {m: data.importance(name, m, objective_index) for m in rm.IMPORTANCE_METHODS}
    if any(table.empty for table in tables.values()):
        return
    both = pd.DataFrame({table.attrs["method"]: table.set_index("param")["importance"] for table in tables.values()})
    tops = {table.attrs["method"]: str(table["param"].iloc[0]) for table in tables.values()}
    if len(set(tops.values())) > 1:
        st.info(
            "The two methods disagree on the most important parameter: "
            + ", ".join(f"{m} ranks **{widgets.plain(p)}** first" for m, p in tops.items())
            + ". Neither is wrong: the ranking is uncertain (more trials settle it)."
        )
    st.markdown("**Both methods** (importance, sums to 1 per method)")
    st.dataframe(
        widgets.formatted(both.sort_values(both.columns[0], ascending=False).rename_axis("parameter")),
        key="imp_both",
    )


if view == "History":
    c1, c2, c3 = st.columns(3)
    other = c1.toggle("Show pruned and failed trials", value=True, key="hist_other")
    log_y = c2.toggle("Log scale", value=False, key="hist_log")
    many = len(t) > figures.DENSITY_THRESHOLD
    every = c3.toggle(
        "Every trial as a point",
        value=not many,
        key="hist_every",
        disabled=not many,
        help=f"Above {figures.DENSITY_THRESHOLD:,} trials the chart draws their density (fast); "
        "switch this on to draw one point per trial and select trials in the chart.",
    )
    fig = data.figure(name, "history", show_other=other, log_y=log_y, every_trial=every, objective=objective_index)
    event = st.plotly_chart(fig, key="hist_chart", on_select="rerun", selection_mode=("box", "lasso", "points"))
    points = (event.selection.points if event is not None and hasattr(event, "selection") else []) or []
    picked = sorted({int(p["x"]) for p in points if "x" in p and "z" not in p})
    if picked:
        st.write(f"{len(picked)} trials selected in the chart")
        chosen_rows = t[t["number"].isin(picked)]
        st.dataframe(
            widgets.formatted(chosen_rows, [c for c in t.columns if c.startswith(("params.", "metrics."))]),
            hide_index=True,
            key="hist_sel",
        )
        widgets.trial_actions(name, picked, "hist")
    elif every:
        st.caption("Drag a box (or lasso) over points to select trials.")
    else:
        st.caption("Switch on 'Every trial as a point' to select trials in the chart, or use the Trials view.")
elif view == "Parallel coordinates":
    chosen = st.multiselect(
        "Parameters, in the order shown",
        exp.params,
        default=exp.params[:12],
        key="pc_params",
        help=BRUSH_HELP,
    )
    ok = t[t["state"] == "Succeeded"]
    ranges: dict[str, tuple[float, float]] = {}
    choices: dict[str, list] = {}
    with st.expander("Select trials by parameter ranges (drawn as brushes on the axes)"):
        st.caption(BRUSH_HELP)
        slots = st.columns(3)
        for i, p in enumerate([*chosen, objective[len("metrics.") :]]):
            col = f"params.{p}" if f"params.{p}" in t.columns else objective
            vals = ok[col].dropna()
            if vals.empty:
                continue
            with slots[i % 3]:
                if pd.api.types.is_numeric_dtype(vals) and not pd.api.types.is_bool_dtype(vals):
                    lo, hi = float(vals.min()), float(vals.max())
                    if lo == hi:
                        continue
                    if col.startswith("params.") and exp.log_scale(p) and lo > 0:
                        llo, lhi = math.log10(lo), math.log10(hi)
                        r = st.slider(f"{p} (log10)", llo, lhi, (llo, lhi), key=f"pc_rng_{p}", format="%.3f")
                        if r != (llo, lhi):  # the ends stay exact: no trial lost to rounding
                            ranges[col] = (lo if r[0] == llo else 10 ** r[0], hi if r[1] == lhi else 10 ** r[1])
                    else:
                        r = st.slider(p, lo, hi, (lo, hi), key=f"pc_rng_{p}", format="%.4g")
                        if r != (lo, hi):
                            ranges[col] = r
                else:
                    cats = sorted(vals.unique().tolist(), key=str)
                    picked = st.multiselect(p, cats, default=cats, key=f"pc_cat_{p}", format_func=str)
                    if len(picked) != len(cats):
                        choices[col] = picked
    everything = _draw_all("pc_all", "lines")
    st.plotly_chart(
        data.figure(
            name,
            "parallel",
            params=chosen,
            ranges=ranges,
            choices=choices,
            max_lines=everything or figures.MAX_LINES,
            objective=objective_index,
        ),
        key="pc_chart",
    )
    if ranges or choices:
        sel = rm.select_ranges(ok, ranges, choices)
        st.markdown(f"**{len(sel):,} of {len(ok):,} succeeded trials** in the selected ranges")
        expression = rm.ranges_expression(ranges, choices)
        if expression:
            nav.link(
                "experiment",
                "Open them in the trial table (as a filter)",
                name=name,
                view="Trials",
                filter=f'state == "Succeeded" and {expression}',
            )
        picked = widgets.trial_table(sel, exp, "pc_tbl", objective_index)
        widgets.trial_actions(name, picked, "pc")
    else:
        st.caption("Narrow a range (or drop a category) above to select trials.")
elif view == "Importance":
    _importance_view()
elif view == "Slice":
    chosen = st.multiselect("Parameters", exp.params, default=exp.params[:9], key="slice_params")
    everything = _draw_all("slice_all", "points")
    st.plotly_chart(
        data.figure(
            name, "slice", params=chosen, max_points=everything or figures.MAX_POINTS, objective=objective_index
        ),
        key="slice_chart",
    )
elif view == "Contour":
    if len(exp.params) < 2:
        st.info("A contour needs two parameters.")
    else:
        c1, c2 = st.columns(2)
        x = c1.selectbox("x", exp.params, index=0, key="ct_x")
        y = c2.selectbox("y", exp.params, index=1, key="ct_y")
        st.plotly_chart(data.figure(name, "contour", x=x, y=y, objective=objective_index), key="ct_chart")
elif view == "Learning curves":
    present = [st_ for st_ in rm.TRIAL_STATES if st_ in set(exp.intermediate["state"].astype(str))]
    states = st.multiselect("States", present, default=present, key="lc_states")
    if exp.multi:
        st.caption(f"Intermediate values are those of the first objective, {widgets.plain(exp.objectives[0])}.")
    best = [s["best_trial"]] if s["best_trial"] is not None else []
    everything = _draw_all("lc_all", "curves")
    st.plotly_chart(
        data.figure(name, "intermediate", states=states, highlight=best, max_lines=everything or figures.MAX_LINES),
        key="lc_chart",
    )
elif view == "EDF":
    st.plotly_chart(data.figure(name, "edf", objective=objective_index), key="edf_chart")
elif view == "Timeline":
    everything = _draw_all("tl_all", "bars")
    st.plotly_chart(data.figure(name, "timeline", max_points=everything or figures.MAX_POINTS), key="tl_chart")
elif view == "Pareto front":
    st.plotly_chart(data.figure(name, "pareto"), key="pareto_chart")
    front = t[data.pareto(name)]
    st.markdown(f"**{len(front)} trials on the Pareto front**")
    picked = widgets.trial_table(front, exp, "pf_tbl", objective_index)
    widgets.trial_actions(name, picked, "pf")
elif view == "Trials":
    c1, c2 = st.columns([1, 2])
    present = [x for x in rm.TRIAL_STATES if x in set(t["state"])]
    states = c1.multiselect("State", present, key="tt_states", placeholder="all states")
    expr = c2.text_input(
        "Filter",
        value=nav.param("filter") or "",
        key="tt_expr",
        placeholder='e.g. lr > 0.01 and state == "Succeeded"',
        help="Parameters and metrics by name, number, state, duration_s; and/or/not, in [...].",
    )
    try:
        view_trials = data.filtered_trials(name, tuple(states), expr)
    except rm.ExpressionError as err:
        st.error(f"filter: {widgets.plain(err)}")
        view_trials = t.iloc[:0]
    picked = widgets.trial_table(view_trials, exp, "tt", objective_index)
    widgets.trial_actions(name, picked, "tt")
elif view == "Spec":
    st.code(yaml.safe_dump(exp.spec, sort_keys=False), language="yaml")

_what_matters(matters_slot, objective_index)  # after everything else: it waits for the importance

# Last, so that a rerun it triggers never pre-empts a widget's action in this run.
if s["state"] == "Running":

    @st.fragment(run_every=3.0)
    def _follow() -> None:
        """While the experiment runs, rerun the page when its store changes (new trials, states, values)."""
        if data.stamp() != seen:
            st.rerun()

    _follow()
