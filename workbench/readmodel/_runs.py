"""Runs as the dashboard sees them: steps, the pipeline graph, logs, artifacts, metric histories, lineage.

Read-only access to ML Metadata (SQLite opened read-only) and MLflow (``MlflowClient``
searches only). Each function takes the open handles from :class:`Stores` (opened once per
process and workspace, lazily: MLflow's client takes seconds to start).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.tracking._common import flagged_secrets, mask
from workbench.workspace import Workspace

_STEP_REF = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_.-]+?)\.outputs\.([^{}]*?)\s*\}\}")
#: Base URL of the MLflow UI for run links (``mlflow ui`` listens on 127.0.0.1:5000 by default).
MLFLOW_UI_ENV = "WORKBENCH_MLFLOW_UI"


class Stores:
    """Lazily opened, read-only handles on a workspace's ML Metadata and MLflow stores (thread-safe)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.RLock()
        self._mlmd: Any = None
        self._mlflow: Any = None

    def mlmd(self) -> Any | None:
        """A read-only ``MetadataStore``, or ``None`` when the workspace has no lineage store yet."""
        with self._lock:
            if self._mlmd is None:
                from workbench.tracking._mlmd import open_store

                url = self.workspace.mlmd_url
                if url.startswith("sqlite:"):
                    path = url.split("://", 1)[1].split("?", 1)[0]
                    path = path[1:] if path.startswith("/") else path
                    if not Path(path).is_file():
                        return None
                    self._mlmd = open_store(url, readonly=True)
                else:
                    self._mlmd = open_store(url)
            return self._mlmd

    def mlflow(self) -> Any | None:
        """An ``MlflowClient``, or ``None`` when the workspace's SQLite tracking file does not exist."""
        with self._lock:
            if self._mlflow is None:
                uri = self.workspace.mlflow_uri
                if uri.startswith("sqlite:///"):
                    path = uri[len("sqlite:///") :].split("?", 1)[0]
                    if not Path(path).is_file():
                        return None
                from mlflow.tracking import MlflowClient

                self._mlflow = MlflowClient(tracking_uri=uri)
            return self._mlflow

    def locked(self) -> threading.RLock:
        return self._lock


# ------------------------------------------------------------------ pipeline graph


def pipeline_graph(spec_doc: dict[str, Any]) -> dict[str, Any]:
    """Steps and edges of an experiment's trial pipeline, from its stored spec.

    Returns ``{"steps": [{"name", "component", "when", "outputs": [...]}],
    "edges": [{"source", "target", "label"}]}``; an edge carries the output it passes
    (``after`` dependencies have an empty label).
    """
    template = ((spec_doc.get("spec") or {}).get("trialTemplate")) or {}
    pipeline = template.get("pipeline") or {}
    return graph_of_pipeline(pipeline)


def graph_of_pipeline(pipeline: dict[str, Any]) -> dict[str, Any]:
    steps = []
    edges: dict[tuple[str, str], set[str]] = {}
    for step in pipeline.get("steps") or []:
        name = str(step.get("name"))
        comp = step.get("component") or {}
        steps.append(
            {
                "name": name,
                "component": comp.get("name", "") if isinstance(comp, dict) else str(comp),
                "when": step.get("when") or "",
                "outputs": [o.get("name") for o in (comp.get("outputs") or [])] if isinstance(comp, dict) else [],
            }
        )
        text = json.dumps(step.get("arguments") or {}) + " " + str(step.get("when") or "")
        for source, output in _STEP_REF.findall(text):
            edges.setdefault((source, name), set()).add(output)
        for source in step.get("after") or []:
            edges.setdefault((str(source), name), set())
    return {
        "steps": steps,
        "edges": [{"source": s, "target": t, "label": ", ".join(sorted(o))} for (s, t), o in edges.items()],
    }


# ------------------------------------------------------------------ steps of a run


def _props(node: Any) -> dict[str, Any]:
    from workbench.tracking._mlmd import _get

    return {k: _get(v) for k, v in node.properties.items()}


def _custom(node: Any) -> dict[str, Any]:
    from workbench.tracking._mlmd import _get

    return {k: _get(v) for k, v in node.custom_properties.items()}


STEP_COLUMNS = [
    "step",
    "component",
    "state",
    "cached",
    "attempt",
    "started",
    "finished",
    "duration_s",
    "exit_code",
    "message",
    "log_path",
    "inputs",
    "outputs",
    "execution_id",
]


def run_steps(stores: Stores, run_id: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The steps of a run from ML Metadata (the last attempt of each) and the run's artifacts.

    Steps: one row per step with ``STEP_COLUMNS`` (``cached`` is True for a step served from the
    cache, ``attempts`` counts its tries). Artifacts: ``{"id", "uri", "type", "name", "step",
    "direction": "output"|"input", "state", "producer_run"}``.
    """
    store = stores.mlmd()
    empty = pd.DataFrame(columns=[*STEP_COLUMNS, "attempts"])
    if store is None or not run_id:
        return empty, []
    from ml_metadata import errors as mlmd_errors
    from ml_metadata.proto import metadata_store_pb2 as pb

    with stores.locked():
        try:
            found = store.get_contexts_by_external_ids([run_id])
        except mlmd_errors.NotFoundError:
            found = []
        if not found:
            return empty, []
        ctx = found[0]
        executions = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
        events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
        art_ids = sorted({ev.artifact_id for ev in events})
        artifacts = store.get_artifacts_by_id(art_ids) if art_ids else []
        a_types = {t.id: t.name for t in store.get_artifact_types_by_id(sorted({a.type_id for a in artifacts}))}
    rows: dict[str, dict[str, Any]] = {}
    attempts: dict[str, int] = {}
    exec_step: dict[int, str] = {}
    for e in executions:
        p = _props(e)
        step = str(p.get("step", ""))
        exec_step[e.id] = step
        attempts[step] = attempts.get(step, 0) + 1
        started, finished = p.get("started"), p.get("finished")
        try:
            inputs = json.loads(p.get("inputs") or "{}")
        except ValueError:
            inputs = {}
        row = {
            "step": step,
            "component": p.get("component", ""),
            "state": p.get("state", ""),
            "cached": p.get("state") == "Cached",
            "attempt": p.get("attempt", 1),
            "started": pd.to_datetime(started, unit="s") if started else pd.NaT,
            "finished": pd.to_datetime(finished, unit="s") if finished else pd.NaT,
            "duration_s": (finished - started) if started and finished else float("nan"),
            "exit_code": p.get("exit_code"),
            "message": p.get("message", "") or "",
            "log_path": p.get("log_path", "") or "",
            "inputs": inputs,
            "outputs": {k[len("output.") :]: v for k, v in _custom(e).items() if k.startswith("output.")},
            "execution_id": e.id,
        }
        prev = rows.get(step)
        if prev is None or (row["attempt"] or 0) >= (prev["attempt"] or 0):
            rows[step] = row
    frame = pd.DataFrame(list(rows.values()), columns=STEP_COLUMNS)
    frame["attempts"] = [attempts.get(s, 1) for s in frame["step"]]
    by_id = {a.id: a for a in artifacts}
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for ev in sorted(events, key=lambda ev: (ev.type != pb.Event.OUTPUT, ev.execution_id, ev.artifact_id)):
        a = by_id.get(ev.artifact_id)
        if a is None:
            continue
        direction = "output" if ev.type == pb.Event.OUTPUT else "input" if ev.type == pb.Event.INPUT else ""
        if not direction or (a.id, direction) in seen:
            continue
        if direction == "input" and (a.id, "output") in seen:
            continue  # produced in this run: listed once, as an output
        seen.add((a.id, direction))
        custom = _custom(a)
        name = ev.path.steps[0].key if ev.path.steps else custom.get("display_name", "")
        out.append(
            {
                "id": a.id,
                "uri": a.uri,
                "type": a_types.get(a.type_id, ""),
                "name": name,
                "step": exec_step.get(ev.execution_id, ""),
                "direction": direction,
                "state": pb.Artifact.State.Name(a.state),
                "producer_run": custom.get("run_id", ""),
            }
        )
    return frame, out


# ------------------------------------------------------------------ MLflow


@dataclass
class MlflowRun:
    """The MLflow side of a run: the trial run, its step runs, and links to the MLflow UI."""

    experiment_id: str = ""
    run_id: str = ""
    steps: dict[str, str] = field(default_factory=dict)
    link: str = ""
    metric_keys: list[str] = field(default_factory=list)


def mlflow_ui_base() -> str:
    import os

    return os.environ.get(MLFLOW_UI_ENV, "http://127.0.0.1:5000").rstrip("/")


def mlflow_run(stores: Stores, experiment: str, run_id: str) -> MlflowRun:
    """The MLflow runs of a Workbench run (found by the ``workbench.run_id`` tag)."""
    client = stores.mlflow()
    if client is None or not run_id:
        return MlflowRun()
    with stores.locked():
        exp = client.get_experiment_by_name(experiment) if experiment else None
        if exp is None:
            return MlflowRun()
        runs = client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`workbench.run_id` = '{run_id}'", max_results=1000
        )
    out = MlflowRun(experiment_id=exp.experiment_id)
    for r in runs:
        step = r.data.tags.get("workbench.step")
        if step:
            out.steps[step] = r.info.run_id
        else:
            out.run_id = r.info.run_id
            out.metric_keys = sorted(r.data.metrics)
    if out.run_id:
        out.link = f"{mlflow_ui_base()}/#/experiments/{out.experiment_id}/runs/{out.run_id}"
    return out


def metric_history(stores: Stores, mlflow_run_id: str, keys: list[str] | None = None) -> pd.DataFrame:
    """Every logged value of a run's metrics: ``metric``, ``step``, ``value``, ``timestamp``."""
    client = stores.mlflow()
    rows: list[dict[str, Any]] = []
    if client is None or not mlflow_run_id:
        return pd.DataFrame(rows, columns=["metric", "step", "value", "timestamp"])
    with stores.locked():
        if keys is None:
            keys = sorted(client.get_run(mlflow_run_id).data.metrics)
        for key in keys:
            for m in client.get_metric_history(mlflow_run_id, key):
                rows.append({"metric": key, "step": m.step, "value": m.value, "timestamp": m.timestamp})
    frame = pd.DataFrame(rows, columns=["metric", "step", "value", "timestamp"])
    return frame.sort_values(["metric", "step", "timestamp"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ standalone runs


RUN_COLUMNS = ["run_id", "name", "experiment", "pipeline", "state", "started", "finished", "duration_s", "message"]


def standalone_runs(stores: Stores) -> pd.DataFrame:
    """Pipeline runs that are not trials (ML Metadata contexts ``workbench.Run``, but deleted runs), newest first."""
    store = stores.mlmd()
    rows: list[dict[str, Any]] = []
    if store is not None:
        from workbench.tracking._mlmd import RUN_TYPE

        with stores.locked():
            contexts = store.get_contexts_by_type(RUN_TYPE)
            executions = {c.id: store.get_executions_by_context(c.id) for c in contexts}
        for c in contexts:
            if "deleted" in c.custom_properties:  # `workbench runs delete`: its lineage stays, the run is gone
                continue
            p = _props(c)
            steps = [_props(e) for e in executions.get(c.id, [])]
            started = p.get("started") or min((s["started"] for s in steps if s.get("started")), default=None)
            finished = p.get("finished") or max((s["finished"] for s in steps if s.get("finished")), default=None)
            rows.append(
                {
                    "run_id": p.get("run_id", c.external_id),
                    "name": c.name,
                    "experiment": p.get("experiment", ""),
                    "pipeline": p.get("pipeline", ""),
                    "state": p.get("state") or _run_state([str(s.get("state", "")) for s in steps]),
                    "started": pd.to_datetime(started, unit="s") if started else pd.NaT,
                    "finished": pd.to_datetime(finished, unit="s") if finished else pd.NaT,
                    "duration_s": (finished - started) if started and finished else float("nan"),
                    "message": p.get("message", "") or "",
                }
            )
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return frame.sort_values("started", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ lineage


def _run_state(step_states: list[str]) -> str:
    """A run's state from its steps' (for runs whose recorder never wrote the run's own state)."""
    if not step_states:
        return "Pending"
    if "Failed" in step_states:
        return "Failed"
    if any(s in ("Running", "Pending") for s in step_states):
        return "Running"
    if "Cancelled" in step_states:
        return "Killed"
    return "Succeeded"


def experiment_artifacts(stores: Stores, experiment: str) -> pd.DataFrame:
    """Every artifact attributed to an experiment: ``id``, ``name``, ``type``, ``uri``, ``run_id``, ``step``."""
    store = stores.mlmd()
    cols = ["id", "name", "type", "uri", "run_id", "step", "state"]
    if store is None:
        return pd.DataFrame(columns=cols)
    from ml_metadata.proto import metadata_store_pb2 as pb

    from workbench.tracking._mlmd import EXPERIMENT_TYPE

    with stores.locked():
        ctx = store.get_context_by_type_and_name(EXPERIMENT_TYPE, experiment)
        if ctx is None:
            return pd.DataFrame(columns=cols)
        arts = store.get_artifacts_by_context(ctx.id)
        types = {t.id: t.name for t in store.get_artifact_types_by_id(sorted({a.type_id for a in arts}))}
    rows = []
    for a in arts:
        c = _custom(a)
        rows.append(
            {
                "id": a.id,
                "name": c.get("display_name", a.name),
                "type": types.get(a.type_id, ""),
                "uri": a.uri,
                "run_id": c.get("run_id", ""),
                "step": c.get("step", ""),
                "state": pb.Artifact.State.Name(a.state),
            }
        )
    return pd.DataFrame(rows, columns=cols).sort_values("id").reset_index(drop=True)


def lineage(
    stores: Stores,
    *,
    run_id: str | None = None,
    artifact_id: int | None = None,
    hops: int = 2,
    direction: str = "both",
    method: str = "auto",
) -> dict[str, pd.DataFrame]:
    """The artifact -> execution -> artifact graph around a run or an artifact, from ML Metadata.

    For a run: its executions and every artifact they read or wrote (1 hop), and with the default
    ``hops=2`` the executions of other runs that produced its inputs or consumed its outputs. For an
    artifact: ``hops`` events upstream and/or downstream (``direction``: upstream | downstream |
    both). ``get_lineage_subgraph`` is used where the store answers it, the event traversal
    otherwise (``method``: auto | get_lineage_subgraph | events; see ``_lineage``). Returns
    ``{"nodes", "edges"}`` with the columns of :func:`workbench.readmodel._lineage.frames`.
    """
    return lineage_graph(stores, run_id=run_id, artifact_id=artifact_id, hops=hops, direction=direction, method=method)[
        "frames"
    ]


def lineage_graph(
    stores: Stores,
    *,
    run_id: str | None = None,
    artifact_id: int | None = None,
    hops: int = 2,
    direction: str = "both",
    method: str = "auto",
) -> dict[str, Any]:
    """:func:`lineage` and how it was found: ``{"frames": {"nodes", "edges"}, "method": ...}``."""
    from workbench.readmodel import _lineage

    store = stores.mlmd()
    if store is None:
        return {"frames": _lineage.empty_frames(), "method": ""}
    from ml_metadata import errors as mlmd_errors

    with stores.locked():
        if run_id:
            try:
                found = store.get_contexts_by_external_ids([run_id])
            except mlmd_errors.NotFoundError:
                found = []
            if not found:
                return {"frames": _lineage.empty_frames(), "method": ""}
            sub = _lineage.traverse(
                store,
                execution_ids={e.id for e in store.get_executions_by_context(found[0].id)},
                direction=direction,
                hops=hops,
                method=method,
            )
        elif artifact_id is not None:
            if not store.get_artifacts_by_id([int(artifact_id)]):
                return {"frames": _lineage.empty_frames(), "method": ""}
            sub = _lineage.traverse(
                store, artifact_ids={int(artifact_id)}, direction=direction, hops=hops, method=method
            )
        else:
            return {"frames": _lineage.empty_frames(), "method": ""}
        return {"frames": _lineage.frames(store, sub), "method": sub.method}


def read_log(path: str | Path, max_bytes: int = 2_000_000) -> str:
    """The end of a step log (at most ``max_bytes``), its rolling tail included."""
    from workbench.engine.run import read_log_tail

    p = Path(path)
    try:
        text, skipped = read_log_tail(p, max_bytes)
    except OSError as err:
        return f"(cannot read {p}: {err})"
    return (f"... (first {skipped:,} bytes not shown)\n" if skipped else "") + text


# ------------------------------------------------------------------ the run store: standalone runs and schedules


STORE_RUN_COLUMNS = ["run_id", "name", "namespace", "experiment", "pipeline", "state", "created", "started",
                     "finished", "duration_s", "schedule", "rerun_of", "message"]  # fmt: skip


def run_store_frame(
    workspace: Workspace,
    namespace: str | None = None,
    experiment: str | None = None,
    schedule: str | None = None,
    limit: int | None = None,
    archived: bool = False,
) -> pd.DataFrame:
    """Standalone runs from the run store, newest first: ``STORE_RUN_COLUMNS`` plus ``params.*`` and ``metrics.*``;
    archived runs only with ``archived=True``.

    An empty frame when the workspace has no run store yet (reading never creates it).
    """
    from workbench.runs import existing_store

    store = existing_store(workspace)
    records = store.list_runs(namespace, experiment, schedule, limit=limit, archived=archived) if store else []
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "run_id": r.run_id,
            "name": r.name,
            "namespace": r.namespace,
            "experiment": r.experiment,
            "pipeline": r.pipeline,
            "state": r.state + (" (stale)" if r.stale() else ""),
            "created": pd.to_datetime(r.created, unit="s"),
            "started": pd.to_datetime(r.started, unit="s") if r.started else pd.NaT,
            "finished": pd.to_datetime(r.finished, unit="s") if r.finished else pd.NaT,
            "duration_s": r.duration if r.duration is not None else float("nan"),
            "schedule": r.schedule or "",
            "rerun_of": r.rerun_of or "",
            "message": r.message,
        }
        shown = mask(r.parameters, secrets=flagged_secrets(r.document))  # the store keeps them to rerun
        row.update({f"params.{k}": v for k, v in shown.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in STORE_RUN_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=object)
    extra = sorted(c for c in frame.columns if c not in STORE_RUN_COLUMNS)
    return frame[STORE_RUN_COLUMNS + extra]


SCHEDULE_COLUMNS = ["name", "namespace", "kind", "target", "trigger", "timezone", "enabled", "max_concurrency",
                    "catchup", "next_fire", "last_fire", "last_state", "active", "occurrences"]  # fmt: skip


def schedules_frame(workspace: Workspace, namespace: str | None = None) -> pd.DataFrame:
    """Schedules (recurring runs): ``SCHEDULE_COLUMNS``; ``next_fire``/``last_fire`` are UTC timestamps."""
    from workbench.runs import existing_store
    from workbench.schedule import next_fire, trigger_of

    store = existing_store(workspace)
    rows = []
    for s in store.list_schedules(namespace) if store is not None else []:
        assert s.id is not None
        recent = store.occurrences(s.id, limit=MAX_OCCURRENCES)
        trigger = trigger_of(s)
        nxt = next_fire(s, recent[0].fire_at if recent else None)
        rows.append(
            {
                "name": s.name,
                "namespace": s.namespace,
                "kind": s.kind,
                "target": str((s.document.get("metadata") or {}).get("name", "")),
                "trigger": trigger.describe(),
                "timezone": trigger.timezone,
                "enabled": s.enabled,
                "max_concurrency": s.max_concurrency,
                "catchup": s.catchup,
                "next_fire": pd.to_datetime(nxt, unit="s", utc=True) if nxt else pd.NaT,
                "last_fire": pd.to_datetime(recent[0].fire_at, unit="s", utc=True) if recent else pd.NaT,
                "last_state": recent[0].state if recent else "",
                "active": sum(o.state in ("Pending", "Running") for o in recent),
                "occurrences": len(recent),
            }
        )
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)


#: Occurrences read per schedule for the listing.
MAX_OCCURRENCES = 200


def schedule_occurrences(workspace: Workspace, name: str, namespace: str = "default", limit: int = 50) -> pd.DataFrame:
    """The latest occurrences of a schedule: ``fire_time`` (UTC), ``state``, ``target``, ``message``."""
    from workbench.runs import existing_store

    cols = ["fire_time", "state", "target", "started", "finished", "message"]
    store = existing_store(workspace)
    if store is None:
        return pd.DataFrame(columns=cols)
    schedule = store.get_schedule(name, namespace)
    assert schedule.id is not None
    rows = [
        {
            "fire_time": pd.to_datetime(o.fire_at, unit="s", utc=True),
            "state": o.state,
            "target": o.target,
            "started": pd.to_datetime(o.started, unit="s") if o.started else pd.NaT,
            "finished": pd.to_datetime(o.finished, unit="s") if o.finished else pd.NaT,
            "message": o.message,
        }
        for o in store.occurrences(schedule.id, limit=limit)
    ]
    return pd.DataFrame(rows, columns=cols)
