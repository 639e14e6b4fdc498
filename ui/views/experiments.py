"""Experiments: every experiment with state, algorithm, progress, failures, best value; filter; open or compare."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, nav, widgets
from workbench import readmodel as rm
from workbench.format import format_value

st.title("Experiments")
exps = data.experiments()
live = bool((exps["state"] == "Running").any()) if len(exps) else False


@st.fragment(run_every=2.0 if live or data.allow_launch() else None)
def body() -> None:
    exps = data.experiments()
    if exps.empty:
        widgets.no_experiments()
        return
    c1, c2, c3 = st.columns([2, 3, 1])
    states = c1.multiselect("State", rm.EXPERIMENT_STATES, key="exps_states", placeholder="all states")
    text = c2.text_input("Name contains", key="exps_name", placeholder="filter by name")
    archived = c3.toggle("Archived too", key="exps_archived", help="Archived experiments (workbench archive)")
    view = exps if archived else exps[~exps["archived"]]
    if states:
        view = view[view["state"].isin(states)]
    if text:
        view = view[view["name"].str.contains(text, case=False, regex=False)]
    table = pd.DataFrame(
        {
            "name": view["name"],
            "state": [s + (" (archived)" if a else "") for s, a in zip(view["state"], view["archived"], strict=True)],
            "algorithm": view["algorithm"],
            "progress": [f / m if m else None for f, m in zip(view["finished"], view["max_trials"], strict=True)],
            "trials": [
                f"{f}/{m or '∞'}" + (f" (+{r} running)" if r else "")
                for f, m, r in zip(view["finished"], view["max_trials"], view["running"], strict=True)
            ],
            "failed": view["failed"],
            "pruned": view["pruned"],
            "best": [
                f"{o[0]}={format_value(v)} (#{int(t)})"
                if t is not None and not pd.isna(t)
                else (f"Pareto front of {fr}" if fr else "-")
                for o, v, t, fr in zip(
                    view["objective"], view["best_value"], view["best_trial"], view["front"], strict=True
                )
            ],
            "started": pd.to_datetime(view["started"], unit="s"),
            "duration": [widgets.duration(d) for d in view["duration"]],
        }
    )
    event = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key="exps_table",
        column_config={
            # Blue, not the theme's red: a full bar is a used budget, not an error.
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent", color="blue"
            ),
            "started": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )
    rows = list(event.selection.rows) if event is not None else []
    chosen = [table.iloc[r]["name"] for r in rows if r < len(table)]
    c1, c2, c3 = st.columns([1, 1, 3])
    if c1.button("Open experiment", disabled=len(chosen) != 1, type="primary", key="exps_open"):
        nav.go("experiment", name=chosen[0])
    if c2.button("Compare experiments", disabled=len(chosen) < 2, key="exps_compare"):
        nav.go("compare", experiments=chosen)
    c3.caption(
        f"{len(view)} of {len(exps)} experiments · select rows to open or compare"
        + (" · refreshing every 2 s" if live else "")
    )
    with st.container(horizontal=True, gap="small"):  # links that stay in this tab, like the app's others
        st.markdown("**Open:**")
        for n in view["name"].head(30):
            nav.link("experiment", n, name=n)


body()
