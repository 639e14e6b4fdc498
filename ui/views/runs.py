"""Runs: standalone pipeline runs (not trials of an experiment) and recurring runs."""

from __future__ import annotations

import streamlit as st

from ui import data, widgets

st.title("Runs")
runs = data.standalone_runs()
st.subheader("Standalone runs")
if runs.empty:
    st.info("No standalone pipeline runs in this workspace: every run so far is a trial of an experiment.")
else:
    event = st.dataframe(
        runs,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="runs_table",
        column_config={"duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f")},
    )
    rows = list(event.selection.rows) if event is not None else []
    if rows:
        run = runs.iloc[rows[0]]
        st.markdown(f"**{run['name']}** {widgets.badge(run['state'])}")
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
st.info("No recurring runs: this workspace has no triggers (cron or periodic) defined.")
