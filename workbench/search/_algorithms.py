"""Search algorithms: Katib ``algorithm`` (name + settings) as an Optuna sampler.

=====================  ==============================================  ==========================================
``algorithmName``      settings                                        Optuna sampler
=====================  ==============================================  ==========================================
random                 random_state                                    ``RandomSampler(seed)``
grid                   random_state                                    ``GridSampler(grid_points, seed)``
tpe                    gamma, prior_weight, n_EI_candidates            ``TPESampler(constant_liar=True)``; gamma is
                       (or n_ei_candidates), n_startup_trials,         the fraction of "good" trials, as in Katib /
                       random_state                                    hyperopt: ``min(ceil(gamma * n), 25)``
multivariate-tpe       n_ei_candidates, n_startup_trials,              ``TPESampler(multivariate=True,
                       random_state                                    constant_liar=True)``
cmaes                  sigma, restart_strategy, random_state           ``CmaEsSampler(sigma0, seed)``
sobol                  random_state                                    ``QMCSampler("sobol", scramble=seeded)``
bayesianoptimization   base_estimator, n_initial_points, acq_func,     ``GPSampler(seed, n_startup_trials=
                       acq_optimizer, random_state                     n_initial_points)`` (needs torch)
nsga2 / nsga3          population_size, mutation_prob,                 ``NSGAIISampler`` / ``NSGAIIISampler``
                       crossover_prob, swapping_prob, random_state
=====================  ==============================================  ==========================================

Documented behaviours:

- Setting values are strings in Katib YAML; each is parsed and checked. An unknown setting, a
  repeated setting or a bad value is a ``SpecError`` (``spec.algorithm.algorithmSettings[i].name``
  or ``.value``); nothing is silently ignored.
- ``grid`` needs a ``step`` on every ``double`` parameter; like Katib, ``maxTrialCount`` above the
  number of grid points is an error (``spec.maxTrialCount``). Without ``maxTrialCount`` the whole
  grid runs: :func:`max_trials` gives the budget, and the sampler (:class:`AskTellGridSampler`)
  reports ``is_exhausted(study)``; unlike Optuna's ``GridSampler`` it does not raise from
  ``study.tell`` on the last point when used with ask/tell.
- ``cmaes`` needs at least two ``double``/``int`` parameters (Katib's rule: Optuna's CMA-ES falls back
  to random sampling in one dimension). ``categorical`` and ``discrete`` parameters are allowed, as
  in Katib, and are sampled by a seeded ``RandomSampler`` (CMA-ES has no categorical model).
  ``restart_strategy`` accepts ``none``; ``ipop``/``bipop`` are refused when the installed Optuna
  (4.4 and later) no longer implements restarts, rather than being dropped silently.
- ``sobol``: ``categorical`` and ``discrete`` parameters are sampled by a seeded ``RandomSampler``
  (a Sobol sequence covers numeric dimensions only). The sequence is scrambled when ``random_state``
  is given.
- ``bayesianoptimization``: Optuna's ``GPSampler`` always models the objective with a Gaussian process
  and maximizes log expected improvement. So ``base_estimator`` accepts only ``GP``, ``acq_func``
  only ``gp_hedge`` (Katib's default) or ``EI``, and ``acq_optimizer`` only ``auto`` or ``lbfgs``
  (GPSampler samples then refines with L-BFGS-B); other Katib values are refused with an explanation.
  It needs torch (``pip install 'workbench[gp]'``). It supports multi-objective experiments.
- Multi-objective experiments accept random, grid, tpe, multivariate-tpe, sobol, bayesianoptimization,
  nsga2 and nsga3; cmaes is single-objective only.
- Katib's ``hyperband`` (as an algorithm), ``pbt``, ``enas`` and ``darts`` have no Optuna counterpart:
  the error suggests an alternative.

Example:
    >>> from workbench.spec import ExperimentSpec
    >>> spec = ExperimentSpec.model_validate({
    ...     "name": "demo",
    ...     "objective": {"type": "minimize", "objectiveMetricName": "loss"},
    ...     "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
    ...     "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
    ...     "trialTemplate": {},
    ... })
    >>> type(create_sampler(spec)).__name__
    'RandomSampler'
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGAIIISampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from optuna.trial import FrozenTrial, TrialState
from packaging.version import Version

from workbench.errors import SpecError
from workbench.search._space import grid_points, grid_size, on_step
from workbench.spec._experiment import AlgorithmSpec, ExperimentSpec

Parser = Callable[[str], Any]
#: accepted setting name (as written in YAML) -> (keyword it becomes, parser of the string value)
Schema = dict[str, tuple[str, Parser]]

_SEED_MAX = 2**32 - 1
#: Optuna 4.4 turned CmaEsSampler's restart_strategy into a no-op.
_CMA_RESTARTS = Version(optuna.__version__) < Version("4.4")


# --------------------------------------------------------------------------- setting parsers


def int_setting(low: int | None = None, high: int | None = None) -> Parser:
    """A parser for a whole-number setting within ``[low, high]``."""
    bounds = _bounds_text(low, high)

    def parse(text: str) -> int:
        try:
            number = float(text.strip())
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"expected a whole number{bounds}, got {text!r}")
        value = int(number)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"expected a whole number{bounds}, got {text!r}")
        return value

    return parse


def float_setting(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Parser:
    """A parser for a number setting within an interval (open or closed at each end)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    bounds = f" {' and '.join(parts)}" if parts else ""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise ValueError(f"expected a number{bounds}, got {text!r}")
        return value

    return parse


def choice_setting(choices: dict[str, Any], refused: dict[str, str] | None = None) -> Parser:
    """A parser for a setting taking one of ``choices`` (text -> value); ``refused`` explains known values."""
    refused = refused or {}

    def parse(text: str) -> Any:
        if text in choices:
            return choices[text]
        if text in refused:
            raise ValueError(refused[text])
        raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")

    return parse


def int_or_auto_setting(low: int) -> Parser:
    """A parser for a whole number ``>= low`` or the word ``auto``."""
    as_int = int_setting(low)

    def parse(text: str) -> int | str:
        if text.strip() == "auto":
            return "auto"
        try:
            return as_int(text)
        except ValueError:
            raise ValueError(f"expected auto or a whole number >= {low}, got {text!r}") from None

    return parse


def _bounds_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


RANDOM_STATE: tuple[str, Parser] = ("seed", int_setting(0, _SEED_MAX))


def parse_settings(algorithm: AlgorithmSpec, schema: Schema, where: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse ``algorithm.algorithmSettings`` against ``schema``.

    Returns (keyword -> value, keyword -> index of the setting) for the settings given.
    ``where`` is the YAML path of the algorithm (``spec.algorithm`` or ``spec.earlyStopping``).
    """
    values: dict[str, Any] = {}
    index: dict[str, int] = {}
    name = algorithm.algorithm_name
    for i, setting in enumerate(algorithm.algorithm_settings):
        entry = schema.get(setting.name)
        if entry is None:
            accepted = ", ".join(schema) if schema else "none"
            hint = difflib.get_close_matches(setting.name, list(schema), n=1)
            raise SpecError(
                f"unknown setting {setting.name!r} for {name!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; accepted settings: {accepted}",
                path=f"{where}.algorithmSettings[{i}].name",
            )
        key, parse = entry
        if key in values:
            raise SpecError(
                f"setting {setting.name!r} is given twice (first at algorithmSettings[{index[key]}])",
                path=f"{where}.algorithmSettings[{i}].name",
            )
        try:
            values[key] = parse(setting.value)
        except ValueError as err:
            raise SpecError(f"{setting.name}: {err}", path=f"{where}.algorithmSettings[{i}].value") from None
        index[key] = i
    return values, index


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's experimental / deprecation warnings for options Workbench chose on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


# --------------------------------------------------------------------------- algorithms


@dataclass(frozen=True)
class _Algorithm:
    settings: Schema
    build: Callable[[ExperimentSpec, dict[str, Any]], BaseSampler]
    multi_objective: bool
    check: Callable[[ExperimentSpec, dict[str, Any], dict[str, int]], None] | None = None


def _katib_gamma(fraction: float, n: int) -> int:
    """Katib / hyperopt's gamma: the best ``fraction`` of the trials are "good", at most 25."""
    return min(int(math.ceil(fraction * n)), 25)


def _build_tpe(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    kwargs = dict(values)
    if "gamma" in kwargs:
        kwargs["gamma"] = functools.partial(_katib_gamma, kwargs["gamma"])
    with quiet_optuna():
        return TPESampler(constant_liar=True, **kwargs)


def _build_multivariate_tpe(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    with quiet_optuna():
        return TPESampler(multivariate=True, constant_liar=True, **values)


class AskTellGridSampler(GridSampler):
    """``GridSampler`` usable with ask/tell.

    Optuna's ``GridSampler.after_trial`` calls ``study.stop()`` when the grid is exhausted, which
    raises ``RuntimeError`` outside ``study.optimize`` -- that is, in the controller's final
    ``study.tell``. This subclass skips that call there; the caller stops asking after
    :func:`max_trials` trials or when ``sampler.is_exhausted(study)``.
    """

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        try:
            super().after_trial(study, trial, state, values)
        except RuntimeError as err:
            if "Study.stop" not in str(err):
                raise


def _build_grid(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    return AskTellGridSampler(grid_points(spec.parameters), seed=values.get("seed"))


def _check_grid(spec: ExperimentSpec, values: dict[str, Any], index: dict[str, int]) -> None:
    size = grid_size(spec.parameters)
    grid_points(spec.parameters)  # refuses oversized grids
    if spec.max_trial_count is not None and spec.max_trial_count > size:
        raise SpecError(
            f"maxTrialCount {spec.max_trial_count} is more than the {size} points of the grid; "
            f"set it to at most {size}, or leave it out to run the whole grid",
            path="spec.maxTrialCount",
        )


def _build_cmaes(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    kwargs = dict(values)
    seed = kwargs.get("seed")
    with quiet_optuna():
        return CmaEsSampler(independent_sampler=RandomSampler(seed=seed), warn_independent_sampling=False, **kwargs)


def _check_cmaes(spec: ExperimentSpec, values: dict[str, Any], index: dict[str, int]) -> None:
    numeric = [p.name for p in spec.parameters if p.parameter_type in ("double", "int")]
    if len(numeric) < 2:
        raise SpecError(
            f"cmaes needs at least two double or int parameters (got {numeric or 'none'}): CMA-ES cannot "
            "search one dimension. Use tpe, bayesianoptimization or grid instead",
            path="spec.parameters",
        )


def _build_sobol(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    seed = values.get("seed")
    with quiet_optuna():
        return QMCSampler(
            qmc_type="sobol",
            scramble=seed is not None,
            seed=seed,
            independent_sampler=RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )


def _build_gp(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    kwargs = {"seed": values.get("seed")}
    if "n_startup_trials" in values:
        kwargs["n_startup_trials"] = values["n_startup_trials"]
    with quiet_optuna():
        return GPSampler(**kwargs)


def _check_gp(spec: ExperimentSpec, values: dict[str, Any], index: dict[str, int]) -> None:
    if importlib.util.find_spec("torch") is None:
        raise SpecError(
            "bayesianoptimization needs torch: pip install 'workbench[gp]'", path="spec.algorithm.algorithmName"
        )
    if importlib.util.find_spec("scipy") is None:
        raise SpecError("bayesianoptimization needs scipy: pip install scipy", path="spec.algorithm.algorithmName")


def _build_nsga2(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    return NSGAIISampler(**values)


def _build_nsga3(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    with quiet_optuna():
        return NSGAIIISampler(**values)


def _build_random(spec: ExperimentSpec, values: dict[str, Any]) -> BaseSampler:
    return RandomSampler(seed=values.get("seed"))


_NSGA_SETTINGS: Schema = {
    "population_size": ("population_size", int_setting(2)),
    "mutation_prob": ("mutation_prob", float_setting(0.0, 1.0)),
    "crossover_prob": ("crossover_prob", float_setting(0.0, 1.0)),
    "swapping_prob": ("swapping_prob", float_setting(0.0, 1.0)),
    "random_state": RANDOM_STATE,
}

_RESTARTS_DROPPED = (
    "restart strategies were removed from Optuna's CmaEsSampler in Optuna 4.4 (they moved to OptunaHub), "
    "so {value!r} would silently run without restarts; remove the setting or set it to none"
)
_CMA_RESTART_CHOICES: dict[str, Any] = {"none": None, "None": None}
if _CMA_RESTARTS:
    _CMA_RESTART_CHOICES.update(ipop="ipop", bipop="bipop")

_GP_ONLY = (
    "Optuna's GPSampler always models the objective with a Gaussian process; "
    "use base_estimator GP (the default) or remove the setting"
)
_LOG_EI_ONLY = (
    "Optuna's GPSampler always maximizes (log) expected improvement; "
    "use acq_func EI or gp_hedge (Katib's default), or remove the setting"
)

ALGORITHMS: dict[str, _Algorithm] = {
    "random": _Algorithm({"random_state": RANDOM_STATE}, _build_random, multi_objective=True),
    "grid": _Algorithm({"random_state": RANDOM_STATE}, _build_grid, multi_objective=True, check=_check_grid),
    "tpe": _Algorithm(
        {
            "gamma": ("gamma", float_setting(0.0, 1.0, low_open=True)),
            "prior_weight": ("prior_weight", float_setting(0.0, low_open=True)),
            "n_EI_candidates": ("n_ei_candidates", int_setting(1)),
            "n_ei_candidates": ("n_ei_candidates", int_setting(1)),
            "n_startup_trials": ("n_startup_trials", int_setting(0)),
            "random_state": RANDOM_STATE,
        },
        _build_tpe,
        multi_objective=True,
    ),
    "multivariate-tpe": _Algorithm(
        {
            "n_ei_candidates": ("n_ei_candidates", int_setting(1)),
            "n_EI_candidates": ("n_ei_candidates", int_setting(1)),
            "n_startup_trials": ("n_startup_trials", int_setting(0)),
            "random_state": RANDOM_STATE,
        },
        _build_multivariate_tpe,
        multi_objective=True,
    ),
    "cmaes": _Algorithm(
        {
            "sigma": ("sigma0", float_setting(0.0, low_open=True)),
            "restart_strategy": (
                "restart_strategy",
                choice_setting(
                    _CMA_RESTART_CHOICES,
                    {v: _RESTARTS_DROPPED.format(value=v) for v in ("ipop", "bipop") if not _CMA_RESTARTS},
                ),
            ),
            "random_state": RANDOM_STATE,
        },
        _build_cmaes,
        multi_objective=False,
        check=_check_cmaes,
    ),
    "sobol": _Algorithm({"random_state": RANDOM_STATE}, _build_sobol, multi_objective=True),
    "bayesianoptimization": _Algorithm(
        {
            "base_estimator": (
                "base_estimator",
                choice_setting({"GP": "GP"}, dict.fromkeys(("RF", "ET", "GBRT"), _GP_ONLY)),
            ),
            "n_initial_points": ("n_startup_trials", int_setting(0)),
            "acq_func": (
                "acq_func",
                choice_setting(
                    {"gp_hedge": "gp_hedge", "EI": "EI"}, dict.fromkeys(("LCB", "PI", "EIps", "PIps"), _LOG_EI_ONLY)
                ),
            ),
            "acq_optimizer": (
                "acq_optimizer",
                choice_setting(
                    {"auto": "auto", "lbfgs": "lbfgs"},
                    {
                        "sampling": "Optuna's GPSampler always refines sampled candidates with L-BFGS-B; "
                        "use acq_optimizer auto or lbfgs, or remove the setting"
                    },
                ),
            ),
            "random_state": RANDOM_STATE,
        },
        _build_gp,
        multi_objective=True,
        check=_check_gp,
    ),
    "nsga2": _Algorithm(_NSGA_SETTINGS, _build_nsga2, multi_objective=True),
    "nsga3": _Algorithm(_NSGA_SETTINGS, _build_nsga3, multi_objective=True),
}

#: Katib algorithms with no Optuna counterpart, and what to use instead.
UNSUPPORTED: dict[str, str] = {
    "hyperband": (
        "Katib's hyperband algorithm has no Optuna sampler counterpart; in Workbench Hyperband is an early "
        "stopping rule: use e.g. algorithmName random (or tpe) with earlyStopping: {algorithmName: hyperband} "
        "and report intermediate values from the trial"
    ),
    "pbt": (
        "population based training (pbt) mutates running trials from checkpoints, and Workbench trials are "
        "independent pipeline runs; use tpe or cmaes, with earlyStopping medianstop or hyperband to stop "
        "poor trials early"
    ),
    "enas": (
        "neural architecture search (enas) needs Katib's NAS controller and is not supported; search the "
        "architecture choices as int or categorical parameters with tpe, or run a NAS library inside the trial"
    ),
    "darts": (
        "neural architecture search (darts) needs Katib's NAS controller and is not supported; search the "
        "architecture choices as int or categorical parameters with tpe, or run a NAS library inside the trial"
    ),
}


def unknown_name_message(name: str, known: list[str], what: str) -> str:
    hint = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown {what} {name!r}{did_you_mean}; supported: {', '.join(known)}"


def _resolve(spec: ExperimentSpec) -> tuple[_Algorithm, dict[str, Any]]:
    name = spec.algorithm.algorithm_name
    if name in UNSUPPORTED:
        raise SpecError(UNSUPPORTED[name], path="spec.algorithm.algorithmName")
    algorithm = ALGORITHMS.get(name)
    if algorithm is None:
        message = unknown_name_message(name, sorted(ALGORITHMS), "algorithm")
        raise SpecError(message, path="spec.algorithm.algorithmName")
    values, index = parse_settings(spec.algorithm, algorithm.settings, "spec.algorithm")
    if spec.objective.is_multi and not algorithm.multi_objective:
        allowed = ", ".join(n for n in sorted(ALGORITHMS) if ALGORITHMS[n].multi_objective)
        raise SpecError(
            f"algorithm {name!r} optimizes a single objective, and this experiment has "
            f"{len(spec.objective.metric_names)} ({', '.join(spec.objective.metric_names)}); "
            f"multi-objective experiments can use: {allowed}",
            path="spec.algorithm.algorithmName",
        )
    if algorithm.check is not None:
        algorithm.check(spec, values, index)
    return algorithm, values


def check_algorithm(spec: ExperimentSpec) -> None:
    """Validate ``spec.algorithm`` against the search space and objective; build nothing.

    Raises ``SpecError`` naming the field (``spec.algorithm.algorithmSettings[0].value``, ...).
    """
    _resolve(spec)


def max_trials(spec: ExperimentSpec) -> int | None:
    """How many trials the search can run: ``maxTrialCount``, and for grid at most the number of grid points.

    ``None`` means no limit (run until the goal, a stop, or failures end the experiment).

    Example:
        >>> from workbench.spec import ExperimentSpec
        >>> spec = ExperimentSpec.model_validate({
        ...     "name": "demo",
        ...     "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        ...     "algorithm": {"algorithmName": "grid"},
        ...     "parameters": [{"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "4"}}],
        ...     "trialTemplate": {},
        ... })
        >>> max_trials(spec)
        4
    """
    if spec.algorithm.algorithm_name == "grid":
        size = grid_size(spec.parameters)
        return size if spec.max_trial_count is None else min(size, spec.max_trial_count)
    return spec.max_trial_count


class SteppedSampler(BaseSampler):
    """A sampler whose values of stepped ``double`` parameters are the exact decimals of their step.

    Optuna's samplers compute ``low + k * step`` in binary floating point (``0.45000000000000007``);
    this one hands Optuna ``0.45`` instead, so the value stored in the study, the MLflow param and
    the command line of the trial are the same number. Everything else is the ``base`` sampler's.
    """

    def __init__(self, base: BaseSampler) -> None:
        self.base = base

    @staticmethod
    def _exact(value: Any, distribution: BaseDistribution) -> Any:
        if isinstance(distribution, FloatDistribution) and distribution.step is not None:
            return on_step(value, distribution.low, distribution.high, distribution.step)
        return value

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        values = self.base.sample_relative(study, trial, search_space)
        return {name: self._exact(value, search_space[name]) for name, value in values.items()}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        value = self.base.sample_independent(study, trial, param_name, param_distribution)
        return self._exact(value, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def create_sampler(spec: ExperimentSpec) -> BaseSampler:
    """The Optuna sampler for ``spec.algorithm`` (validated first, see :func:`check_algorithm`).

    With a stepped ``double`` parameter, the sampler is wrapped in a :class:`SteppedSampler` (grid
    search needs none: its points are exact already).
    """
    algorithm, values = _resolve(spec)
    # Only pass what the user set: Optuna's defaults apply otherwise.
    values = {k: v for k, v in values.items() if k not in ("base_estimator", "acq_func", "acq_optimizer")}
    sampler = algorithm.build(spec, values)
    stepped = any(p.parameter_type == "double" and p.feasible_space.step is not None for p in spec.parameters)
    return SteppedSampler(sampler) if stepped and not isinstance(sampler, GridSampler) else sampler
