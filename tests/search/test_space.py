"""Search space: distributions, trial values, grid points, signatures."""

from __future__ import annotations

import json
import warnings

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from search_helpers import BS, OPT, N, X, make_spec, raises_at

from workbench.search import (
    MAX_GRID_POINTS,
    check_compatible,
    coerce_value,
    distributions,
    grid_points,
    grid_size,
    space_signature,
    trial_values,
)
from workbench.spec import ParameterSpec


def param(name: str, kind: str, **space: object) -> ParameterSpec:
    return ParameterSpec.model_validate({"name": name, "parameterType": kind, "feasibleSpace": space})


def test_distributions_per_type() -> None:
    params = [
        param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
        param("x", "double", min=-1, max=1),
        param("d", "double", min=0, max=1, step=0.25),
        param("n", "int", min="1", max="10"),
        param("k", "int", min=2, max=11, step=3),
        param("w", "int", min=1, max=1024, distribution="logUniform"),
        param("bs", "discrete", list=["16", "32", "64"]),
        param("m", "discrete", list=[0.9, 0.99]),
        param("opt", "categorical", list=["sgd", "adam"]),
    ]
    d = distributions(params)
    assert list(d) == [p.name for p in params]
    assert d["lr"] == FloatDistribution(0.001, 0.1, log=True)
    assert d["x"] == FloatDistribution(-1.0, 1.0)
    assert d["d"] == FloatDistribution(0.0, 1.0, step=0.25)
    assert d["n"] == IntDistribution(1, 10)
    assert d["k"] == IntDistribution(2, 11, step=3)
    assert d["w"] == IntDistribution(1, 1024, log=True)
    assert d["bs"] == CategoricalDistribution([16, 32, 64])
    assert d["m"] == CategoricalDistribution([0.9, 0.99])
    assert d["opt"] == CategoricalDistribution(["sgd", "adam"])


def test_discrete_keeps_written_number_type() -> None:
    # Whole numbers written as such stay ints; "1.0" is a float the user asked for.
    assert distributions([param("a", "discrete", list=[1, 2])])["a"].choices == (1, 2)
    assert distributions([param("a", "discrete", list=["1.0", "2.5"])])["a"].choices == (1.0, 2.5)
    assert distributions([param("a", "discrete", list=["1e3", "2"])])["a"].choices == (1000.0, 2.0)


def test_step_not_dividing_range_lowers_max_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = distributions([param("d", "double", min=0, max=1.05, step=0.1), param("k", "int", min=0, max=10, step=3)])
    assert d["d"] == FloatDistribution(0.0, 1.0, step=0.1)
    assert d["k"] == IntDistribution(0, 9, step=3)


def test_log_with_step_is_a_spec_error() -> None:
    with raises_at("spec.parameters[1].feasibleSpace.step", "logUniform", "step"):
        distributions(
            [
                param("x", "double", min=0, max=1),
                param("lr", "double", min=0.001, max=0.1, step=0.01, distribution="logUniform"),
            ]
        )
    with raises_at("spec.parameters[0].feasibleSpace.step", "logUniform"):
        distributions([param("w", "int", min=1, max=64, step=2, distribution="logUniform")])


def test_distributions_of_a_loaded_katib_style_spec_sample_in_bounds() -> None:
    spec = make_spec([X, N, OPT, BS])
    dists = distributions(spec.parameters)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask(dists)
        values = trial_values(spec.parameters, trial.params)
        assert -1.0 <= values["x"] <= 1.0 and isinstance(values["x"], float)
        assert 1 <= values["n"] <= 8 and isinstance(values["n"], int)
        assert values["opt"] in ("sgd", "adam", "ftrl")
        assert values["bs"] in (16, 32, 64) and isinstance(values["bs"], int)
        study.tell(trial, values["x"] ** 2)


def test_trial_values_types() -> None:
    params = [
        param("n", "int", min=1, max=5),
        param("x", "double", min=0, max=1),
        param("bs", "discrete", list=["16", "32"]),
        param("m", "discrete", list=["0.5", "1.5"]),
        param("opt", "categorical", list=["a", "b"]),
    ]
    out = trial_values(params, {"n": 3.0, "x": 1, "bs": 32, "m": 0.5, "opt": "b", "other": 1})
    assert out == {"n": 3, "x": 1.0, "bs": 32, "m": 0.5, "opt": "b"}
    assert [type(v) for v in out.values()] == [int, float, int, float, str]
    with pytest.raises(KeyError, match="'x'"):
        trial_values(params, {"n": 1})


def test_coerce_value() -> None:
    n = param("n", "int", min=1, max=9, step=2)
    assert coerce_value(n, "5") == 5 and coerce_value(n, 7.0) == 7
    for bad, message in [("4", "steps of 2"), ("11", "from 1 to 9"), ("2.5", "whole number"), ("x", "a number")]:
        with pytest.raises(ValueError, match=message):
            coerce_value(n, bad)
    x = param("x", "double", min=0, max=1)
    assert coerce_value(x, " 0.25 ") == 0.25
    with pytest.raises(ValueError, match="finite"):
        coerce_value(x, "nan")
    with pytest.raises(ValueError, match="a number"):
        coerce_value(x, True)
    bs = param("bs", "discrete", list=["16", "32"])
    assert coerce_value(bs, "32.0") == 32 and isinstance(coerce_value(bs, 16), int)
    with pytest.raises(ValueError, match=r"one of \[16, 32\]"):
        coerce_value(bs, 20)
    flag = param("flag", "categorical", list=["true", "false"])
    assert coerce_value(flag, True) == "true"
    with pytest.raises(ValueError, match="one of"):
        coerce_value(flag, "yes")


# --------------------------------------------------------------------------- grid


def test_grid_points_and_size() -> None:
    params = [
        param("d", "double", min=0, max=0.3, step=0.1),
        param("k", "int", min=1, max=10, step=4),
        param("n", "int", min=0, max=2),
        param("bs", "discrete", list=["16", "32"]),
        param("opt", "categorical", list=["a", "b", "c"]),
    ]
    points = grid_points(params)
    assert points == {
        "d": [0.0, 0.1, 0.2, 0.3],  # exact decimals, not 0.30000000000000004
        "k": [1, 5, 9],
        "n": [0, 1, 2],
        "bs": [16, 32],
        "opt": ["a", "b", "c"],
    }
    assert grid_size(params) == 4 * 3 * 3 * 2 * 3
    dists = distributions(params)
    for name, values in points.items():  # every grid point is inside its distribution
        for value in values:
            assert dists[name]._contains(dists[name].to_internal_repr(value))


def test_grid_needs_step_for_double() -> None:
    message = "grid search needs feasibleSpace.step for double parameter 'lr'"
    with raises_at("spec.parameters[1].feasibleSpace.step", message):
        grid_points([param("n", "int", min=0, max=2), param("lr", "double", min=0.1, max=1)])
    with raises_at("spec.parameters[0].feasibleSpace.step"):
        grid_size([param("lr", "double", min=0.1, max=1)])


def test_oversized_grid_is_refused_without_materializing() -> None:
    params = [param("a", "int", min=0, max=10**9), param("b", "int", min=0, max=10**9)]
    assert grid_size(params) == (10**9 + 1) ** 2
    with raises_at("spec.parameters", f"{MAX_GRID_POINTS:,}"):
        grid_points(params)


# --------------------------------------------------------------------------- signatures


def test_signature_is_json_and_describes_effective_space() -> None:
    params = [param("d", "double", min=0, max=1.05, step=0.1), param("bs", "discrete", list=["16", "32"])]
    sig = space_signature(params)
    assert json.loads(json.dumps(sig)) == sig
    same = space_signature([param("bs", "discrete", list=[16, 32]), param("d", "double", min=0, max=1.0, step=0.1)])
    check_compatible(sig, same)  # same space, other order and spelling: compatible
    check_compatible(json.loads(json.dumps(sig)), sig)


@pytest.mark.parametrize(
    ("new", "path", "fragments"),
    [
        ([param("x", "double", min=0, max=1)], "spec.parameters", ["'n' was removed"]),
        (
            [param("x", "double", min=0, max=1), param("n", "int", min=1, max=5), param("y", "int", min=0, max=1)],
            "spec.parameters[2]",
            ["'y' was added"],
        ),
        (
            [param("x", "double", min=0, max=2), param("n", "int", min=1, max=5)],
            "spec.parameters[0]",
            ["'x' changed from double [0.0, 1.0] to double [0.0, 2.0]"],
        ),
        (
            [param("n", "int", min=1, max=5), param("x", "int", min=0, max=1)],
            "spec.parameters[1]",
            ["'x' changed type from double to int"],
        ),
        (
            [param("x", "double", min=0.1, max=1, distribution="logUniform"), param("n", "int", min=1, max=5)],
            "spec.parameters[0]",
            ["logUniform", "use a new experiment name"],
        ),
    ],
)
def test_incompatible_spaces_are_explained(new: list[ParameterSpec], path: str, fragments: list[str]) -> None:
    old = space_signature([param("x", "double", min=0, max=1), param("n", "int", min=1, max=5)])
    with raises_at(path, *fragments):
        check_compatible(old, space_signature(new))


def test_changed_choices_are_incompatible() -> None:
    old = space_signature([param("opt", "categorical", list=["a", "b"])])
    with raises_at("spec.parameters[0]", "categorical ['a', 'b'] to categorical ['a', 'b', 'c']"):
        check_compatible(old, space_signature([param("opt", "categorical", list=["a", "b", "c"])]))
    with raises_at("spec.parameters[0]", "'opt' was added", "'o' was removed"):
        check_compatible(space_signature([param("o", "int", min=0, max=1)]), old)
