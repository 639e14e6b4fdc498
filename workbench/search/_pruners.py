"""Early stopping: Katib ``earlyStopping`` (name + settings) as an Optuna pruner.

=====================  =================================================  ===========================================
``algorithmName``      settings (defaults)                                Optuna pruner
=====================  =================================================  ===========================================
(none)                                                                    ``NopPruner()``
medianstop             min_trials_required (3), start_step (4)            ``MedianPruner(n_startup_trials=
                                                                          min_trials_required, n_warmup_steps=
                                                                          start_step)``
successivehalving      min_resource (auto), reduction_factor (4),         ``SuccessiveHalvingPruner``
                       min_early_stopping_rate (0)
hyperband              min_resource (1), max_resource (auto),             ``HyperbandPruner``
                       reduction_factor (3)
=====================  =================================================  ===========================================

Steps are the ``step`` numbers of the intermediate values a trial reports. Optuna cannot prune a
multi-objective study, so early stopping with several objectives is a ``SpecError``. Unknown
settings and bad values are ``SpecError`` with the path ``spec.earlyStopping.algorithmSettings[i]...``.

Example:
    >>> from workbench.spec import ExperimentSpec
    >>> spec = ExperimentSpec.model_validate({
    ...     "name": "demo",
    ...     "objective": {"type": "minimize", "objectiveMetricName": "loss"},
    ...     "earlyStopping": {"algorithmName": "medianstop"},
    ...     "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
    ...     "trialTemplate": {},
    ... })
    >>> type(create_pruner(spec)).__name__
    'MedianPruner'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner, SuccessiveHalvingPruner

from workbench.errors import SpecError
from workbench.search._algorithms import (
    Schema,
    int_or_auto_setting,
    int_setting,
    parse_settings,
    unknown_name_message,
)
from workbench.spec._experiment import ExperimentSpec

_WHERE = "spec.earlyStopping"


def _medianstop(values: dict[str, Any]) -> BasePruner:
    return MedianPruner(
        n_startup_trials=values.get("min_trials_required", 3), n_warmup_steps=values.get("start_step", 4)
    )


def _successivehalving(values: dict[str, Any]) -> BasePruner:
    return SuccessiveHalvingPruner(**values)


def _hyperband(values: dict[str, Any]) -> BasePruner:
    return HyperbandPruner(**values)


EARLY_STOPPING: dict[str, tuple[Schema, Callable[[dict[str, Any]], BasePruner]]] = {
    "medianstop": (
        {
            "min_trials_required": ("min_trials_required", int_setting(0)),
            "start_step": ("start_step", int_setting(0)),
        },
        _medianstop,
    ),
    "successivehalving": (
        {
            "min_resource": ("min_resource", int_or_auto_setting(1)),
            "reduction_factor": ("reduction_factor", int_setting(2)),
            "min_early_stopping_rate": ("min_early_stopping_rate", int_setting(0)),
        },
        _successivehalving,
    ),
    "hyperband": (
        {
            "min_resource": ("min_resource", int_setting(1)),
            "max_resource": ("max_resource", int_or_auto_setting(1)),
            "reduction_factor": ("reduction_factor", int_setting(2)),
        },
        _hyperband,
    ),
}


def _resolve(spec: ExperimentSpec) -> tuple[Callable[[dict[str, Any]], BasePruner], dict[str, Any]] | None:
    early = spec.early_stopping
    if early is None:
        return None
    name = early.algorithm_name
    entry = EARLY_STOPPING.get(name)
    if entry is None:
        message = unknown_name_message(name, sorted(EARLY_STOPPING), "early stopping algorithm")
        raise SpecError(message, path=f"{_WHERE}.algorithmName")
    schema, build = entry
    values, index = parse_settings(early, schema, _WHERE)
    if spec.objective.is_multi:
        raise SpecError(
            "early stopping needs a single objective: Optuna cannot prune a multi-objective study "
            f"({', '.join(spec.objective.metric_names)}); remove earlyStopping",
            path=_WHERE,
        )
    if name == "hyperband":
        low, high = values.get("min_resource", 1), values.get("max_resource", "auto")
        if high != "auto" and high < low:
            raise SpecError(
                f"max_resource: expected at least min_resource ({low}), got {high}",
                path=f"{_WHERE}.algorithmSettings[{index['max_resource']}].value",
            )
    return build, values


def check_early_stopping(spec: ExperimentSpec) -> None:
    """Validate ``spec.earlyStopping``; build nothing. Raises ``SpecError`` naming the field."""
    _resolve(spec)


def create_pruner(spec: ExperimentSpec) -> BasePruner:
    """The Optuna pruner for ``spec.earlyStopping`` (``NopPruner`` when there is none)."""
    resolved = _resolve(spec)
    if resolved is None:
        return NopPruner()
    build, values = resolved
    return build(values)
