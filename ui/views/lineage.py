"""Lineage: artifact -> execution -> artifact from ML Metadata, for a trial or an artifact; click through."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data, figures, nav, widgets
from workbench.query import Lineage

DIRECTIONS = {"both": "Both ways", "upstream": "Upstream (where it came from)", "downstream": "Downstream (its uses)"}

st.title("Lineage")
name = widgets.pick_experiment("lineage")
if name is None:
    st.stop()
exp = data.experiment(name)
c1, c2 = st.columns([1, 2])
mode = c1.radio(
    "Lineage of", ["a trial", "an artifact"], horizontal=True, key="lin_mode", index=1 if nav.param("artifact") else 0
)
wanted_dir = nav.param("direction")
direction = c2.radio(
    "Direction",
    list(DIRECTIONS),
    index=list(DIRECTIONS).index(wanted_dir) if wanted_dir in DIRECTIONS else 0,
    format_func=DIRECTIONS.get,
    horizontal=True,
    key="lin_dir",
)

if mode == "a trial":
    numbers = exp.trials.loc[exp.trials["run_id"] != "", "number"].tolist()
    if not numbers:
        st.info("No trial of this experiment has run yet.")
        st.stop()
    wanted = nav.param("trial")
    if wanted is not None and not (wanted.isdigit() and int(wanted) in numbers):
        widgets.not_found(
            "trial",
            wanted,
            numbers,
            lambda k: nav.link("lineage", f"trial {k}", experiment=name, trial=k),
            f" in {name}",
        )
    idx = numbers.index(int(wanted)) if wanted is not None else 0
    number = st.selectbox("Trial", numbers, index=idx, key="lin_trial")
    run_id = str(exp.trials.loc[exp.trials["number"] == number, "run_id"].iloc[0])
    hops = st.slider(
        "Events to follow from the trial's steps",
        1,
        10,
        2,
        key="lin_trial_hops",
        help="1: the trial's steps and their inputs and outputs; 2: also the steps of other runs that made its "
        "inputs or used its outputs (e.g. a cached step's producer); each step further is 2 more.",
    )
    result = data.lineage(run_id=run_id, hops=hops, direction=direction)
    target = {"kind": "trial", "experiment": name, "trial": int(number), "run_id": run_id}
else:
    arts = data.experiment_artifacts(name)
    if arts.empty:
        st.info("This experiment recorded no artifacts.")
        st.stop()
    ids = arts["id"].tolist()
    wanted = nav.param("artifact")
    labels = {r.id: f"#{r.id} {r.step}/{r.name} ({r.type}, run {str(r.run_id)[:8]})" for r in arts.itertuples()}
    if wanted is not None and not (wanted.isdigit() and int(wanted) in ids):
        widgets.not_found(
            "artifact",
            wanted,
            ids,
            lambda i: nav.link("lineage", labels[i], experiment=name, artifact=i),
            f" in {name}",
        )
    idx = ids.index(int(wanted)) if wanted is not None else 0
    artifact_id = st.selectbox("Artifact", ids, index=idx, format_func=lambda i: labels[i], key="lin_art")
    hops = st.slider(
        "Events to follow (a step is 2)",
        1,
        20,
        20,
        key="lin_hops",
        help="20 covers the whole chain of any pipeline of up to 10 steps.",
    )
    result = data.lineage(artifact_id=int(artifact_id), hops=hops, direction=direction)
    target = {"kind": "artifact", "artifact_id": int(artifact_id)}

graph = result["frames"]
nodes, edges = graph["nodes"], graph["edges"]
if nodes.empty:
    st.info("No lineage recorded.")
    st.stop()
st.caption(
    f"{len(nodes[nodes['kind'] == 'execution'])} executions, {len(nodes[nodes['kind'] == 'artifact'])} artifacts, "
    f"{len(edges)} events — found with "
    + (
        "ML Metadata's `get_lineage_subgraph`"
        if result["method"] == "get_lineage_subgraph"
        else "an event traversal (this ml-metadata has no `get_lineage_subgraph`)"
    )
)
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
ids = nodes["id"].tolist()
by_id = nodes.set_index("id")
pick = st.selectbox(
    "Node",
    ids,
    index=ids.index(clicked[0]) if clicked and clicked[0] in ids else 0,
    format_func=lambda i: f"{i}: {by_id.loc[i, 'label']}",
    key="lin_node",
)
node = by_id.loc[pick]
st.json(
    {k: (None if not isinstance(v, dict) and pd.isna(v) else v) for k, v in node.drop(labels=["group"]).items()},
    expanded=False,
)
trial_of = exp.trials.set_index("run_id")["number"].to_dict()
trial = trial_of.get(str(node["run_id"]))
c1, c2, c3 = st.columns(3)
with c1:
    if trial is not None:
        params = {"experiment": name, "trial": int(trial), "step": node["step"] or None}
        if node["kind"] == "artifact":
            params["artifact"] = f"{node['step']}/{node['label']}"
            nav.link("trial", f"Open trial {trial}, artifact {node['step']}/{node['label']}", **params)
        else:
            nav.link("trial", f"Open trial {trial}, step {node['step']} (its log)", **params)
    elif node["experiment"]:
        st.caption(
            f"This node belongs to experiment {widgets.plain(node['experiment'])} (pick it above to open its trial)."
        )
    else:
        st.caption("This node belongs to a standalone run.")
with c2:
    if node["kind"] == "artifact":
        aid = int(node["mlmd_id"])
        nav.link("lineage", f"Upstream of artifact #{aid}", experiment=name, artifact=aid, direction="upstream")
with c3:
    if node["kind"] == "artifact":
        nav.link("lineage", f"Downstream of artifact #{aid}", experiment=name, artifact=aid, direction="downstream")

chain = Lineage(target=target, direction=direction, hops=hops, method=result["method"], nodes=graph["nodes"],
                edges=edges)  # fmt: skip
steps = chain.executions()
st.subheader({"upstream": "Upstream chain", "downstream": "Downstream uses"}.get(direction, "Executions"))
st.dataframe(
    pd.DataFrame(
        [
            {
                "step": e["step"],
                "experiment": e["experiment"],
                "trial": e["trial"],
                "state": e["state"],
                "parameters": ", ".join(f"{k}={v}" for k, v in e["params"].items()),
                "inputs": ", ".join(f"{i['name']} (#{i['artifact_id']})" for i in e["inputs"]),
                "outputs": ", ".join(f"{o['name']} (#{o['artifact_id']})" for o in e["outputs"]),
                "execution": e["execution_id"],
                "run_id": e["run_id"],
            }
            for e in steps
        ],
        columns=["step", "experiment", "trial", "state", "parameters", "inputs", "outputs", "execution", "run_id"],
    ),
    hide_index=True,
    key="lin_chain",
)
with st.expander("Nodes and edges"):
    st.dataframe(nodes.drop(columns=["group", "params"]), hide_index=True, key="lin_nodes")
    st.dataframe(edges, hide_index=True, key="lin_edges")
