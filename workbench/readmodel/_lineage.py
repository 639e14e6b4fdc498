"""Lineage queries over ML Metadata: the artifact -> execution -> artifact graph around artifacts or a run.

One traversal, two implementations with the same result:

- ``get_lineage_subgraph`` (ML Metadata >= 1.15: ``LineageSubgraphQueryOptions`` with starting
  nodes, a direction and a maximum number of hops), used when the installed ml-metadata has
  it and the store answers it (checked by calling it; the answer is remembered per store);
- an event traversal (``get_events_by_artifact_ids`` / ``get_events_by_execution_ids``) that
  follows the same rules, for stores or versions without it.

The rules (those of ``get_lineage_subgraph``): a *hop* is one event (artifact -> execution or
execution -> artifact). *Upstream* follows an artifact to the executions that wrote it (OUTPUT
events) and an execution to the artifacts it read (INPUT events); *downstream* follows an
artifact to the executions that read it and an execution to what it wrote; *both* follows every
event. Every node at most ``hops`` events from a starting node is in the graph, with the events
followed to reach it and those between nodes nearer than ``hops``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Directions a lineage query follows (``both`` = MLMD's BIDIRECTIONAL).
DIRECTIONS = ("upstream", "downstream", "both")
#: How the graph was found: MLMD's own subgraph query, or the event traversal.
SUBGRAPH, EVENTS = "get_lineage_subgraph", "events"
#: ``get_lineage_subgraph`` takes at most this many starting nodes per query.
MAX_START_NODES = 100
NODE_COLUMNS = [
    "id",
    "kind",
    "label",
    "type",
    "state",
    "run_id",
    "step",
    "experiment",
    "trial",
    "uri",
    "mlmd_id",
    "params",
]
EDGE_COLUMNS = ["source", "target", "event", "name"]

# Event types (``metadata_store_pb2.Event.Type``): numbers, so that this module imports no protobuf at load time.
_INPUT_TYPES = (2, 3, 5)  # DECLARED_INPUT, INPUT, INTERNAL_INPUT
_OUTPUT_TYPES = (1, 4, 6, 7)  # DECLARED_OUTPUT, OUTPUT, INTERNAL_OUTPUT, PENDING_OUTPUT
_INPUT, _OUTPUT = 3, 4  # INPUT, OUTPUT

#: id(store) -> whether its ``get_lineage_subgraph`` works (probed once per store object).
_SUBGRAPH_WORKS: dict[int, bool] = {}


@dataclass
class Subgraph:
    """Node ids and events (execution id, artifact id, event type, event path name) of a lineage query."""

    executions: set[int] = field(default_factory=set)
    artifacts: set[int] = field(default_factory=set)
    events: dict[tuple[int, int, int], str] = field(default_factory=dict)
    method: str = EVENTS

    def merge(self, other: Subgraph) -> None:
        self.executions |= other.executions
        self.artifacts |= other.artifacts
        self.events.update(other.events)


def _check(direction: str, hops: int) -> None:
    from workbench.errors import WorkbenchError

    if direction not in DIRECTIONS:
        raise WorkbenchError(f"lineage direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if not isinstance(hops, int) or hops < 0:
        raise WorkbenchError(f"lineage hops must be a whole number >= 0, got {hops!r}")


def _event_name(ev: Any) -> str:
    return ev.path.steps[0].key if ev.path.steps else ""


def _kind(event_type: int) -> int:
    """INPUT or OUTPUT for an event type (declared and pending events count as their kind), else 0."""
    if event_type in _INPUT_TYPES:
        return _INPUT
    if event_type in _OUTPUT_TYPES:
        return _OUTPUT
    return 0


def subgraph_api(store: Any) -> bool:
    """Whether ``store`` has ``get_lineage_subgraph`` and the protobuf options for it (ml-metadata >= 1.15)."""
    try:
        from ml_metadata.proto import metadata_store_pb2 as pb
    except ImportError:  # pragma: no cover - ml-metadata is a dependency
        return False
    return hasattr(store, "get_lineage_subgraph") and hasattr(pb, "LineageSubgraphQueryOptions")


def by_events(
    store: Any, artifact_ids: set[int], execution_ids: set[int], direction: str = "both", hops: int = 2
) -> Subgraph:
    """The lineage subgraph by following events, one hop at a time (works on every ml-metadata version)."""
    _check(direction, hops)
    up, down = direction in ("upstream", "both"), direction in ("downstream", "both")
    out = Subgraph(executions=set(execution_ids), artifacts=set(artifact_ids), method=EVENTS)
    frontier_a, frontier_e = set(artifact_ids), set(execution_ids)
    for _ in range(hops):
        new_a: set[int] = set()
        new_e: set[int] = set()
        if frontier_a:
            for ev in store.get_events_by_artifact_ids(sorted(frontier_a)):
                kind = _kind(ev.type)
                # artifact -> the executions that wrote it (upstream) or read it (downstream)
                if (kind == _OUTPUT and up) or (kind == _INPUT and down):
                    out.events[(ev.execution_id, ev.artifact_id, kind)] = _event_name(ev)
                    if ev.execution_id not in out.executions:
                        new_e.add(ev.execution_id)
        if frontier_e:
            for ev in store.get_events_by_execution_ids(sorted(frontier_e)):
                kind = _kind(ev.type)
                # execution -> the artifacts it read (upstream) or wrote (downstream)
                if (kind == _INPUT and up) or (kind == _OUTPUT and down):
                    out.events[(ev.execution_id, ev.artifact_id, kind)] = _event_name(ev)
                    if ev.artifact_id not in out.artifacts:
                        new_a.add(ev.artifact_id)
        out.artifacts |= new_a
        out.executions |= new_e
        frontier_a, frontier_e = new_a, new_e
        if not frontier_a and not frontier_e:
            break
    return out


def by_subgraph(
    store: Any, artifact_ids: set[int], execution_ids: set[int], direction: str = "both", hops: int = 2
) -> Subgraph:
    """The lineage subgraph from ML Metadata's ``get_lineage_subgraph`` (at most 100 starting nodes per call)."""
    from ml_metadata import errors as mlmd_errors
    from ml_metadata.proto import metadata_store_pb2 as pb

    _check(direction, hops)
    options = pb.LineageSubgraphQueryOptions
    mlmd_direction = {"upstream": options.UPSTREAM, "downstream": options.DOWNSTREAM, "both": options.BIDIRECTIONAL}
    out = Subgraph(executions=set(execution_ids), artifacts=set(artifact_ids), method=SUBGRAPH)
    batches = [("a", sorted(artifact_ids)), ("e", sorted(execution_ids))]
    for which, ids in batches:
        for i in range(0, len(ids), MAX_START_NODES):
            part = ids[i : i + MAX_START_NODES]
            query = options(max_num_hops=hops, direction=mlmd_direction[direction])
            start = query.starting_artifacts if which == "a" else query.starting_executions
            start.filter_query = f"id IN ({', '.join(str(x) for x in part)})"
            try:
                graph = store.get_lineage_subgraph(query, ["artifacts", "executions", "events"])
            except mlmd_errors.NotFoundError:  # none of the starting nodes exists
                continue
            out.artifacts |= {a.id for a in graph.artifacts}
            out.executions |= {e.id for e in graph.executions}
            for ev in graph.events:
                kind = _kind(ev.type)
                if kind:
                    out.events[(ev.execution_id, ev.artifact_id, kind)] = _event_name(ev)
    return out


def traverse(
    store: Any,
    *,
    artifact_ids: set[int] | None = None,
    execution_ids: set[int] | None = None,
    direction: str = "both",
    hops: int = 2,
    method: str = "auto",
) -> Subgraph:
    """The lineage subgraph from the starting artifacts and executions.

    ``method``: ``auto`` (``get_lineage_subgraph`` when the store answers it, else the event
    traversal), ``get_lineage_subgraph`` or ``events``. :attr:`Subgraph.method` says which ran.
    """
    _check(direction, hops)
    arts, execs = set(artifact_ids or ()), set(execution_ids or ())
    if method not in ("auto", SUBGRAPH, EVENTS):
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"lineage method must be auto, {SUBGRAPH} or {EVENTS}, got {method!r}")
    if method == EVENTS or (method == "auto" and (not subgraph_api(store) or _SUBGRAPH_WORKS.get(id(store)) is False)):
        return by_events(store, arts, execs, direction, hops)
    if method == SUBGRAPH:
        return by_subgraph(store, arts, execs, direction, hops)
    try:
        found = by_subgraph(store, arts, execs, direction, hops)
    except Exception:  # noqa: BLE001 - an older server or a backend without the query: fall back, once per store
        _SUBGRAPH_WORKS[id(store)] = False
        return by_events(store, arts, execs, direction, hops)
    _SUBGRAPH_WORKS[id(store)] = True
    return found


def frames(store: Any, sub: Subgraph) -> dict[str, pd.DataFrame]:
    """Nodes and edges of a subgraph as DataFrames (:data:`NODE_COLUMNS`, :data:`EDGE_COLUMNS`).

    Nodes: ``id`` (``a<id>`` or ``e<id>``), ``kind`` (artifact | execution), ``label``, ``type``
    (artifact type or component), ``state``, ``run_id``, ``step``, ``experiment``, ``trial``,
    ``uri``, ``mlmd_id`` and ``params`` (an execution's input parameter values). Edges: ``source``,
    ``target``, ``event`` (INPUT: artifact -> execution, OUTPUT: execution -> artifact), ``name``.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    from workbench.tracking._mlmd import _get

    executions = store.get_executions_by_id(sorted(sub.executions)) if sub.executions else []
    artifacts = store.get_artifacts_by_id(sorted(sub.artifacts)) if sub.artifacts else []
    a_types = {t.id: t.name for t in store.get_artifact_types_by_id(sorted({a.type_id for a in artifacts}))}
    nodes = []
    for e in executions:
        p = {k: _get(v) for k, v in e.properties.items()}
        try:
            params = json.loads(p.get("inputs") or "{}")
        except ValueError:
            params = {}
        nodes.append(
            {
                "id": f"e{e.id}",
                "kind": "execution",
                "label": f"{p.get('step', '')}" + (f" (trial {p['trial_number']})" if "trial_number" in p else ""),
                "type": p.get("component", ""),
                "state": p.get("state", pb.Execution.State.Name(e.last_known_state)),
                "run_id": p.get("run_id", ""),
                "step": p.get("step", ""),
                "experiment": p.get("experiment", ""),
                "trial": p.get("trial_number"),
                "uri": "",
                "mlmd_id": e.id,
                "params": params if isinstance(params, dict) else {},
            }
        )
    for a in artifacts:
        c = {k: _get(v) for k, v in a.custom_properties.items()}
        nodes.append(
            {
                "id": f"a{a.id}",
                "kind": "artifact",
                "label": f"{c.get('display_name', a.name or a.id)}",
                "type": a_types.get(a.type_id, ""),
                "state": pb.Artifact.State.Name(a.state),
                "run_id": c.get("run_id", ""),
                "step": c.get("step", ""),
                "experiment": "",
                "trial": None,
                "uri": a.uri,
                "mlmd_id": a.id,
                "params": {},
            }
        )
    present_e = {e.id for e in executions}
    present_a = {a.id for a in artifacts}
    edges = []
    for (eid, aid, kind), name in sorted(sub.events.items()):
        if eid not in present_e or aid not in present_a:
            continue
        if kind == _OUTPUT:
            edges.append({"source": f"e{eid}", "target": f"a{aid}", "event": "OUTPUT", "name": name})
        else:
            edges.append({"source": f"a{aid}", "target": f"e{eid}", "event": "INPUT", "name": name})
    # Artifacts carry their run id; their trial and experiment are those of that run's executions.
    trial_of_run = {n["run_id"]: n["trial"] for n in nodes if n["kind"] == "execution" and n["trial"] is not None}
    experiment_of_run = {n["run_id"]: n["experiment"] for n in nodes if n["kind"] == "execution" and n["experiment"]}
    for n in nodes:
        if n["trial"] is None:
            n["trial"] = trial_of_run.get(n["run_id"])
        if not n["experiment"]:
            n["experiment"] = experiment_of_run.get(n["run_id"], "")
    node_frame = pd.DataFrame(nodes, columns=NODE_COLUMNS)
    node_frame["trial"] = node_frame["trial"].astype(object).where(node_frame["trial"].notna(), None)
    return {"nodes": node_frame, "edges": pd.DataFrame(edges, columns=EDGE_COLUMNS)}


def empty_frames() -> dict[str, pd.DataFrame]:
    return {"nodes": pd.DataFrame(columns=NODE_COLUMNS), "edges": pd.DataFrame(columns=EDGE_COLUMNS)}
