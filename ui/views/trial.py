"""Trial: parameters, metrics and their histories, the pipeline graph, step logs, artifacts, the MLflow run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, figures, nav, widgets
from workbench import readmodel as rm
from workbench.format import exact_value, format_value

name = widgets.pick_experiment("trial")
if name is None:
    st.stop()
exp = data.experiment(name)
numbers = exp.trials["number"].tolist()
if not numbers:
    st.info("This experiment has no trials yet.")
    st.stop()
wanted = nav.param("trial")
if wanted is not None and not (wanted.isdigit() and int(wanted) in numbers):
    widgets.not_found(
        "trial", wanted, numbers, lambda k: nav.link("trial", f"trial {k}", experiment=name, trial=k), f" in {name}"
    )
default = (
    int(wanted)
    if wanted is not None
    else (exp.summary["best_trial"] if exp.summary["best_trial"] is not None else numbers[0])
)
number = st.selectbox("Trial", numbers, index=numbers.index(default), key="trial_pick")
row = data.trial_row(name, number)
assert row is not None
run_id = str(row["run_id"])


def _values_table(values: dict, what: str) -> pd.DataFrame:
    """Names and values as read (the one formatter), with the exact value where the shown one is rounded."""
    shown = [format_value(v) for v in values.values()]
    exact = [exact_value(v) for v in values.values()]
    table = pd.DataFrame({what: list(values), "value": shown})
    if exact != shown:
        table["exact value"] = [e if e != v else "" for e, v in zip(exact, shown, strict=True)]
    return table


def _metric_history() -> None:
    """Each metric's history once: MLflow's (every metric, every step, an axis title per panel), else the
    objective's intermediate values from the study; metrics logged once are shown as values, not flat lines."""
    ml = data.mlflow_run(name, run_id) if run_id else rm.MlflowRun()
    hist = data.metric_history(ml.run_id) if ml.run_id else pd.DataFrame()
    if len(hist):
        hist = hist.assign(label=f"trial {number}")
        once = figures.logged_once(hist)
        if once:
            final = hist[hist["metric"].isin(once)].drop_duplicates("metric", keep="last")
            cols = st.columns(min(len(once), 6))
            for i, (metric, value) in enumerate(zip(final["metric"], final["value"], strict=True)):
                cols[i % len(cols)].metric(metric, format_value(value), help=f"one value: {exact_value(value)}")
        series = hist[~hist["metric"].isin(once)]
        if len(series):
            st.plotly_chart(figures.curves(series, title="Metric history (MLflow)"), key="tr_hist")
        return
    inter = data.intermediate_of(name, [number])
    if len(inter) > 1:
        st.plotly_chart(
            figures.intermediate_values(
                inter, highlight=[number], title=f"Intermediate {exp.objectives[0]}", y_label=exp.objectives[0]
            ),
            key="tr_inter",
        )
    else:
        st.info("No metric history was recorded for this trial.")


st.title(f"{name} · trial {number}")
st.markdown(
    f"{widgets.badge(row['state'])} &nbsp; duration **{widgets.duration(row['duration_s'])}**"
    + (f" &nbsp; · {widgets.plain(row['message'])}" if row["message"] else "")
    + (" &nbsp; · imported by warmStart (not run here)" if row["imported"] else "")
)
c1, c2 = st.columns(2)
with c1:
    st.subheader("Parameters")
    params = {c[7:]: row[c] for c in exp.trials.columns if c.startswith("params.")}
    st.dataframe(_values_table(params, "parameter"), hide_index=True, key="tr_params")
with c2:
    st.subheader("Metrics")
    metrics = {c[8:]: row[c] for c in exp.trials.columns if c.startswith("metrics.")}
    table = _values_table(metrics, "metric")
    table.insert(1, "role", ["objective" if m in exp.objectives else "additional" for m in metrics])
    st.dataframe(table, hide_index=True, key="tr_metrics")
    if row["state"] != "Succeeded" and metrics:
        st.caption(f"A {row['state'].lower()} trial's metrics are the last values it reported, not final results.")
b1, b2, b3 = st.columns(3)
with b1:
    nav.link("lineage", "Lineage of this trial", experiment=name, trial=number)
with b2:
    nav.link("experiment", "Back to the experiment", name=name)

steps, artifacts = data.run_steps(run_id) if run_id else (pd.DataFrame(), [])
# A link from the Lineage page names a step (open its log) or an artifact (open its preview).
wanted_step = nav.param("step")
opened = "Artifacts" if nav.param("artifact") else "Logs" if wanted_step else None
tabs = st.tabs(["Metric history", "Pipeline", "Logs", "Artifacts", "MLflow"], default=opened)

with tabs[0]:
    _metric_history()

with tabs[1]:
    graph = data.pipeline_graph(name)
    if not graph["steps"]:
        st.info("No pipeline is stored with this experiment.")
    else:
        by_step = steps.set_index("step") if len(steps) else pd.DataFrame()
        nodes = []
        for stp in graph["steps"]:
            info = by_step.loc[stp["name"]] if len(by_step) and stp["name"] in by_step.index else None
            state = str(info["state"]) if info is not None else "Pending"
            dur = widgets.duration(info["duration_s"]) if info is not None else "-"
            cached = bool(info["cached"]) if info is not None else False
            nodes.append(
                {
                    "id": stp["name"],
                    "label": f"{stp['name']} · {dur}" + (" · cached" if cached else ""),
                    "state": state,
                    "component": stp["component"],
                    "duration": dur,
                    "cached": "yes" if cached else "no",
                    "when": stp["when"] or "-",
                }
            )
        st.plotly_chart(
            figures.dag(
                pd.DataFrame(nodes),
                pd.DataFrame(graph["edges"], columns=["source", "target", "label"]),
                title="Pipeline",
                hover=["state", "component", "duration", "cached", "when"],
            ),
            key="tr_dag",
        )
        if len(steps):
            shown = steps.drop(columns=["inputs", "outputs", "log_path", "execution_id"])
            st.dataframe(
                shown,
                hide_index=True,
                key="tr_steps",
                column_config={"duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f")},
            )
            with st.expander("Step inputs and value outputs"):
                for _, srow in steps.iterrows():
                    st.markdown(f"**{srow['step']}**")
                    st.json({"inputs": srow["inputs"], "outputs": srow["outputs"]}, expanded=False)

with tabs[2]:
    logs = data.step_logs(run_id)
    if not logs:
        st.info("No step logs for this trial.")
    else:
        order = list(steps["step"]) if len(steps) else []
        names = sorted(logs, key=lambda n: order.index(n) if n in order else len(order))
        if wanted_step is not None and wanted_step not in names:
            st.warning(f"Step **{widgets.plain(wanted_step)}** not found in trial {number}: pick one of its steps.")
        step = st.radio(
            "Step",
            names,
            index=names.index(wanted_step) if wanted_step in names else 0,
            horizontal=True,
            key="tr_log_step",
        )
        st.code(data.read_log(logs[step]), language=None)
        detail, where = data.failure_detail(run_id) if row["state"] == "Failed" else ("", None)
        if detail:
            st.error(f"failed: {widgets.plain(detail)} ({widgets.plain(where)})")

with tabs[3]:
    outputs = [a for a in artifacts if a["direction"] == "output"]
    inputs = [a for a in artifacts if a["direction"] == "input"]
    if not artifacts:
        st.info("This trial recorded no artifacts.")
    else:
        labels = [f"{a['step']} · {a['name']} ({a['type']})" for a in outputs] + [
            f"input: {a['name']} ({a['type']}, from another run)" for a in inputs
        ]
        wanted_art = nav.param("artifact")
        options = list(range(len(labels)))
        all_arts = outputs + inputs
        keys = [f"{a['step']}/{a['name']}" for a in all_arts]
        if wanted_art is not None and wanted_art not in keys:
            st.error(
                f"Artifact **{widgets.plain(wanted_art)}** not found in trial {number}; its artifacts: "
                + ", ".join(widgets.plain(k) for k in keys)
            )
        else:
            idx = keys.index(wanted_art) if wanted_art is not None else 0
            pick = st.selectbox("Artifact", options, index=idx, format_func=lambda i: labels[i], key="tr_art")
            art = all_arts[pick]
            st.caption(f"uri {widgets.plain(art['uri'])} · state {art['state']} · ML Metadata id {art['id']}")
            widgets.artifact_viewer(art, f"tr_prev_{pick}")

with tabs[4]:
    ml = data.mlflow_run(name, run_id) if run_id else rm.MlflowRun()
    if not ml.run_id:
        st.info("No MLflow run found for this trial.")
    else:
        st.markdown(f"MLflow run `{ml.run_id}` in experiment `{ml.experiment_id}` — [open in the MLflow UI]({ml.link})")
        st.caption(
            f"Start the MLflow UI with `mlflow ui --backend-store-uri {data.workspace().mlflow_uri}`; "
            f"set {rm.MLFLOW_UI_ENV} to point links elsewhere."
        )
        for step_name, step_run in ml.steps.items():
            st.markdown(
                f"- step **{step_name}**: [`{step_run}`]({rm.mlflow_ui_base()}/#/experiments/"
                f"{ml.experiment_id}/runs/{step_run})"
            )
