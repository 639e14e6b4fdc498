"""Warm start: parameter sets to try first, and finished trials imported from a CSV file.

``warmStart.enqueue`` is a list of parameter sets (``{lr: 0.01, optimizer: adam}``); each is
checked against the search space and enqueued with ``study.enqueue_trial(..., skip_if_exists=True)``,
so the controller's next asks return them. A set may leave parameters out: the sampler picks those.

``warmStart.csv`` names a CSV file (relative to the experiment file's directory) with a header row.
Its columns are every search parameter, every objective metric, optionally any additional metric and
an optional ``state`` column (``Succeeded`` -- the default when empty --, ``Failed``, ``Pruned`` or
Katib's ``EarlyStopped``). Each row becomes a finished trial (``study.add_trial``) with user attrs
``workbench.state``, ``workbench.warm_start`` = ``True``, ``workbench.metrics`` (every metric value given)
and ``workbench.warm_start_key`` (a digest of the row). Objective values are required for
``Succeeded`` rows; failed and pruned rows are added without values. Any other column is an error.

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
from workbench.spec._experiment import ExperimentSpec

#: Study user attr holding the digest of the warm-start inputs last applied.
WARM_STARTED_ATTR = "workbench.warm_started"
#: Trial user attr holding the digest of the CSV row a trial was imported from.
ROW_KEY_ATTR = "workbench.warm_start_key"

_STATES = {
    "succeeded": ("Succeeded", TrialState.COMPLETE),
    "complete": ("Succeeded", TrialState.COMPLETE),
    "failed": ("Failed", TrialState.FAIL),
    "fail": ("Failed", TrialState.FAIL),
    "pruned": ("Pruned", TrialState.PRUNED),
    "earlystopped": ("Pruned", TrialState.PRUNED),
}


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

    def digest(self, spec: ExperimentSpec) -> str:
        doc = {
            "enqueue": self.enqueue,
            "csv": str(self.csv_path) if self.csv_path else None,
            "csv_sha256": self.csv_digest,
            "space": space_signature(spec.parameters),
            "objectives": spec.objective.metric_names,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _plan(spec: ExperimentSpec, base_dir: Path | None) -> _Plan:
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
    return plan


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
    header = [h.strip() for h in header]
    reader.fieldnames = header
    param_names = [p.name for p in spec.parameters]
    objectives = spec.objective.metric_names
    metrics = list(spec.metric_names)
    allowed = [*param_names, *metrics, "state"]
    for col, name in enumerate(header, start=1):
        if header.count(name) > 1:
            raise SpecError(f"{path}, line 1: column {name!r} appears more than once", path=where)
        if name not in allowed:
            raise SpecError(
                f"{path}, line 1, column {col} ({name!r}): not a parameter, objective metric or 'state' "
                f"(expected columns: {', '.join(allowed)})",
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
        state = _STATES.get(state_text.lower())
        if state is None:
            raise SpecError(
                f"{path}, line {line}, column 'state': expected Succeeded, Failed, Pruned or EarlyStopped, "
                f"got {state_text!r}",
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
        row = _Row(params, objective_values, trial_state, state_name, values)
        row.key = hashlib.sha256(
            json.dumps([params, objective_values, state_name, values], sort_keys=True).encode()
        ).hexdigest()[:24]
        rows.append(row)
    return hashlib.sha256(data).hexdigest(), rows


def check_warm_start(spec: ExperimentSpec, base_dir: Path | None = None) -> None:
    """Validate ``spec.warmStart`` without a study: enqueued values, and the CSV when ``base_dir`` is given."""
    _plan(spec, base_dir)


def apply_warm_start(study: optuna.Study, spec: ExperimentSpec, base_dir: Path) -> int:
    """Add the CSV's finished trials and enqueue the known parameter sets; return how many trials were added.

    ``base_dir`` is the directory relative paths in the spec are resolved against (the experiment
    file's directory). Idempotent: a second call with the same inputs adds nothing and returns 0.
    """
    if spec.warm_start is None:
        return 0
    plan = _plan(spec, base_dir)
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
