"""Lineage: artifact -> execution -> artifact from ML Metadata, for a trial or an artifact; click through."""

from __future__ import annotations

import streamlit as st

from ui import data, figures, nav, widgets

st.title("Lineage")
name = widgets.pick_experiment("lineage")
if name is None:
    st.stop()
exp = data.experiment(name)
mode = st.radio(
    "Lineage of", ["a trial", "an artifact"], horizontal=True, key="lin_mode", index=1 if nav.param("artifact") else 0
)

if mode == "a trial":
    numbers = exp.trials.loc[exp.trials["run_id"] != "", "number"].tolist()
    if not numbers:
        st.info("No trial of this experiment has run yet.")
        st.stop()
    wanted = nav.param("trial")
    idx = numbers.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in numbers else 0
    number = st.selectbox("Trial", numbers, index=idx, key="lin_trial")
    run_id = str(exp.trials.loc[exp.trials["number"] == number, "run_id"].iloc[0])
    graph = data.lineage(run_id=run_id)
else:
    arts = data.experiment_artifacts(name)
    if arts.empty:
        st.info("This experiment recorded no artifacts.")
        st.stop()
    ids = arts["id"].tolist()
    wanted = nav.param("artifact")
    idx = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
    labels = {r.id: f"#{r.id} {r.step}/{r.name} ({r.type}, run {str(r.run_id)[:8]})" for r in arts.itertuples()}
    artifact_id = st.selectbox("Artifact", ids, index=idx, format_func=lambda i: labels[i], key="lin_art")
    hops = st.slider("Steps up and downstream", 1, 5, 2, key="lin_hops")
    graph = data.lineage(artifact_id=int(artifact_id), hops=hops)

nodes, edges = graph["nodes"], graph["edges"]
if nodes.empty:
    st.info("No lineage recorded.")
    st.stop()
nodes = nodes.assign(group=nodes["kind"].where(nodes["kind"] == "artifact", nodes["state"]))
nodes.loc[nodes["kind"] == "artifact", "group"] = "artifact: " + nodes["type"].astype(str)
fig = figures.dag(
    nodes,
    edges,
    color_by="group",
    symbol_by="kind",
    title="artifact → execution → artifact",
    hover=["kind", "type", "state", "step", "trial", "run_id", "uri"],
    height=520,
)
event = st.plotly_chart(fig, key="lin_chart", on_select="rerun", selection_mode=("points",))
st.caption("Squares are executions (steps), diamonds artifacts. Click a node to open its trial, step or artifact.")
points = (event.selection.points if event is not None and hasattr(event, "selection") else []) or []
clicked = [p.get("customdata", [None])[0] for p in points if p.get("customdata")]
selected = nodes[nodes["id"].isin(clicked)] if clicked else nodes.iloc[:0]
pick = st.selectbox(
    "Node",
    nodes["id"].tolist(),
    index=nodes["id"].tolist().index(clicked[0]) if clicked else 0,
    format_func=lambda i: f"{i}: {nodes.set_index('id').loc[i, 'label']}",
    key="lin_node",
)
node = nodes.set_index("id").loc[pick]
st.json({k: (None if v != v else v) for k, v in node.drop(labels=["group"]).to_dict().items()}, expanded=False)
trial_of = exp.trials.set_index("run_id")["number"].to_dict()
trial = trial_of.get(str(node["run_id"]))
c1, c2 = st.columns(2)
with c1:
    if trial is not None:
        params = {"experiment": name, "trial": int(trial)}
        if node["kind"] == "artifact":
            params["artifact"] = f"{node['step']}/{node['label']}"
        nav.link("trial", f"Open trial {trial} ({node['kind']} {node['label']})", **params)
    else:
        st.caption("This node belongs to a run outside this experiment.")
with c2:
    if node["kind"] == "artifact":
        nav.link("lineage", f"Lineage of artifact #{node['mlmd_id']}", experiment=name, artifact=int(node["mlmd_id"]))
with st.expander("Nodes and edges"):
    st.dataframe(nodes.drop(columns=["group"]), hide_index=True, key="lin_nodes")
    st.dataframe(edges, hide_index=True, key="lin_edges")
