"""The Optuna bridge: search space, samplers, pruners and warm start for an Experiment.

Everything here turns a validated :class:`~workbench.spec.ExperimentSpec` into Optuna objects
(and checks it without building anything, for ``workbench validate``). The controller that runs
trials lives in :mod:`workbench.search.controller`. The names load on first use: importing a light
submodule (``workbench.search._storage``) does not import Optuna.

Example:
    >>> import optuna
    >>> from workbench.search import check_search, create_study_components, distributions, trial_values
    >>> from workbench.spec import ExperimentSpec
    >>> spec = ExperimentSpec.model_validate({
    ...     "name": "demo",
    ...     "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
    ...     "algorithm": {"algorithmName": "tpe", "algorithmSettings": [{"name": "random_state", "value": "1"}]},
    ...     "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
    ...     "trialTemplate": {},
    ... })
    >>> check_search(spec)
    >>> sampler, pruner, directions = create_study_components(spec)
    >>> study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    >>> trial = study.ask(distributions(spec.parameters))
    >>> 0.0 <= trial_values(spec.parameters, trial.params)["x"] <= 1.0
    True
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

    from workbench.spec._experiment import ExperimentSpec

#: Public names and the module defining each: loaded on first use, so that importing a light submodule
#: (``workbench.search._storage``: attribute names, the experiment lock) does not import Optuna.
_LAZY = {
    **dict.fromkeys(
        [
            "ALGORITHMS",
            "UNSUPPORTED",
            "AskTellGridSampler",
            "SteppedSampler",
            "check_algorithm",
            "create_sampler",
            "max_trials",
        ],
        "workbench.search._algorithms",
    ),
    **dict.fromkeys(
        [
            "DeletedExperiment",
            "archive_experiment",
            "delete_experiment",
            "ensure_stopped",
            "find_experiment",
            "is_archived",
            "live_controllers",
        ],
        "workbench.search._lifecycle",
    ),
    **dict.fromkeys(["EARLY_STOPPING", "check_early_stopping", "create_pruner"], "workbench.search._pruners"),
    **dict.fromkeys(
        [
            "MAX_GRID_POINTS",
            "check_compatible",
            "coerce_value",
            "distributions",
            "grid_points",
            "grid_size",
            "space_signature",
            "trial_values",
        ],
        "workbench.search._space",
    ),
    **dict.fromkeys(["WARM_STARTED_ATTR", "apply_warm_start", "check_warm_start"], "workbench.search._warmstart"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def check_search(spec: ExperimentSpec, base_dir: Path | None = None) -> None:
    """Check everything the search needs, without touching a store.

    The search space (distributions), the algorithm and its settings (grid size, cmaes dimensions,
    torch for bayesianoptimization), early stopping and the warm start (enqueued values; the CSV
    file too when ``base_dir``, the experiment file's directory, is given). Raises the first
    ``SpecError`` found.
    """
    from workbench.search._algorithms import check_algorithm
    from workbench.search._pruners import check_early_stopping
    from workbench.search._space import distributions
    from workbench.search._warmstart import check_warm_start

    distributions(spec.parameters)
    check_algorithm(spec)
    check_early_stopping(spec)
    check_warm_start(spec, base_dir)


def create_study_components(spec: ExperimentSpec) -> tuple[BaseSampler, BasePruner, list[str]]:
    """(sampler, pruner, directions) for ``optuna.create_study(sampler=..., pruner=..., directions=...)``.

    ``directions`` holds ``"minimize"``/``"maximize"`` per objective, in ``spec.objective.metric_names`` order.
    """
    from workbench.search._algorithms import create_sampler
    from workbench.search._pruners import create_pruner
    from workbench.search._space import distributions

    distributions(spec.parameters)
    return create_sampler(spec), create_pruner(spec), list(spec.objective.directions)


__all__ = [
    "ALGORITHMS",
    "AskTellGridSampler",
    "SteppedSampler",
    "DeletedExperiment",
    "EARLY_STOPPING",
    "MAX_GRID_POINTS",
    "UNSUPPORTED",
    "WARM_STARTED_ATTR",
    "apply_warm_start",
    "archive_experiment",
    "check_algorithm",
    "check_compatible",
    "check_early_stopping",
    "check_search",
    "check_warm_start",
    "coerce_value",
    "create_pruner",
    "create_sampler",
    "create_study_components",
    "delete_experiment",
    "distributions",
    "ensure_stopped",
    "find_experiment",
    "grid_points",
    "grid_size",
    "is_archived",
    "live_controllers",
    "max_trials",
    "space_signature",
    "trial_values",
]
