"""Experiments and trials through Optuna's API (the Python API; ``run``, ``resume`` and ``stop``), lineage. Read-only.

The CLI's read commands (``ls``, ``show``, ``best``, ``trials``) and the dashboard read through
:mod:`workbench.readmodel`, which reads the embedded journal without importing Optuna.

Example:
    >>> from workbench.workspace import Workspace
    >>> import tempfile
    >>> list_experiments(Workspace.at(tempfile.mkdtemp()))
    []
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.readmodel._logs import failure_detail, step_logs  # noqa: F401  (re-exported: older callers)
from workbench.readmodel._model import TAIL_COLUMNS
from workbench.search import _storage as st
from workbench.search._storage import ROW_KEY_ATTR
from workbench.search.controller import trial_state
from workbench.workspace import Workspace


@dataclass
class ExperimentRow:
    """One line of ``workbench ls``."""

    name: str
    namespace: str
    state: str
    algorithm: str
    finished: int
    max_trials: int | None
    failed: int
    pruned: int
    running: int
    best_value: float | None
    best_trial: int | None
    directions: list[str]
    objective: list[str]
    started: float | None
    ended: float | None
    spec: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    #: Size of the Pareto front (multi-objective experiments).
    front: int = 0
    #: Finished trials imported by ``warmStart`` (CSV, earlier experiment; not counted in ``finished``, ...).
    imported: int = 0
    #: Archived (``workbench archive``): hidden from the lists unless asked for.
    archived: bool = False

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def _storage(workspace: Workspace) -> optuna.storages.BaseStorage | None:
    """The Optuna storage, or ``None`` for an embedded workspace with no journal yet (nothing is created)."""
    url = workspace.optuna_url
    if url.startswith("journal://") and not Path(url[len("journal://") :]).is_file():
        return None
    return st.open_storage(url)


def _row(study: optuna.Study, workspace: Workspace) -> ExperimentRow:
    attrs = study.user_attrs
    doc = attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec", {})
    counts: dict[str, int] = {}
    imported = 0
    for trial in study.get_trials(deepcopy=False):
        if ROW_KEY_ATTR in trial.user_attrs:  # imported by warmStart: known before, never run here
            imported += 1
            continue
        s = trial_state(trial)
        counts[s] = counts.get(s, 0) + 1
    best_value = best_trial = None
    front = 0
    if len(study.directions) == 1 and _has_complete(study):
        best = study.best_trial
        best_value, best_trial = best.value, best.number
    elif _has_complete(study):
        front = len(study.best_trials)
    objective = spec.get("objective", {})
    metrics = [o["metricName"] for o in objective.get("objectives", [])] or [objective.get("objectiveMetricName", "")]
    state = str(attrs.get(st.ATTR_STATE, "Created"))
    if state == "Running" and not st.ExperimentLock(workspace.locks, study.study_name).is_held_elsewhere():
        if workspace.optuna_url.startswith("journal://"):
            state = "Stopped"  # no live controller holds it: it crashed or was killed
    return ExperimentRow(
        name=study.study_name,
        namespace=str(attrs.get(st.ATTR_NAMESPACE, "default")),
        state=state,
        algorithm=str(spec.get("algorithm", {}).get("algorithmName", "")),
        finished=sum(counts.get(s, 0) for s in ("Succeeded", "Pruned", "Failed", "MetricsUnavailable")),
        max_trials=spec.get("maxTrialCount"),
        failed=counts.get("Failed", 0) + counts.get("MetricsUnavailable", 0),
        pruned=counts.get("Pruned", 0),
        running=counts.get("Running", 0),
        best_value=best_value,
        best_trial=best_trial,
        directions=[d.name.lower() for d in study.directions],
        objective=metrics,
        started=attrs.get(st.ATTR_STARTED),
        ended=attrs.get(st.ATTR_FINISHED) if state != "Running" else None,
        spec=doc,
        message=str(attrs.get(st.ATTR_MESSAGE, "")),
        front=front,
        imported=imported,
        archived=bool(attrs.get(st.ATTR_ARCHIVED)),
    )


def _has_complete(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def list_experiments(workspace: Workspace, archived: bool = False) -> list[ExperimentRow]:
    """Every experiment in the workspace, newest first; archived ones only with ``archived=True``."""
    storage = _storage(workspace)
    if storage is None:
        return []
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        if archived or not study.user_attrs.get(st.ATTR_ARCHIVED):
            rows.append(_row(study, workspace))
    rows.sort(key=lambda r: r.started or 0, reverse=True)
    return rows


def find_study(workspace: Workspace, name: str) -> optuna.Study | None:
    """The Optuna study of experiment ``name``, or ``None`` if there is none (nothing is created)."""
    storage = _storage(workspace)
    if storage is None or not st.study_exists(storage, name):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def load_study(workspace: Workspace, name: str) -> optuna.Study:
    """The Optuna study of experiment ``name``; a clear error if there is none."""
    study = find_study(workspace, name)
    if study is None:
        known = [r.name for r in list_experiments(workspace)]
        listed = ", ".join(known) if known else "none"
        raise WorkbenchError(f"no experiment named {name!r} in {workspace.home} (experiments: {listed})")
    return study


def experiment(workspace: Workspace, name: str) -> ExperimentRow:
    return _row(load_study(workspace, name), workspace)


def trials_dataframe(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, in trial order.

    Columns: ``number``, ``state``, ``params.<name>`` for every parameter of the spec,
    ``metrics.<name>`` for every objective and additional metric (objectives first; NaN
    where a trial has no value), then ``started``, ``finished``, ``duration_s``,
    ``intermediate_steps``, ``run_id``, ``message`` (why a trial failed or was killed) and
    ``imported`` (True for results imported by ``warmStart``, from a CSV or an earlier experiment: not run here).
    The columns are the same for an experiment without trials.
    """
    doc = study.user_attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec", {})
    objective = spec.get("objective", {})
    names = [o["metricName"] for o in objective.get("objectives", [])] or [
        objective.get("objectiveMetricName", "value")
    ]
    param_names = [str(p.get("name")) for p in spec.get("parameters", []) if isinstance(p, dict)]
    metric_names = names + [m for m in objective.get("additionalMetricNames", []) or [] if m not in names]
    rows = []
    for t in study.get_trials(deepcopy=False):
        started = t.user_attrs.get(st.T_STARTED) or (t.datetime_start.timestamp() if t.datetime_start else None)
        ended = t.user_attrs.get(st.T_FINISHED) or (t.datetime_complete.timestamp() if t.datetime_complete else None)
        row: dict[str, Any] = {"number": t.number, "state": trial_state(t)}
        for key, value in t.params.items():
            row[f"params.{key}"] = value
        metrics = dict(t.user_attrs.get(st.T_METRICS) or {})
        for i, name in enumerate(names):
            if t.values is not None and i < len(t.values):
                metrics.setdefault(name, t.values[i])
        for key, value in metrics.items():
            row[f"metrics.{key}"] = value
        row["started"] = pd.to_datetime(started, unit="s") if started else pd.NaT
        row["finished"] = pd.to_datetime(ended, unit="s") if ended else pd.NaT
        row["duration_s"] = (ended - started) if started and ended else float("nan")
        row["intermediate_steps"] = len(t.intermediate_values)
        row["run_id"] = t.user_attrs.get(st.T_RUN_ID, "")
        row["message"] = t.user_attrs.get(st.T_MESSAGE, "")
        row["imported"] = ROW_KEY_ATTR in t.user_attrs
        if row["imported"]:  # known from a CSV file: it did not run here
            row["started"] = row["finished"] = pd.NaT
            row["duration_s"] = float("nan")
        rows.append(row)
    seen = {key for row in rows for key in row}
    params = [f"params.{p}" for p in param_names]
    params += sorted(k for k in seen if k.startswith("params.") and k not in params)
    metrics_cols = [f"metrics.{m}" for m in metric_names]
    metrics_cols += sorted(k for k in seen if k.startswith("metrics.") and k not in metrics_cols)
    columns = ["number", "state", *params, *metrics_cols, *TAIL_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    if not rows:
        frame = frame.astype({"number": "int64", "state": "object", "duration_s": "float64"})
    return frame.sort_values("number", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ lineage (ML Metadata)

#: Events followed by default: enough for the whole chain of any pipeline (each step is 2 hops).
LINEAGE_HOPS = 20
#: Default hops around a trial: its own steps' inputs and outputs, and the steps of other runs next to them.
TRIAL_HOPS = 2
_TRIAL_REF = re.compile(r"^(?P<experiment>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::|/trial-)(?P<number>\d+)$")


@dataclass
class Lineage:
    """The lineage of an artifact (its upstream chain and downstream uses) or of a trial (its whole graph).

    ``nodes`` and ``edges`` are the graph (columns of ``workbench.readmodel._lineage.frames``):
    executions (``e<id>``, with the step, trial, run, state and ``params``: the input parameter
    values it ran with) and artifacts (``a<id>``, with type and uri); an edge is an INPUT
    (artifact -> execution) or an OUTPUT (execution -> artifact) event named after the input or
    output. ``method`` says how it was found: ``get_lineage_subgraph`` (ML Metadata's own query)
    or ``events`` (the event traversal of older ml-metadata versions).

    Example:
        >>> lin = lineage(Workspace.at("."), "/path/to/artifacts/demo/run/train/model", "upstream")  # doctest: +SKIP
        >>> [(e["step"], e["params"], [i["uri"] for i in e["inputs"]]) for e in lin.executions()]  # doctest: +SKIP
        [('load', {'dataset': 'iris'}, []), ('train', {'alpha': 0.001}, ['/.../load/data'])]
    """

    target: dict[str, Any]
    direction: str
    hops: int
    method: str
    nodes: pd.DataFrame
    edges: pd.DataFrame

    def _inputs_outputs(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
        arts = self.nodes[self.nodes["kind"] == "artifact"].set_index("id")
        ins: dict[str, list[dict[str, Any]]] = {}
        outs: dict[str, list[dict[str, Any]]] = {}
        for e in self.edges.itertuples(index=False):
            art = e.source if e.event == "INPUT" else e.target
            ex = e.target if e.event == "INPUT" else e.source
            if art not in arts.index:
                continue
            a = arts.loc[art]
            item = {"name": e.name, "artifact_id": int(a["mlmd_id"]), "type": a["type"], "uri": a["uri"]}
            (ins if e.event == "INPUT" else outs).setdefault(ex, []).append(item)
        return ins, outs

    def executions(self) -> list[dict[str, Any]]:
        """Every execution, producers before consumers: step, trial, run, state, ``params``, ``inputs``, ``outputs``.

        ``inputs`` and ``outputs`` list the artifacts it read and wrote that are in this graph
        (``name``, ``artifact_id``, ``type``, ``uri``).
        """
        ins, outs = self._inputs_outputs()
        execs = self.nodes[self.nodes["kind"] == "execution"]
        order = _topological([str(i) for i in self.nodes["id"]], self.edges)
        rank = {n: i for i, n in enumerate(order)}
        rows = []
        for n in sorted(execs.itertuples(index=False), key=lambda r: (rank.get(r.id, 0), r.mlmd_id)):
            rows.append(
                {
                    "execution_id": int(n.mlmd_id),
                    "step": n.step,
                    "component": n.type,
                    "state": n.state,
                    "experiment": n.experiment,
                    "trial": None if n.trial is None or n.trial != n.trial else int(n.trial),
                    "run_id": n.run_id,
                    "params": dict(n.params or {}),
                    "inputs": sorted(ins.get(n.id, []), key=lambda x: x["name"]),
                    "outputs": sorted(outs.get(n.id, []), key=lambda x: x["name"]),
                }
            )
        return rows

    def artifacts(self) -> list[dict[str, Any]]:
        """Every artifact: id, name, type, uri, state, the step and run that wrote it, and its trial."""
        arts = self.nodes[self.nodes["kind"] == "artifact"].sort_values("mlmd_id")
        return [
            {
                "artifact_id": int(a.mlmd_id),
                "name": a.label,
                "type": a.type,
                "uri": a.uri,
                "state": a.state,
                "step": a.step,
                "run_id": a.run_id,
                "experiment": a.experiment,
                "trial": None if a.trial is None or a.trial != a.trial else int(a.trial),
            }
            for a in arts.itertuples(index=False)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able values (what ``workbench lineage --json`` prints)."""
        return {
            "target": self.target,
            "direction": self.direction,
            "hops": self.hops,
            "method": self.method,
            "executions": self.executions(),
            "artifacts": self.artifacts(),
            "events": [
                {"source": e.source, "target": e.target, "event": e.event, "name": e.name}
                for e in self.edges.itertuples(index=False)
            ],
        }


def _topological(ids: list[str], edges: pd.DataFrame) -> list[str]:
    """Node ids with every edge's source before its target (ties and cycles in the given order)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    indeg = dict.fromkeys(ids, 0)
    for s, t in zip(edges["source"], edges["target"], strict=True):
        if s in succ and t in indeg:
            succ[s].append(t)
            indeg[t] += 1
    ready = [i for i in ids if indeg[i] == 0]
    out: list[str] = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for t in succ[n]:
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    return out + [i for i in ids if i not in set(out)]


def _mlmd_store(workspace: Workspace) -> Any:
    """The lineage store, read-only; a clear error when the workspace has none yet."""
    from workbench.readmodel._runs import Stores

    stores = Stores(workspace)
    store = stores.mlmd()
    if store is None:
        raise WorkbenchError(f"no lineage store in {workspace.home} yet ({workspace.mlmd_url}): run something first")
    return stores


def lineage(
    workspace: Workspace,
    target: str | int,
    direction: str = "both",
    hops: int | None = None,
    method: str = "auto",
) -> Lineage:
    """The lineage of an artifact or a trial, from ML Metadata.

    ``target`` is an artifact (its ML Metadata id: ``12`` or ``#12``; or its URI / path), a trial
    (``EXPERIMENT:NUMBER`` or ``EXPERIMENT/trial-NUMBER``) or a run id. ``direction``:
    ``upstream`` (which executions made it, with which parameters, from which inputs, back to the
    first step), ``downstream`` (which executions used it and what they made) or ``both``.
    ``hops`` counts events (a step is two: input -> execution -> output); by default
    :data:`LINEAGE_HOPS` for an artifact and :data:`TRIAL_HOPS` around a trial's own steps.
    ``method``: ``auto`` (ML Metadata's ``get_lineage_subgraph`` where the installed version has
    it, else the event traversal), ``get_lineage_subgraph`` or ``events``.

    Raises ``WorkbenchError`` naming the target when it is not in the store.
    """
    from workbench.readmodel import _lineage

    if direction not in _lineage.DIRECTIONS:
        raise WorkbenchError(f"lineage direction must be one of {', '.join(_lineage.DIRECTIONS)}, got {direction!r}")
    if hops is not None and (not isinstance(hops, int) or hops < 0):
        raise WorkbenchError(f"lineage hops must be a whole number >= 0, got {hops!r}")
    stores = _mlmd_store(workspace)
    store = stores.mlmd()
    with stores.locked():
        found = _resolve_target(store, workspace, target)
        if found["kind"] == "artifact":
            hops = LINEAGE_HOPS if hops is None else hops
            sub = _lineage.traverse(
                store, artifact_ids=set(found.pop("ids")), direction=direction, hops=hops, method=method
            )
        else:
            hops = TRIAL_HOPS if hops is None else hops
            sub = _lineage.traverse(
                store, execution_ids=set(found.pop("ids")), direction=direction, hops=hops, method=method
            )
        graph = _lineage.frames(store, sub)
    return Lineage(
        target=found,
        direction=direction,
        hops=hops,
        method=sub.method,
        nodes=graph["nodes"],
        edges=graph["edges"],
    )


def _resolve_target(store: Any, workspace: Workspace, target: str | int) -> dict[str, Any]:
    """What a lineage target names: ``{"kind": "artifact", "ids": [...], ...}`` or a trial / run with its executions."""
    from ml_metadata import errors as mlmd_errors

    from workbench.tracking._mlmd import TRIAL_TYPE

    where = f"in the lineage store of {workspace.home}"
    text = str(target).strip()
    if isinstance(target, int) or re.fullmatch(r"#?\d+", text):
        aid = int(text.lstrip("#"))
        arts = store.get_artifacts_by_id([aid])
        if not arts:
            raise WorkbenchError(f"no artifact with id {aid} {where}")
        return _artifact_target(store, arts)
    if not text:
        raise WorkbenchError("lineage needs an artifact (id or uri), a trial (EXPERIMENT:NUMBER) or a run id")
    trial = _TRIAL_REF.match(text)
    if trial:
        name = f"{trial['experiment']}/trial-{int(trial['number'])}"
        ctx = store.get_context_by_type_and_name(TRIAL_TYPE, name)
        if ctx is None:
            raise WorkbenchError(f"no trial {trial['number']} of experiment {trial['experiment']!r} {where}")
        return _run_target(store, ctx, "trial")
    for uri in _candidate_uris(text, workspace):
        arts = store.get_artifacts_by_uri(uri)
        if arts:
            return _artifact_target(store, arts)
    try:
        contexts = store.get_contexts_by_external_ids([text])
    except mlmd_errors.NotFoundError:
        contexts = []
    if contexts:
        return _run_target(store, contexts[0], "run")
    raise WorkbenchError(
        f"{text!r} is not an artifact id, an artifact uri, a trial (EXPERIMENT:NUMBER) or a run id {where}"
    )


def _candidate_uris(text: str, workspace: Workspace) -> list[str]:
    """A uri as given, as an absolute path, and relative to the artifact store (files are recorded by absolute path)."""
    out = [text]
    if "://" not in text:
        for path in (Path(text).expanduser(), workspace.artifacts / text):
            try:
                resolved = str(path.resolve())
            except OSError:
                continue
            if resolved not in out:
                out.append(resolved)
    return out


def _artifact_target(store: Any, arts: list[Any]) -> dict[str, Any]:
    from workbench.tracking._mlmd import _custom

    types = {t.id: t.name for t in store.get_artifact_types_by_id(sorted({a.type_id for a in arts}))}
    a = arts[0]
    custom = _custom(a)
    return {
        "kind": "artifact",
        "ids": [x.id for x in arts],
        "artifact_id": a.id,
        "uri": a.uri,
        "type": types.get(a.type_id, ""),
        "name": custom.get("display_name", a.name),
        "run_id": custom.get("run_id", ""),
        "step": custom.get("step", ""),
    }


def _run_target(store: Any, ctx: Any, kind: str) -> dict[str, Any]:
    from workbench.tracking._mlmd import _props

    props = _props(ctx)
    executions = store.get_executions_by_context(ctx.id)
    return {
        "kind": kind,
        "ids": [e.id for e in executions],
        "run_id": ctx.external_id or props.get("run_id", ""),
        "experiment": props.get("experiment", ""),
        "trial": props.get("trial_number"),
        "context": ctx.name,
    }
