"""Warm start: parameter sets to try first, and finished trials imported from a CSV file.

``warmStart.enqueue`` is a list of parameter sets (``{lr: 0.01, optimizer: adam}``); each is
checked against the search space and enqueued with ``study.enqueue_trial(..., skip_if_exists=True)``,
so the controller's next asks return them. A set may leave parameters out: the sampler picks those.

``warmStart.csv`` names a CSV file (relative to the experiment file's directory) with a header row.
Its columns are every search parameter, every objective metric, optionally any additional metric and
an optional ``state`` column (``Succeeded`` -- the default when empty --, ``Failed``,
``MetricsUnavailable``, ``Pruned`` or Katib's ``EarlyStopped``; rows ``Killed``, ``Running`` or
``Pending`` did not finish and are skipped). Each row becomes a finished trial (``study.add_trial``)
with user attrs ``workbench.state``, ``workbench.warm_start`` = ``True``, ``workbench.metrics`` (every
metric value given) and ``workbench.warm_start_key`` (a digest of the row). Objective values are
required for ``Succeeded`` rows; failed and pruned rows are added without values. The CSV that
``workbench trials NAME --csv`` writes is valid as it is: ``params.<name>`` and ``metrics.<name>``
columns are read as ``<name>`` (other ``metrics.*`` columns are ignored), and its columns
:data:`EXPORT_COLUMNS` (``number``, ``started``, ...) are ignored. Any other column is an error.

``warmStart.experiment`` (with ``warmStart.namespace``, default: the experiment's own) takes the
finished trials of an earlier experiment of the same workspace as known results, the same way: each
trial must have every search parameter of this experiment, and a succeeded one every objective
metric; a trial whose values lie outside this experiment's search space is left out.

Applying a warm start is idempotent: the study records the digest of its inputs in the user attr
``workbench.warm_started`` and applying the same inputs again adds nothing. When the inputs change
(rows appended to the CSV), only rows not imported before are added. Everything is validated before
anything is written to the study.

Example:
    >>> import optuna
    >>> from pathlib import Path
    >>> from workbench.spec import ExperimentSpec
    >>> spec = ExperimentSpec.model_validate({
    ...     "name": "demo",
    ...     "objective": {"type": "minimize", "objectiveMetricName": "loss"},
    ...     "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
    ...     "warmStart": {"enqueue": [{"x": 0.5}]},
    ...     "trialTemplate": {},
    ... })
    >>> study = optuna.create_study()
    >>> apply_warm_start(study, spec, Path(".")), apply_warm_start(study, spec, Path("."))
    (1, 0)
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from workbench.errors import SpecError
from workbench.search._space import coerce_value, distributions, space_signature
from workbench.search._storage import ROW_KEY_ATTR
from workbench.spec._experiment import ExperimentSpec

#: Study user attr holding the digest of the warm-start inputs last applied.
WARM_STARTED_ATTR = "workbench.warm_started"

_STATES = {
    "succeeded": ("Succeeded", TrialState.COMPLETE),
    "complete": ("Succeeded", TrialState.COMPLETE),
    "failed": ("Failed", TrialState.FAIL),
    "fail": ("Failed", TrialState.FAIL),
    "metricsunavailable": ("Failed", TrialState.FAIL),
    "pruned": ("Pruned", TrialState.PRUNED),
    "earlystopped": ("Pruned", TrialState.PRUNED),
}
#: An Optuna trial state -> the known result it gives (MetricsUnavailable is Failed, Killed is skipped).
_FINISHED = {
    TrialState.COMPLETE: _STATES["succeeded"],
    TrialState.PRUNED: _STATES["pruned"],
    TrialState.FAIL: _STATES["failed"],
}
#: States of trials that did not finish: known nothing about, skipped.
_UNFINISHED = ("killed", "running", "pending", "waiting")
#: Columns of ``workbench trials NAME --csv`` (``workbench.query.trials_dataframe``) that are no results.
EXPORT_COLUMNS = ("number", "started", "finished", "duration_s", "intermediate_steps", "run_id", "message", "imported")


@dataclass
class _Row:
    params: dict[str, Any]
    values: list[float] | None
    state: TrialState
    state_name: str
    metrics: dict[str, float]
    key: str = ""


@dataclass
class _Plan:
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    rows: list[_Row] = field(default_factory=list)
    csv_path: Path | None = None
    csv_digest: str = ""
    #: The earlier experiment's (namespace, name) and a digest of the rows taken from it.
    source: tuple[str, str] | None = None
    source_digest: str = ""

    def digest(self, spec: ExperimentSpec) -> str:
        doc = {
            "enqueue": self.enqueue,
            "csv": str(self.csv_path) if self.csv_path else None,
            "csv_sha256": self.csv_digest,
            "space": space_signature(spec.parameters),
            "objectives": spec.objective.metric_names,
        }
        if self.source is not None:  # (absent key: the digest of a spec without it is what it always was)
            doc["experiment"] = [*self.source, self.source_digest]
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _row(
    params: dict[str, Any], values: list[float] | None, state: tuple[str, TrialState], metrics: dict[str, float]
) -> _Row:
    """A known result; its key (a digest of everything in it) makes importing it again a no-op."""
    state_name, trial_state = state
    row = _Row(params, values, trial_state, state_name, metrics)
    row.key = hashlib.sha256(json.dumps([params, values, state_name, metrics], sort_keys=True).encode()).hexdigest()[
        :24
    ]
    return row


def _plan(spec: ExperimentSpec, base_dir: Path | None, storage: optuna.storages.BaseStorage | None = None) -> _Plan:
    plan = _Plan()
    warm = spec.warm_start
    if warm is None:
        return plan
    params = {p.name: (i, p) for i, p in enumerate(spec.parameters)}
    for i, entry in enumerate(warm.enqueue):
        where = f"spec.warmStart.enqueue[{i}]"
        if not isinstance(entry, dict) or not entry:
            raise SpecError("expected a mapping of parameter name to value", path=where)
        coerced: dict[str, Any] = {}
        for name, raw in entry.items():
            if name not in params:
                raise SpecError(
                    f"{name!r} is not a search parameter (parameters: {sorted(params)})", path=f"{where}.{name}"
                )
            index, param = params[name]
            try:
                coerced[name] = coerce_value(param, raw, index)
            except ValueError as err:
                raise SpecError(str(err), path=f"{where}.{name}") from None
        plan.enqueue.append(coerced)
    if warm.csv is not None and base_dir is not None:
        plan.csv_path = (Path(base_dir) / warm.csv).resolve()
        plan.csv_digest, plan.rows = _read_csv(spec, plan.csv_path)
    if warm.experiment is not None and storage is not None:  # (checking a spec alone: no store to read)
        plan.source = (warm.namespace or spec.namespace, warm.experiment)
        rows = _experiment_rows(spec, storage)
        plan.source_digest = hashlib.sha256("".join(r.key for r in rows).encode()).hexdigest()
        plan.rows += rows
    return plan


def source_study(spec: ExperimentSpec, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """The earlier experiment ``warmStart.experiment`` names (``SpecError`` if there is none)."""
    from workbench.search import _storage as st

    warm = spec.warm_start
    assert warm is not None and warm.experiment is not None
    namespace = warm.namespace or spec.namespace
    where = "spec.warmStart.experiment"
    if (namespace, warm.experiment) == (spec.namespace, spec.name):
        raise SpecError("an experiment cannot warm-start from itself (it resumes with its own trials anyway)",
                        path=where)  # fmt: skip
    if not st.study_exists(storage, warm.experiment):
        raise SpecError(f"no experiment {warm.experiment!r} in namespace {namespace!r} to warm-start from", path=where)
    study = optuna.load_study(study_name=warm.experiment, storage=storage)
    found = str(study.user_attrs.get(st.ATTR_NAMESPACE, "default"))
    if found != namespace:
        raise SpecError(
            f"no experiment {warm.experiment!r} in namespace {namespace!r} to warm-start from (there is one in "
            f"namespace {found!r}: set warmStart.namespace)",
            path=where,
        )
    return study


def _experiment_rows(spec: ExperimentSpec, storage: optuna.storages.BaseStorage) -> list[_Row]:
    """The finished trials of the earlier experiment as known results (those outside this space left out)."""
    from workbench.search import _storage as st

    source = source_study(spec, storage)
    where = "spec.warmStart.experiment"
    name = source.study_name
    source_objectives = _objective_names(source.user_attrs.get(st.ATTR_SPEC) or {})
    objectives = spec.objective.metric_names
    rows: list[_Row] = []
    for trial in source.get_trials(deepcopy=False):
        state = _FINISHED.get(trial.state)
        if state is None or trial.user_attrs.get(st.T_STATE) == "Killed":
            continue  # running, waiting, or killed (its parameters run again): nothing known
        missing = [p.name for p in spec.parameters if p.name not in trial.params]
        if missing:
            raise SpecError(f"experiment {name!r} has no parameter {missing[0]!r} (its parameters: "
                            f"{sorted(trial.params)})", path=where)  # fmt: skip
        try:
            params = {p.name: coerce_value(p, trial.params[p.name], i) for i, p in enumerate(spec.parameters)}
        except ValueError:
            continue  # outside this experiment's search space
        metrics = {k: float(v) for k, v in (trial.user_attrs.get(st.T_METRICS) or {}).items() if k in spec.metric_names}
        for metric, value in zip(source_objectives, trial.values or [], strict=False):
            if metric in spec.metric_names:
                metrics.setdefault(metric, float(value))
        values = None
        if trial.state == TrialState.COMPLETE:
            absent = [m for m in objectives if m not in metrics]
            if absent:
                raise SpecError(f"experiment {name!r} did not record the objective metric {absent[0]!r} (its "
                                f"objective: {source_objectives})", path=where)  # fmt: skip
            values = [metrics[m] for m in objectives]
        rows.append(_row(params, values, state, metrics))
    return rows


def _objective_names(doc: dict[str, Any]) -> list[str]:
    objective = (doc.get("spec") or {}).get("objective") or {}
    return [o["metricName"] for o in objective.get("objectives") or []] or [objective.get("objectiveMetricName", "")]


def _read_csv(spec: ExperimentSpec, path: Path) -> tuple[str, list[_Row]]:
    where = "spec.warmStart.csv"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"CSV file {str(path)!r} not found", path=where) from None
    except OSError as err:
        raise SpecError(f"cannot read CSV file {str(path)!r}: {err.strerror or err}", path=where) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})", path=where) from None
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames
    if not header:
        raise SpecError(f"{path}: the file is empty; expected a header row", path=where)
    param_names = [p.name for p in spec.parameters]
    objectives = spec.objective.metric_names
    metrics = list(spec.metric_names)
    header = [_column(h.strip(), metrics, col) for col, h in enumerate(header, start=1)]
    reader.fieldnames = header
    allowed = [*param_names, *metrics, "state"]
    for col, name in enumerate(header, start=1):
        if name.startswith(_IGNORED):  # a column of the export that holds no result
            continue
        if header.count(name) > 1:
            raise SpecError(f"{path}, line 1: column {name!r} appears more than once", path=where)
        if name not in allowed:
            raise SpecError(
                f"{path}, line 1, column {col} ({name!r}): not a parameter, objective metric or 'state' "
                f"(expected columns: {', '.join(allowed)}, or the columns of `workbench trials NAME --csv`)",
                path=where,
            )
    for name in [*param_names, *objectives]:
        if name not in header:
            kind = "parameter" if name in param_names else "objective metric"
            raise SpecError(f"{path}, line 1: missing column {name!r} ({kind})", path=where)
    by_name = {p.name: (i, p) for i, p in enumerate(spec.parameters)}
    rows: list[_Row] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            raise SpecError(f"{path}, line {line}: more fields than the header has columns", path=where)
        missing = [name for name, value in record.items() if value is None]
        if missing:
            raise SpecError(f"{path}, line {line}, column {missing[0]!r}: missing value", path=where)
        state_text = (record.get("state") or "").strip() or "Succeeded"
        if state_text.lower() in _UNFINISHED:
            continue
        state = _STATES.get(state_text.lower())
        if state is None:
            raise SpecError(
                f"{path}, line {line}, column 'state': expected Succeeded, Failed, MetricsUnavailable, Pruned or "
                f"EarlyStopped (Killed, Running and Pending rows are skipped), got {state_text!r}",
                path=where,
            )
        state_name, trial_state = state
        params: dict[str, Any] = {}
        for name in param_names:
            index, param = by_name[name]
            try:
                params[name] = coerce_value(param, record[name].strip(), index)
            except ValueError as err:
                raise SpecError(f"{path}, line {line}, column {name!r}: {err}", path=where) from None
        values: dict[str, float] = {}
        for name in metrics:
            raw = (record.get(name) or "").strip()
            if not raw:
                if name in objectives and trial_state == TrialState.COMPLETE:
                    raise SpecError(
                        f"{path}, line {line}, column {name!r}: a {state_name} trial needs a value", path=where
                    )
                continue
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise SpecError(
                    f"{path}, line {line}, column {name!r}: expected a finite number, got {raw!r}", path=where
                )
            values[name] = number
        objective_values = [values[m] for m in objectives] if trial_state == TrialState.COMPLETE else None
        rows.append(_row(params, objective_values, state, values))
    return hashlib.sha256(data).hexdigest(), rows


#: Prefix of the field names given to ignored columns (no column name starts with a NUL).
_IGNORED = "\x00"


def _column(name: str, metrics: list[str], col: int) -> str:
    """A CSV column's name as a result field; the export's columns that hold none are named ``_IGNORED<col>``."""
    if name in EXPORT_COLUMNS:
        return f"{_IGNORED}{col}"
    if name.startswith("params."):
        return name[len("params.") :]
    if name.startswith("metrics."):
        metric = name[len("metrics.") :]
        return metric if metric in metrics else f"{_IGNORED}{col}"  # the export lists every reported metric
    return name


def check_warm_start(
    spec: ExperimentSpec, base_dir: Path | None = None, storage: optuna.storages.BaseStorage | None = None
) -> None:
    """Validate ``spec.warmStart`` without a study: enqueued values, the CSV when ``base_dir`` is given, and the
    earlier experiment's trials when ``storage`` is (reading only)."""
    _plan(spec, base_dir, storage)


def apply_warm_start(
    study: optuna.Study, spec: ExperimentSpec, base_dir: Path, storage: optuna.storages.BaseStorage | None = None
) -> int:
    """Add the known finished trials (CSV, earlier experiment) and enqueue the known parameter sets; return how
    many trials were added.

    ``base_dir`` is the directory relative paths in the spec are resolved against (the experiment
    file's directory); ``storage`` is the workspace's Optuna storage, which holds the earlier experiment
    of ``warmStart.experiment``.
    Idempotent: a second call with the same inputs adds nothing and returns 0.
    """
    if spec.warm_start is None:
        return 0
    if spec.warm_start.experiment is not None and storage is None:
        raise ValueError("warmStart.experiment needs the workspace's Optuna storage")
    plan = _plan(spec, base_dir, storage)
    digest = plan.digest(spec)
    if study.user_attrs.get(WARM_STARTED_ATTR) == digest:
        return 0
    dists: dict[str, BaseDistribution] = distributions(spec.parameters)
    existing = {t.user_attrs.get(ROW_KEY_ATTR) for t in study.get_trials(deepcopy=False)}
    added = 0
    for row in plan.rows:
        if row.key in existing:
            continue
        user_attrs: dict[str, Any] = {
            "workbench.state": row.state_name,
            "workbench.warm_start": True,
            ROW_KEY_ATTR: row.key,
        }
        if row.metrics:
            user_attrs["workbench.metrics"] = row.metrics
        study.add_trial(
            optuna.trial.create_trial(
                state=row.state, params=row.params, distributions=dists, values=row.values, user_attrs=user_attrs
            )
        )
        existing.add(row.key)
        added += 1
    for params in plan.enqueue:
        before = len(study.get_trials(deepcopy=False))
        study.enqueue_trial(params, user_attrs={"workbench.warm_start": True}, skip_if_exists=True)
        added += len(study.get_trials(deepcopy=False)) - before
    study.set_user_attr(WARM_STARTED_ATTR, digest)
    return added
