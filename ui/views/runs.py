"""Runs: standalone pipeline runs (not trials of an experiment) and recurring runs, filtered by namespace."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, widgets

st.title("Runs")
namespaces = data.run_namespaces()
choice = st.selectbox("Namespace", ["(all)", *namespaces], key="runs_namespace")
namespace = None if choice == "(all)" else choice

st.subheader("Standalone runs")
archived = st.toggle("Archived too", key="runs_archived", help="Archived runs (workbench runs archive)")
every = data.store_runs(namespace, archived=True)
runs = every if archived else data.store_runs(namespace)
legacy = data.standalone_runs()
if not every.empty:
    legacy = legacy[~legacy["run_id"].isin(every["run_id"])]
if runs.empty and legacy.empty:
    st.info(
        "No standalone pipeline runs"
        + (f" in namespace {namespace}" if namespace else "")
        + ": start one with `workbench pipeline run PIPELINE.yaml`."
    )
else:
    shown = runs if not runs.empty else legacy
    event = st.dataframe(
        shown,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="runs_table",
        column_config={"duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f")},
    )
    rows = list(event.selection.rows) if event is not None else []
    if rows:
        run = shown.iloc[rows[0]]
        state = widgets.badge(str(run["state"]).split(" ")[0])
        st.markdown(f"**{widgets.plain(run['name'])}** {state} {widgets.plain(run['run_id'])}")
        steps, artifacts = data.run_steps(str(run["run_id"]))
        st.dataframe(
            steps.drop(columns=["inputs", "outputs", "log_path", "execution_id"]), hide_index=True, key="runs_steps"
        )
        logs = data.step_logs(str(run["run_id"]))
        if logs:
            step = st.radio("Log of step", list(logs), horizontal=True, key="runs_log")
            st.code(data.read_log(logs[step]), language=None)
        outs = [a for a in artifacts if a["direction"] == "output"]
        if outs:
            i = st.selectbox(
                "Artifact",
                range(len(outs)),
                format_func=lambda k: f"{outs[k]['step']} · {outs[k]['name']}",
                key="runs_art",
            )
            widgets.artifact_viewer(outs[i], f"runs_prev_{i}")

st.subheader("Recurring runs")
schedules = data.schedules(namespace)
if schedules.empty:
    st.info("No recurring runs: create one with `workbench schedule create NAME --pipeline P.yaml --cron '0 2 * * *'`.")
else:
    picked = st.dataframe(
        schedules,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="schedules_table",
        column_config={
            "next_fire": st.column_config.DatetimeColumn("next fire (UTC)"),
            "last_fire": st.column_config.DatetimeColumn("last fire (UTC)"),
        },
    )
    rows = list(picked.selection.rows) if picked is not None else []
    if rows:
        s = schedules.iloc[rows[0]]
        st.markdown(
            f"**{widgets.plain(s['name'])}** · {widgets.plain(s['trigger'])} · "
            + ("enabled" if s["enabled"] else "disabled")
        )
        occ = data.occurrences(str(s["name"]), str(s["namespace"]))
        st.dataframe(occ if not occ.empty else pd.DataFrame({"": ["no occurrences yet"]}), hide_index=True,
                     key="schedule_occurrences")  # fmt: skip
