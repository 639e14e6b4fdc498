"""The dashboard's read model: experiments and their trials as DataFrames, built once per store change.

:class:`ReadModel` is one per workspace and process. It keeps a :class:`JournalReader` (the
embedded store; only appended bytes are read on a refresh) or reads another Optuna storage
through Optuna's API, and builds:

- :meth:`ReadModel.summaries` (plain dicts: what ``workbench ls`` shows) and
  :meth:`ReadModel.experiments` (the same as a DataFrame) — one row per experiment;
- :meth:`ReadModel.experiment` — an :class:`ExperimentData`: the trial table (the same
  columns as :func:`workbench.query.trials_dataframe`), the objective's intermediate values
  as a long table, the parameters' distributions, the spec document and the summary row.

NumPy and pandas are imported where frames are built, not with this module. Every function
here is read-only. :func:`store_stamp` says when any store last changed; the
dashboard keys its caches on it, so nothing is read again while nothing changed.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.readmodel._journal import COMPLETE, FAIL, PRUNED, WAITING, JournalReader, StudyRecord, TrialRecord
from workbench.readmodel._journal import records_from_storage as _records_from_storage
from workbench.search import _storage as st
from workbench.search._storage import ROW_KEY_ATTR
from workbench.workspace import Workspace

if TYPE_CHECKING:  # numpy and pandas load where frames are built: the summaries (``workbench ls``) need neither
    import numpy as np
    import pandas as pd
    from optuna.distributions import BaseDistribution

#: Seconds a stamp stays the same for stores that are not local files (servers).
REMOTE_STAMP_SECONDS = 5.0
#: Trial states, in the order the dashboard lists them.
TRIAL_STATES = ["Succeeded", "Pruned", "Failed", "MetricsUnavailable", "Killed", "Running", "Pending"]
EXPERIMENT_STATES = ["Created", "Running", "Succeeded", "Failed", "Stopped"]
FINISHED_STATES = ("Succeeded", "Pruned", "Failed", "MetricsUnavailable")
#: The trial user attributes :func:`summary_row` reads.
SUMMARY_TRIAL_ATTRS = (st.T_STATE, ROW_KEY_ATTR)
#: Columns of the trial table after the parameters and metrics, in this order.
TAIL_COLUMNS = ["started", "finished", "duration_s", "intermediate_steps", "run_id", "message", "imported"]


def _file_of(url: str) -> Path | None:
    """The local file behind a store URL (``journal:///``, ``sqlite:///``), else ``None``."""
    for prefix in ("journal://", "sqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :].split("?", 1)[0]
            if prefix == "sqlite:///" and path.startswith("/"):
                path = "/" + path.lstrip("/")
            elif prefix == "sqlite:///":
                path = os.path.abspath(path)
            return Path(path) if path and path != ":memory:" else None
    return None


def store_stamp(workspace: Workspace, which: tuple[str, ...] = ("optuna", "mlflow", "mlmd")) -> tuple[Any, ...]:
    """A value that changes whenever a store of the workspace changes (size and mtime of its files).

    ``which`` picks the stores (``optuna``, ``mlflow``, ``mlmd``). Stores on a server have no
    file to look at: their part changes every :data:`REMOTE_STAMP_SECONDS` seconds.
    """
    urls = {"optuna": workspace.optuna_url, "mlflow": workspace.mlflow_uri, "mlmd": workspace.mlmd_url}
    parts: list[Any] = []
    remote = False
    for key in which:
        path = _file_of(urls[key])
        if path is None:
            remote = True
            continue
        for p in (path, Path(str(path) + "-wal")):
            try:
                s = p.stat()
                parts.append((s.st_size, s.st_mtime_ns))
            except OSError:
                parts.append(None)
    if remote:
        parts.append(int(time.time() // REMOTE_STAMP_SECONDS))
    return tuple(parts)


def trial_state_of(state: int, user_attrs: dict[str, Any]) -> str:
    """The Workbench state of a trial (same rules as ``workbench.search.controller.trial_state``)."""
    if state == COMPLETE:
        return "Succeeded"
    if state == PRUNED:
        return "Pruned"
    if state == FAIL:
        stored = user_attrs.get(st.T_STATE)
        return stored if stored in ("Failed", "MetricsUnavailable", "Killed") else "Failed"
    if state == WAITING:
        return "Pending"
    return "Running"


def objective_names(doc: dict[str, Any]) -> list[str]:
    objective = (doc.get("spec") or {}).get("objective") or {}
    return [o["metricName"] for o in objective.get("objectives") or []] or [
        objective.get("objectiveMetricName") or "value"
    ]


def pareto_mask(values: np.ndarray | list[list[float]], directions: list[str]) -> np.ndarray:
    """Which rows of ``values`` (n x k) are on the Pareto front (nobody is at least as good everywhere and better
    somewhere). Rows with NaN are never on it.

    Example:
        >>> import numpy as np
        >>> pareto_mask(np.array([[1, 1], [2, 0], [2, 2]]), ["minimize", "minimize"]).tolist()
        [True, True, False]
    """
    import numpy as np

    n = len(values)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    signed = np.array(values, dtype=float) * np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    ok = ~np.isnan(signed).any(axis=1)
    idx = np.flatnonzero(ok)
    pts = signed[idx]
    # Sort lexicographically; a point can only be dominated by points before it.
    order = np.lexsort(pts.T[::-1])
    pts, idx = pts[order], idx[order]
    front: list[int] = []
    front_pts = np.empty((0, pts.shape[1]))
    for i in range(len(pts)):
        p = pts[i]
        if len(front_pts):
            dominated = np.all(front_pts <= p, axis=1) & np.any(front_pts < p, axis=1)
            if dominated.any():
                continue
        front.append(i)
        front_pts = np.vstack([front_pts, p])
    out[idx[front]] = True
    return out


@dataclass
class ExperimentData:
    """Everything the Experiment page shows, built once per store change."""

    name: str
    summary: dict[str, Any]
    #: The trial table: the columns of :func:`workbench.query.trials_dataframe`.
    trials: pd.DataFrame
    #: Intermediate values of the (first) objective: ``number``, ``step``, ``value``, ``state``.
    intermediate: pd.DataFrame
    directions: list[str]
    objectives: list[str]
    #: Parameter names, in the spec's order.
    params: list[str]
    #: Every metric column name (without ``metrics.``), objectives first.
    metrics: list[str]
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    stamp: Any = None

    @property
    def multi(self) -> bool:
        return len(self.directions) > 1

    def objective_column(self, i: int = 0) -> str:
        return f"metrics.{self.objectives[i]}"

    def log_scale(self, param: str) -> bool:
        dist = self.distributions.get(param)
        return bool(getattr(dist, "log", False))


def sort_trials(trials: pd.DataFrame, by: str, ascending: bool = True) -> pd.DataFrame:
    """The trial table sorted by a column. By a metric, succeeded trials come first: the metric of a pruned,
    failed or running trial is the last value it reported (an intermediate one, not a final result), so it
    never ranks among the results; those trials follow, sorted the same way. Missing values go last.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"number": [0, 1, 2], "state": ["Succeeded", "Pruned", "Succeeded"],
        ...                   "metrics.loss": [0.5, 0.1, 0.3]})
        >>> sort_trials(t, "metrics.loss")["number"].tolist()
        [2, 0, 1]
    """
    import pandas as pd

    if not by.startswith("metrics.") or "state" not in trials.columns:
        return trials.sort_values(by, ascending=ascending, na_position="last", kind="stable")
    unranked = (trials["state"] != "Succeeded").rename("_unranked")
    order = pd.concat([unranked, trials[by].rename("_by")], axis=1).sort_values(
        ["_unranked", "_by"], ascending=[True, ascending], na_position="last", kind="stable"
    )
    return trials.loc[order.index]


def _spec_params(doc: dict[str, Any]) -> list[str]:
    return [str(p.get("name")) for p in (doc.get("spec") or {}).get("parameters") or [] if isinstance(p, dict)]


def _metric_names(doc: dict[str, Any]) -> list[str]:
    names = objective_names(doc)
    objective = (doc.get("spec") or {}).get("objective") or {}
    return names + [m for m in objective.get("additionalMetricNames") or [] if m not in names]


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building columns of 50,000 trials allocates millions of objects, and
    the collections they would trigger (each scanning every live object) cost more than the build itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def trials_frame(study: StudyRecord) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trial table (same columns and values as ``query.trials_dataframe``) and the intermediate values.

    Built column by column (one pass over the trials per column, typed arrays where the values
    allow), not row by row.
    """
    with _no_gc():
        return _trials_frame(study)


def trial_columns(study: StudyRecord) -> dict[str, list[Any]]:
    """The trial table as plain lists, one per column, in the order of :func:`trials_frame`'s columns.

    A missing value is ``None``; ``started`` and ``finished`` are epoch seconds. Needs neither
    NumPy nor pandas: ``workbench show`` draws its table from these.
    """
    with _no_gc():
        return _trial_columns(study)


def _trial_columns(study: StudyRecord) -> dict[str, list[Any]]:
    doc = study.user_attrs.get(st.ATTR_SPEC) or {}
    names = objective_names(doc)
    trials = study.trials
    n = len(trials)
    attrs = [t.user_attrs for t in trials]
    states = [trial_state_of(t.state, a) for t, a in zip(trials, attrs, strict=True)]
    imported = [ROW_KEY_ATTR in a for a in attrs]
    params = [t.params for t in trials]
    param_keys = set(study.distribution_json)
    for p in params:  # parameters without a distribution (none in a journal; cheap to make sure)
        if not p.keys() <= param_keys:
            param_keys |= p.keys()
    metric_dicts = [a.get(st.T_METRICS) or {} for a in attrs]
    metric_keys: set[str] = set()
    for m in metric_dicts:
        if not m.keys() <= metric_keys:
            metric_keys |= m.keys()
    values = [t.values for t in trials]
    metric_keys |= {name for j, name in enumerate(names) if any(v is not None and j < len(v) for v in values)}

    def metric(name: str) -> list[Any]:
        j = names.index(name) if name in names else -1
        if j < 0:
            return [m.get(name) for m in metric_dicts]
        # A metric reported by the trial wins over the stored objective value (``dict.setdefault``).
        return [
            m[name] if name in m else (v[j] if v is not None and j < len(v) else None)
            for m, v in zip(metric_dicts, values, strict=True)
        ]

    def when(attr: str, fallback: str) -> list[float | None]:
        raw = [a.get(attr) or getattr(t, fallback) for a, t in zip(attrs, trials, strict=True)]
        return [float(v) if v and not known else None for v, known in zip(raw, imported, strict=True)]

    started, ended = when(st.T_STARTED, "datetime_start"), when(st.T_FINISHED, "datetime_complete")
    data: dict[str, list[Any]] = {"number": [t.number for t in trials], "state": states}
    order = [f"{p}" for p in _spec_params(doc)]
    order += sorted(k for k in param_keys if k not in order)
    for p in order:
        data[f"params.{p}"] = [d.get(p) for d in params] if p in param_keys else [None] * n
    metric_order = _metric_names(doc)
    metric_order += sorted(k for k in metric_keys if k not in metric_order)
    for m in metric_order:
        data[f"metrics.{m}"] = metric(m) if m in metric_keys else [None] * n
    data["started"] = started
    data["finished"] = ended
    data["duration_s"] = [
        e - b if b is not None and e is not None else None for b, e in zip(started, ended, strict=True)
    ]
    data["intermediate_steps"] = [len(t.intermediate) for t in trials]
    data["run_id"] = [str(a.get(st.T_RUN_ID, "")) for a in attrs]
    data["message"] = [str(a.get(st.T_MESSAGE, "")) for a in attrs]
    data["imported"] = imported
    return data


def _trials_frame(study: StudyRecord) -> tuple[pd.DataFrame, pd.DataFrame]:
    import numpy as np
    import pandas as pd

    columns = _trial_columns(study)
    n = len(columns["number"])
    numbers = np.array(columns["number"], dtype=np.int64)
    sizes = np.array(columns["intermediate_steps"], dtype=np.int64)
    states = columns["state"]

    def seconds(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    started, ended = seconds(columns["started"]), seconds(columns["finished"])
    data: dict[str, Any] = {"number": numbers, "state": states}
    for key, values in columns.items():
        if key.startswith(("params.", "metrics.")):
            data[key] = _column(values, n)
    data["started"] = pd.to_datetime(started, unit="s")
    data["finished"] = pd.to_datetime(ended, unit="s")
    data["duration_s"] = ended - started
    data["intermediate_steps"] = sizes
    data["run_id"] = columns["run_id"]
    data["message"] = columns["message"]
    data["imported"] = np.array(columns["imported"], dtype=bool)
    frame = pd.DataFrame(data)
    if n and not (np.diff(numbers) > 0).all():
        frame = frame.sort_values("number", kind="stable").reset_index(drop=True)

    trials = study.trials
    steps: list[int] = []
    vals: list[float] = []
    for t in trials:
        inter = t.intermediate
        if inter:
            keys = sorted(inter)
            steps += keys
            vals += [inter[k] for k in keys]
    state_code = {s: i for i, s in enumerate(TRIAL_STATES)}
    codes = np.repeat(np.array([state_code.get(s, -1) for s in states], dtype=np.int8), sizes)
    inter_frame = pd.DataFrame(
        {
            "number": np.repeat(numbers, sizes),
            "step": np.array(steps, dtype=np.int64),
            "value": np.array([np.nan if v is None else v for v in vals], dtype=float),
        }
    )
    inter_frame["state"] = pd.Categorical.from_codes(codes, categories=TRIAL_STATES)
    return frame, inter_frame


_NONE = type(None)


def _column(values: list[Any] | None, n: int) -> Any:
    """A column from a list with ``None`` for missing values: floats become NaN; other values stay objects.

    Whole numbers give an ``int64`` column when none is missing; numbers (not booleans) a float column.
    """
    import numpy as np

    if values is None:
        return np.full(n, np.nan)
    kinds = set(map(type, values))
    missing = _NONE in kinds
    kinds.discard(_NONE)
    if kinds <= {int, float}:  # the common case, decided without looking at each value again
        if not kinds:
            return np.full(n, np.nan)
        if kinds == {int} and not missing:
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values] if missing else values, dtype=float)
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if all(isinstance(v, int) for v in present) and len(present) == n:
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.array(values, dtype=object)


def _complete(study: StudyRecord) -> list[TrialRecord]:
    return [t for t in study.trials if t.state == COMPLETE and t.values is not None]


def best_trial_of(study: StudyRecord) -> TrialRecord | None:
    """The best Succeeded trial of a single-objective study (the first of equals, as Optuna's ``best_trial``)."""
    sign = -1.0 if study.directions[0] == "maximize" else 1.0
    best = None
    for t in _complete(study):
        v = t.values[0] if t.values else None
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if best is None or sign * v < sign * best.values[0]:
            best = t
    return best


def pareto_front(study: StudyRecord) -> list[TrialRecord]:
    """The Succeeded trials on the Pareto front of a multi-objective study, in trial order (``study.best_trials``).

    Two objectives (the common case) are swept in pure Python; more go through :func:`pareto_mask` (NumPy).
    """
    complete = _complete(study)
    if not complete:
        return []
    on_front = _front([t.values for t in complete], list(study.directions))
    return sorted((t for t, on in zip(complete, on_front, strict=True) if on), key=lambda t: t.number)


def pareto_ranks(values: list[list[float] | None], directions: list[str], enough: int | None = None) -> list[float]:
    """Each row's non-domination rank: 0 on the Pareto front, 1 on the front of what is left, and so on.

    ``inf`` for a row that is ``None`` or holds NaN (a trial without results), and, with ``enough``, for the
    rows left once the first fronts hold that many (``workbench show`` draws only the best few).

    Example:
        >>> pareto_ranks([[1, 1], [2, 0], [2, 2], None], ["minimize", "minimize"])
        [0, 0, 1, inf]
    """
    ranks = [math.inf] * len(values)
    left = [i for i, v in enumerate(values) if v is not None and not any(x != x for x in v)]
    rank = ranked = 0
    while left and (enough is None or ranked < enough):
        on_front = _front([values[i] for i in left], directions)
        for i, on in zip(left, on_front, strict=True):
            if on:
                ranks[i] = rank
        ranked += sum(on_front)
        left = [i for i, on in zip(left, on_front, strict=True) if not on]
        rank += 1
    return ranks


def _front(values: list[Any], directions: list[str]) -> list[bool]:
    """:func:`pareto_mask` as a list: in pure Python for two objectives, with NumPy for more."""
    if len(directions) == 2:
        return _front_of_two(values, directions)
    return pareto_mask(values, directions).tolist()


def _front_of_two(values: list[list[float]], directions: list[str]) -> list[bool]:
    """:func:`pareto_mask` of two objectives in O(n log n), without NumPy.

    Points sorted by the first objective, then the second: a point is on the front when no point with a
    smaller first value has a second value as good as its own, and none with the same first value a better one.
    """
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    points = []
    for i, v in enumerate(values):
        a, b = float(v[0]) * sign[0], float(v[1]) * sign[1]
        if a == a and b == b:  # rows with NaN are never on the front
            points.append((a, b, i))
    points.sort()
    out = [False] * len(values)
    best_before = math.inf  # the best second value among points with a smaller first value
    k = 0
    while k < len(points):
        first, group_best = points[k][0], points[k][1]  # sorted: the group's best second value comes first
        while k < len(points) and points[k][0] == first:
            _, b, i = points[k]
            out[i] = b == group_best and b < best_before
            k += 1
        best_before = min(best_before, group_best)
    return out


def summary_row(study: StudyRecord, workspace: Workspace, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """The experiment's line of ``workbench ls`` (the fields of ``query.ExperimentRow``), as a dict."""
    attrs = study.user_attrs
    doc = attrs.get(st.ATTR_SPEC) or {}
    spec = doc.get("spec") or {}
    counts: dict[str, int] = {}
    imported = 0
    best_value: float | None = None
    best_trial: int | None = None
    for t in study.trials:
        if ROW_KEY_ATTR in t.user_attrs:
            imported += 1
            continue
        s = trial_state_of(t.state, t.user_attrs)
        counts[s] = counts.get(s, 0) + 1
    directions = list(study.directions)
    front = 0
    if len(directions) == 1:
        best = best_trial_of(study)
        if best is not None:
            best_value, best_trial = float(best.values[0]), best.number
    else:
        front = len(pareto_front(study))
    state = str(attrs.get(st.ATTR_STATE, "Created"))
    if state == "Running" and not st.ExperimentLock(workspace.locks, study.name).is_held_elsewhere():
        if workspace.optuna_url.startswith("journal://"):
            state = "Stopped"  # no live controller holds it: it crashed or was killed
    started = attrs.get(st.ATTR_STARTED)
    ended = attrs.get(st.ATTR_FINISHED) if state != "Running" else None
    return {
        "name": study.name,
        "namespace": str(attrs.get(st.ATTR_NAMESPACE, "default")),
        "state": state,
        "algorithm": str((spec.get("algorithm") or {}).get("algorithmName", "")),
        "finished": sum(counts.get(s, 0) for s in FINISHED_STATES),
        "max_trials": spec.get("maxTrialCount"),
        "failed": counts.get("Failed", 0) + counts.get("MetricsUnavailable", 0),
        "pruned": counts.get("Pruned", 0),
        "running": counts.get("Running", 0),
        "killed": counts.get("Killed", 0),
        "trials": len(study.trials),
        "best_value": best_value,
        "best_trial": best_trial,
        "directions": directions,
        "objective": objective_names(doc),
        "goal": (spec.get("objective") or {}).get("goal"),
        "started": started,
        "ended": ended,
        "duration": ((ended or time.time()) - started) if started else None,
        "message": str(attrs.get(st.ATTR_MESSAGE, "")),
        "front": front,
        "imported": imported,
        "parallel": spec.get("parallelTrialCount"),
        "archived": bool(attrs.get(st.ATTR_ARCHIVED)),
    }


class ReadModel:
    """The read model of one workspace (one per process; thread-safe).

    Example:
        >>> import tempfile
        >>> ReadModel(Workspace.at(tempfile.mkdtemp())).experiments().empty
        True
    """

    def __init__(self, workspace: Workspace, details: bool = True) -> None:
        """``details=False``: for :meth:`summaries` only (``workbench ls``): the embedded journal's trials are read
        without their parameters, intermediate values and the user attributes a summary does not use.
        """
        self.workspace = workspace
        self.details = details
        self._lock = threading.Lock()
        url = workspace.optuna_url
        summary = None if details else SUMMARY_TRIAL_ATTRS
        self._reader = JournalReader(url[len("journal://") :], summary) if url.startswith("journal://") else None
        self._storage: Any = None

    def stamp(self) -> tuple[Any, ...]:
        return store_stamp(self.workspace)

    def studies(self) -> dict[str, StudyRecord]:
        """Every study, read from the store now (only what changed, for the embedded journal)."""
        if self._reader is not None:
            return self._reader.refresh()
        with self._lock:
            if self._storage is None:
                self._storage = st.open_storage(self.workspace.optuna_url)
            return _records_from_storage(self._storage)

    def study(self, name: str) -> StudyRecord:
        found = self.studies().get(name)
        if found is None:
            known = ", ".join(sorted(self.studies())) or "none"
            raise WorkbenchError(f"no experiment named {name!r} in {self.workspace.home} (experiments: {known})")
        return found

    def summaries(self) -> list[dict[str, Any]]:
        """One :func:`summary_row` per experiment, newest first (never started last), as plain dicts.

        What ``workbench ls`` prints: it needs no pandas.
        """
        rows = [summary_row(s, self.workspace) for s in self.studies().values()]
        rows.sort(key=lambda r: (r["started"] is None, -(r["started"] or 0.0)))
        return rows

    def experiments(self) -> pd.DataFrame:
        """One row per experiment, newest first: the fields of ``workbench ls`` and ``trials``, ``killed``, ``goal``,
        ``archived`` (archived experiments are listed too: the dashboard hides them unless asked)."""
        import pandas as pd

        return pd.DataFrame(self.summaries(), columns=_SUMMARY_COLUMNS)

    def experiment(self, name: str) -> ExperimentData:
        from workbench.tracking._common import mask_document

        if not self.details:
            raise ValueError("a ReadModel made with details=False reads summaries only; experiment() needs details")
        study = self.study(name)
        trials, inter = trials_frame(study)
        doc = study.user_attrs.get(st.ATTR_SPEC) or {}
        params = [c[len("params.") :] for c in trials.columns if c.startswith("params.")]
        metrics = [c[len("metrics.") :] for c in trials.columns if c.startswith("metrics.")]
        return ExperimentData(
            name=name,
            summary=summary_row(study, self.workspace),
            trials=trials,
            intermediate=inter,
            directions=list(study.directions),
            objectives=objective_names(doc),
            params=params,
            metrics=metrics,
            distributions=dict(study.distributions),
            spec=mask_document(doc),  # shown as it is: never with secret values (the stored one keeps them)
            stamp=self.stamp(),
        )


_SUMMARY_COLUMNS = [
    "name",
    "namespace",
    "state",
    "algorithm",
    "finished",
    "max_trials",
    "failed",
    "pruned",
    "running",
    "killed",
    "trials",
    "best_value",
    "best_trial",
    "directions",
    "objective",
    "goal",
    "started",
    "ended",
    "duration",
    "message",
    "front",
    "imported",
    "parallel",
    "archived",
]
