"""Algorithms: every Katib name builds a real Optuna sampler; every bad setting is a SpecError."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import optuna
import pytest
from search_helpers import BS, MULTI, OPT, N, X, make_spec, raises_at, trial_pipeline

from workbench.search import (
    ALGORITHMS,
    SteppedSampler,
    _algorithms,
    check_algorithm,
    check_search,
    create_sampler,
    create_study_components,
    distributions,
    grid_points,
    max_trials,
    trial_values,
)
from workbench.spec import ExperimentSpec, experiment_from_dict

D = {"name": "d", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1", "step": "0.25"}}
K = {"name": "k", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "4", "step": "2"}}

# Small, fast settings for every algorithm (GP fits from the 3rd trial on).
FAST: dict[str, dict[str, str]] = {
    "random": {"random_state": "1"},
    "grid": {"random_state": "1"},
    "tpe": {
        "random_state": "1",
        "n_startup_trials": "3",
        "gamma": "0.25",
        "prior_weight": "1.5",
        "n_EI_candidates": "8",
    },
    "multivariate-tpe": {"random_state": "1", "n_startup_trials": "3", "n_ei_candidates": "8"},
    "cmaes": {"random_state": "1", "sigma": "0.5", "restart_strategy": "none"},
    "sobol": {"random_state": "1"},
    "bayesianoptimization": {"random_state": "1", "n_initial_points": "2", "base_estimator": "GP", "acq_func": "EI"},
    "nsga2": {"random_state": "1", "population_size": "4", "mutation_prob": "0.2", "crossover_prob": "0.8"},
    "nsga3": {"random_state": "1", "population_size": "4", "swapping_prob": "0.4"},
}
PARAMS = [D, K, OPT, BS]  # grid-able: double with step, int, categorical, discrete


def run(spec: ExperimentSpec, n_trials: int) -> optuna.Study:
    """Ask/tell like the controller: fixed distributions, values checked against the spec's bounds."""
    sampler, pruner, directions = create_study_components(spec)
    study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    dists = distributions(spec.parameters)
    for _ in range(n_trials):
        trial = study.ask(dists)
        values = trial_values(spec.parameters, trial.params)
        assert 0.0 <= values["d"] <= 1.0 and (values["d"] / 0.25).is_integer()
        assert values["k"] in (0, 2, 4)
        assert values["opt"] in ("sgd", "adam", "ftrl") and values["bs"] in (16, 32, 64)
        loss = (values["d"] - 0.5) ** 2 + values["k"] / 10 + (values["opt"] != "adam")
        if len(directions) == 1:
            study.tell(trial, loss)
        else:
            study.tell(trial, [loss, values["bs"] / 64])
    return study


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_samples_inside_bounds_and_reproduces(name: str) -> None:
    spec = make_spec(PARAMS, algorithm=name, settings=FAST[name], maxTrialCount=6)
    first = run(spec, 6)
    assert len(first.trials) == 6
    again = run(spec, 6)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]


def _base(sampler: optuna.samplers.BaseSampler) -> optuna.samplers.BaseSampler:
    """The Optuna sampler inside a ``SteppedSampler`` (PARAMS has a stepped double)."""
    assert isinstance(sampler, SteppedSampler)
    return sampler.base


def test_sampler_types_and_options() -> None:
    spec = make_spec(PARAMS, algorithm="tpe", settings=FAST["tpe"])
    tpe = _base(create_sampler(spec))
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert tpe._constant_liar is True and tpe._n_ei_candidates == 8 and tpe._n_startup_trials == 3
    # Katib/hyperopt gamma: a fraction of the trials, at most 25.
    assert [tpe._gamma(n) for n in (1, 10, 20, 200)] == [1, 3, 5, 25]
    mv = _base(create_sampler(make_spec(PARAMS, algorithm="multivariate-tpe")))
    assert isinstance(mv, optuna.samplers.TPESampler) and mv._multivariate and mv._constant_liar
    assert isinstance(create_sampler(make_spec(PARAMS, algorithm="grid")), optuna.samplers.GridSampler)
    assert isinstance(create_sampler(make_spec([X, N], algorithm="cmaes")), optuna.samplers.CmaEsSampler)
    assert isinstance(_base(create_sampler(make_spec(PARAMS, algorithm="nsga2"))), optuna.samplers.NSGAIISampler)
    assert isinstance(_base(create_sampler(make_spec(PARAMS, algorithm="nsga3"))), optuna.samplers.NSGAIIISampler)
    gp = _base(create_sampler(make_spec(PARAMS, algorithm="bayesianoptimization", settings={"n_initial_points": "4"})))
    assert isinstance(gp, optuna.samplers.GPSampler) and gp._n_startup_trials == 4
    sobol = _base(create_sampler(make_spec(PARAMS, algorithm="sobol", settings={"random_state": "3"})))
    assert isinstance(sobol, optuna.samplers.QMCSampler) and sobol._scramble and sobol._qmc_type == "sobol"
    assert not _base(create_sampler(make_spec(PARAMS, algorithm="sobol")))._scramble


def test_default_algorithm_is_tpe() -> None:
    doc = {
        "name": "exp",
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "parameters": [X],
        "trialTemplate": {"pipeline": trial_pipeline([X])},
    }
    spec = experiment_from_dict(doc, Path("."))
    assert isinstance(create_sampler(spec), optuna.samplers.TPESampler)


def test_seeds_differ() -> None:
    a = run(make_spec(PARAMS, algorithm="sobol", settings={"random_state": "1"}), 4)
    b = run(make_spec(PARAMS, algorithm="sobol", settings={"random_state": "2"}), 4)
    assert [t.params for t in a.trials] != [t.params for t in b.trials]


def test_grid_exhausts_exactly_its_points() -> None:
    spec = make_spec([D, K, OPT], algorithm="grid", settings={"random_state": "0"})
    size = 5 * 3 * 3
    sampler, pruner, directions = create_study_components(spec)
    study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    dists = distributions(spec.parameters)
    for number in range(size):
        assert not sampler.is_exhausted(study)
        trial = study.ask(dists)
        study.tell(trial, float(number))
    assert sampler.is_exhausted(study)  # the controller stops here: every point ran exactly once
    assert max_trials(spec) == size
    seen = {tuple(sorted(t.params.items())) for t in study.trials}
    points = grid_points(spec.parameters)
    expected = {
        tuple(sorted({"d": d, "k": k, "opt": o}.items()))
        for d in points["d"]
        for k in points["k"]
        for o in points["opt"]
    }
    assert seen == expected


def test_grid_with_max_trial_count_at_the_grid_size_is_fine() -> None:
    spec = make_spec([D, K], algorithm="grid", maxTrialCount=15)
    check_algorithm(spec)
    assert max_trials(spec) == 15
    assert max_trials(make_spec([D, K], algorithm="grid", maxTrialCount=7)) == 7
    assert max_trials(make_spec([D, K], algorithm="random")) is None
    assert max_trials(make_spec([D, K], algorithm="random", maxTrialCount=99)) == 99


def test_grid_in_optimize_still_stops_the_study() -> None:
    spec = make_spec([K], algorithm="grid")
    sampler, _, _ = create_study_components(spec)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_int("k", 0, 4, step=2), n_trials=50)
    assert len(study.trials) == 3


def test_katib_document_numbers_as_strings() -> None:
    doc = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "katib-tpe"},
        "spec": {
            "objective": {"type": "maximize", "goal": "0.99", "objectiveMetricName": "accuracy"},
            "algorithm": {
                "algorithmName": "tpe",
                "algorithmSettings": [{"name": "random_state", "value": "10"}, {"name": "gamma", "value": "0.3"}],
            },
            "earlyStopping": {
                "algorithmName": "medianstop",
                "algorithmSettings": [{"name": "start_step", "value": "2"}],
            },
            "maxTrialCount": 4,
            "parameters": [
                {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}},
                {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "5"}},
            ],
            "trialTemplate": {
                "primaryContainerName": "training",
                "trialParameters": [
                    {"name": "learningRate", "reference": "lr"},
                    {"name": "numberLayers", "reference": "layers"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "training",
                                        "image": "python:3.11",
                                        "command": [
                                            "python",
                                            "train.py",
                                            "--lr=${trialParameters.learningRate}",
                                            "--num-layers=${trialParameters.numberLayers}",
                                        ],
                                    }
                                ]
                            }
                        }
                    },
                },
            },
        },
    }
    spec = experiment_from_dict(doc, Path("."))
    check_search(spec)
    sampler, pruner, directions = create_study_components(spec)
    assert directions == ["maximize"]
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    trial = study.ask(distributions(spec.parameters))
    assert 0.01 <= trial.params["lr"] <= 0.05 and 2 <= trial.params["layers"] <= 5
    doc["spec"]["algorithm"]["algorithmSettings"][1]["value"] = "3"
    with raises_at("spec.algorithm.algorithmSettings[1].value", "gamma", "<= 1"):
        check_search(experiment_from_dict(doc, Path(".")))


# --------------------------------------------------------------------------- multi-objective


@pytest.mark.parametrize("name", sorted(n for n, a in ALGORITHMS.items() if a.multi_objective))
def test_multi_objective_algorithms_run(name: str) -> None:
    spec = make_spec(PARAMS, algorithm=name, settings=FAST[name], objective=MULTI)
    study = run(spec, 5)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    assert len(study.best_trials) >= 1


def test_cmaes_is_single_objective_only() -> None:
    with raises_at("spec.algorithm.algorithmName", "single objective", "nsga2"):
        check_algorithm(make_spec([X, N], algorithm="cmaes", objective=MULTI))


def test_cmaes_needs_two_numeric_parameters_and_samples_categoricals_randomly() -> None:
    with raises_at("spec.parameters", "at least two double or int parameters", "tpe"):
        check_algorithm(make_spec([X, OPT], algorithm="cmaes"))
    spec = make_spec([X, N, OPT], algorithm="cmaes", settings={"random_state": "5"})
    sampler = create_sampler(spec)
    study = optuna.create_study(sampler=sampler)
    dists = distributions(spec.parameters)
    for _ in range(6):
        trial = study.ask(dists)
        study.tell(trial, trial.params["x"] ** 2 + trial.params["n"])
    assert {t.params["opt"] for t in study.trials} <= {"sgd", "adam", "ftrl"}
    assert any(k.startswith("cma:") for t in study.trials for k in t.system_attrs)  # CMA-ES really ran


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("foo", ["unknown algorithm 'foo'", "supported: bayesianoptimization, cmaes, grid"]),
        ("TPE", ["did you mean 'tpe'"]),
        ("hyperband", ["earlyStopping", "hyperband"]),
        ("pbt", ["independent pipeline runs", "tpe"]),
        ("enas", ["neural architecture search", "categorical"]),
        ("darts", ["neural architecture search"]),
    ],
)
def test_unknown_and_unsupported_algorithms(name: str, fragments: list[str]) -> None:
    with raises_at("spec.algorithm.algorithmName", *fragments):
        check_algorithm(make_spec(algorithm=name))
    with raises_at("spec.algorithm.algorithmName"):
        create_sampler(make_spec(algorithm=name))


@pytest.mark.parametrize(
    ("algorithm", "settings", "index", "fragments"),
    [
        ("random", [("seed", "1")], 0, ["unknown setting 'seed'", "accepted settings: random_state"]),
        ("tpe", [("random_state", "1"), ("n_ei_candidate", "3")], 1, ["did you mean 'n_ei_candidates'"]),
        ("cmaes", [("popsize", "3")], 0, ["sigma, restart_strategy, random_state"]),
        ("random", [("random_state", "1"), ("random_state", "2")], 1, ["given twice"]),
        ("tpe", [("n_EI_candidates", "3"), ("n_ei_candidates", "3")], 1, ["given twice"]),
    ],
)
def test_bad_setting_names(algorithm: str, settings: list[tuple[str, str]], index: int, fragments: list[str]) -> None:
    params = [X, N] if algorithm == "cmaes" else None
    with raises_at(f"spec.algorithm.algorithmSettings[{index}].name", *fragments):
        check_algorithm(make_spec(params, algorithm=algorithm, settings=settings))


@pytest.mark.parametrize(
    ("algorithm", "name", "value", "fragments"),
    [
        ("random", "random_state", "abc", ["random_state: expected a whole number from 0 to 4294967295, got 'abc'"]),
        ("random", "random_state", "-1", ["from 0"]),
        ("random", "random_state", "1.5", ["whole number"]),
        ("grid", "random_state", "x", ["whole number"]),
        ("sobol", "random_state", "x", ["whole number"]),
        ("tpe", "gamma", "0", ["gamma: expected a number > 0 and <= 1"]),
        ("tpe", "gamma", "1.5", ["<= 1"]),
        ("tpe", "gamma", "nan", ["a number"]),
        ("tpe", "prior_weight", "0", ["> 0"]),
        ("tpe", "n_EI_candidates", "0", [">= 1"]),
        ("tpe", "n_startup_trials", "-2", [">= 0"]),
        ("multivariate-tpe", "n_ei_candidates", "many", ["whole number"]),
        ("cmaes", "sigma", "-1", ["sigma: expected a number > 0"]),
        ("cmaes", "restart_strategy", "ipop", ["Optuna 4.4", "none"]),
        ("cmaes", "restart_strategy", "sometimes", ["expected one of none"]),
        ("bayesianoptimization", "base_estimator", "RF", ["Gaussian process", "GP"]),
        ("bayesianoptimization", "acq_func", "LCB", ["expected improvement", "EI"]),
        ("bayesianoptimization", "acq_func", "XX", ["expected one of gp_hedge, EI"]),
        ("bayesianoptimization", "acq_optimizer", "sampling", ["L-BFGS-B"]),
        ("bayesianoptimization", "n_initial_points", "-1", [">= 0"]),
        ("nsga2", "population_size", "1", [">= 2"]),
        ("nsga2", "mutation_prob", "2", ["<= 1"]),
        ("nsga3", "crossover_prob", "-0.1", [">= 0"]),
    ],
)
def test_bad_setting_values(algorithm: str, name: str, value: str, fragments: list[str]) -> None:
    spec = make_spec([D, K, OPT], algorithm=algorithm, settings=[("random_state", "1"), (name, value)])
    if name == "random_state":
        spec = make_spec([D, K, OPT], algorithm=algorithm, settings=[("random_state", value)])
    index = 0 if name == "random_state" else 1
    with raises_at(f"spec.algorithm.algorithmSettings[{index}].value", *fragments):
        check_algorithm(spec)
    with raises_at(f"spec.algorithm.algorithmSettings[{index}].value"):
        create_sampler(spec)


def test_grid_errors() -> None:
    with raises_at("spec.maxTrialCount", "maxTrialCount 16 is more than the 15 points of the grid"):
        check_algorithm(make_spec([D, K], algorithm="grid", maxTrialCount=16))
    message = "grid search needs feasibleSpace.step for double parameter 'x'"
    with raises_at("spec.parameters[0].feasibleSpace.step", message):
        check_algorithm(make_spec([X, N], algorithm="grid"))


def test_bayesianoptimization_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "torch" else real(name, *args)

    monkeypatch.setattr(_algorithms.importlib.util, "find_spec", find_spec)
    with raises_at("spec.algorithm.algorithmName", "bayesianoptimization needs torch: pip install 'workbench[gp]'"):
        check_search(make_spec(algorithm="bayesianoptimization"))


def test_check_search_reports_space_problems_first() -> None:
    lr = {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "1", "step": "0.1"}}
    lr["feasibleSpace"]["distribution"] = "logUniform"
    with raises_at("spec.parameters[0].feasibleSpace.step", "logUniform"):
        check_search(make_spec([lr], algorithm="random"))
    with raises_at("spec.parameters[0].feasibleSpace.step"):
        create_study_components(make_spec([lr], algorithm="random"))


def test_create_study_components_directions() -> None:
    sampler, pruner, directions = create_study_components(make_spec(algorithm="random", objective=MULTI))
    assert directions == ["minimize", "minimize"]
    assert isinstance(pruner, optuna.pruners.NopPruner)
    obj = {"objectives": [{"metricName": "acc", "type": "maximize"}, {"metricName": "size", "type": "minimize"}]}
    assert create_study_components(make_spec(algorithm="nsga2", objective=obj))[2] == ["maximize", "minimize"]


@pytest.mark.parametrize("name", ["random", "tpe", "multivariate-tpe", "cmaes", "sobol"])
def test_a_stepped_double_takes_the_exact_decimals_of_its_step(name: str) -> None:
    """Samplers compute 0.1 + 7 * 0.05 = 0.45000000000000007; Optuna stores, and the trial gets, 0.45."""
    stepped = {"name": "d", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9", "step": "0.05"}}
    spec = make_spec([stepped, X], algorithm=name, settings={"random_state": "1"})
    study = optuna.create_study(sampler=create_sampler(spec))
    dists = distributions(spec.parameters)
    for _ in range(40):
        trial = study.ask(dists)
        study.tell(trial, (trial.params["d"] - 0.45) ** 2 + trial.params["x"] ** 2)
    values = [t.params["d"] for t in study.trials]
    assert all(len(repr(v)) <= 4 for v in values), sorted({repr(v) for v in values if len(repr(v)) > 4})
    assert len(set(values)) > 5
    assert [trial_values(spec.parameters, t.params)["d"] for t in study.trials] == values
