"""Trial: parameters, metrics and their histories, the pipeline graph, step logs, artifacts, the MLflow run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, figures, nav, widgets
from workbench import readmodel as rm

name = widgets.pick_experiment("trial")
if name is None:
    st.stop()
exp = data.experiment(name)
numbers = exp.trials["number"].tolist()
if not numbers:
    st.info("This experiment has no trials yet.")
    st.stop()
wanted = nav.param("trial")
default = (
    int(wanted)
    if wanted is not None and wanted.isdigit() and int(wanted) in numbers
    else (exp.summary["best_trial"] if exp.summary["best_trial"] is not None else numbers[0])
)
number = st.selectbox("Trial", numbers, index=numbers.index(default), key="trial_pick")
row = data.trial_row(name, number)
assert row is not None
run_id = str(row["run_id"])

st.title(f"{name} · trial {number}")
st.markdown(
    f"{widgets.badge(row['state'])} &nbsp; duration **{widgets.duration(row['duration_s'])}**"
    + (f" &nbsp; · {row['message']}" if row["message"] else "")
    + (" &nbsp; · imported from warmStart.csv (not run here)" if row["imported"] else "")
)
c1, c2 = st.columns(2)
with c1:
    st.subheader("Parameters")
    params = {c[7:]: row[c] for c in exp.trials.columns if c.startswith("params.")}
    st.dataframe(
        pd.DataFrame({"parameter": list(params), "value": [widgets.value(v) for v in params.values()]}),
        hide_index=True,
        key="tr_params",
    )
with c2:
    st.subheader("Metrics")
    metrics = {c[8:]: row[c] for c in exp.trials.columns if c.startswith("metrics.")}
    st.dataframe(
        pd.DataFrame(
            {
                "metric": list(metrics),
                "value": [widgets.value(v) for v in metrics.values()],
                "role": ["objective" if m in exp.objectives else "additional" for m in metrics],
            }
        ),
        hide_index=True,
        key="tr_metrics",
    )
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
    inter = data.intermediate_of(name, [number])
    if len(inter):
        st.plotly_chart(
            figures.intermediate_values(
                inter, highlight=[number], title=f"Intermediate {exp.objectives[0]}", y_label=exp.objectives[0]
            ),
            key="tr_inter",
        )
    ml = data.mlflow_run(name, run_id) if run_id else rm.MlflowRun()
    hist = data.metric_history(ml.run_id) if ml.run_id else pd.DataFrame()
    if len(hist):
        hist = hist.assign(label=f"trial {number}")
        st.plotly_chart(figures.curves(hist, title="Metric history (MLflow)"), key="tr_hist")
    elif not len(inter):
        st.info("No metric history was recorded for this trial.")

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
            st.error(f"failed: {detail} ({where})")

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
        idx = next((i for i, a in enumerate(all_arts) if f"{a['step']}/{a['name']}" == wanted_art), 0)
        pick = st.selectbox("Artifact", options, index=idx, format_func=lambda i: labels[i], key="tr_art")
        art = all_arts[pick]
        st.caption(f"uri `{art['uri']}` · state {art['state']} · ML Metadata id {art['id']}")
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
