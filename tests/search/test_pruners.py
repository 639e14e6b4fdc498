"""Early stopping: Katib names build real Optuna pruners that prune a clearly bad trial."""

from __future__ import annotations

import optuna
import pytest
from search_helpers import MULTI, X, make_spec, raises_at

from workbench.search import EARLY_STOPPING, check_early_stopping, create_pruner, create_study_components


def test_no_early_stopping_is_nop() -> None:
    spec = make_spec()
    check_early_stopping(spec)
    assert isinstance(create_pruner(spec), optuna.pruners.NopPruner)


def test_medianstop_defaults_follow_katib() -> None:
    pruner = create_pruner(make_spec(early_stopping="medianstop"))
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert pruner._n_startup_trials == 3 and pruner._n_warmup_steps == 4
    pruner = create_pruner(
        make_spec(early_stopping="medianstop", early_settings={"min_trials_required": "5", "start_step": "0"})
    )
    assert pruner._n_startup_trials == 5 and pruner._n_warmup_steps == 0


def test_pruner_types() -> None:
    sha = create_pruner(make_spec(early_stopping="successivehalving", early_settings={"reduction_factor": "3"}))
    assert isinstance(sha, optuna.pruners.SuccessiveHalvingPruner)
    hb = create_pruner(make_spec(early_stopping="hyperband", early_settings={"max_resource": "27"}))
    assert isinstance(hb, optuna.pruners.HyperbandPruner)


def _curve(quality: float, steps: int) -> list[float]:
    """A loss curve: good trials (quality 0) go down towards 0, bad ones stay high."""
    return [quality + 1.0 / (step + 1) for step in range(steps)]


def _run_until_pruned(spec_kwargs: dict, good: int, steps: int) -> tuple[optuna.Study, list[bool]]:
    spec = make_spec([X], **spec_kwargs)
    sampler, pruner, directions = create_study_components(spec)
    study = optuna.create_study(sampler=sampler, pruner=pruner, directions=directions)
    outcomes = []
    for index in range(good + 4):
        bad = index >= good
        trial = study.ask({"x": optuna.distributions.FloatDistribution(-1, 1)})
        pruned = False
        for step, value in enumerate(_curve(100.0 if bad else 0.01 * index, steps), start=1):
            trial.report(value, step)
            if trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, _curve(100.0 if bad else 0.01 * index, steps)[-1])
        if bad:
            outcomes.append(pruned)
    return study, outcomes


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("medianstop", {"min_trials_required": "2", "start_step": "1"}),
        ("successivehalving", {"min_resource": "1", "reduction_factor": "2"}),
        ("hyperband", {"min_resource": "1", "max_resource": "9", "reduction_factor": "3"}),
    ],
)
def test_pruners_prune_a_clearly_bad_trial(name: str, settings: dict[str, str]) -> None:
    study, outcomes = _run_until_pruned(
        {"algorithm": "random", "settings": {"random_state": "0"}, "early_stopping": name, "early_settings": settings},
        good=8,
        steps=9,
    )
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE  # nothing to compare the first trial with
    assert any(outcomes), f"{name}: no bad trial was pruned"
    if name == "medianstop":
        assert all(outcomes)  # every bad trial is worse than the median from the first report on


def test_medianstop_waits_for_start_step() -> None:
    study, outcomes = _run_until_pruned(
        {"early_stopping": "medianstop", "early_settings": {"min_trials_required": "2", "start_step": "5"}},
        good=3,
        steps=9,
    )
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(max(t.intermediate_values) >= 5 for t in pruned)


# --------------------------------------------------------------------------- errors


def test_unknown_early_stopping_algorithm() -> None:
    with raises_at("spec.earlyStopping.algorithmName", "unknown early stopping algorithm 'median'", "medianstop"):
        check_early_stopping(make_spec(early_stopping="median"))
    with raises_at("spec.earlyStopping.algorithmName", "supported: hyperband, medianstop, successivehalving"):
        create_pruner(make_spec(early_stopping="enas"))


@pytest.mark.parametrize(
    ("name", "settings", "path", "fragments"),
    [
        ("medianstop", {"min_trials": "3"}, "[0].name", ["accepted settings: min_trials_required, start_step"]),
        ("medianstop", {"start_step": "-1"}, "[0].value", ["start_step: expected a whole number >= 0"]),
        ("medianstop", {"min_trials_required": "two"}, "[0].value", ["whole number"]),
        ("successivehalving", {"reduction_factor": "1"}, "[0].value", [">= 2"]),
        ("successivehalving", {"min_resource": "0"}, "[0].value", ["auto or a whole number >= 1"]),
        ("successivehalving", {"min_early_stopping_rate": "-1"}, "[0].value", [">= 0"]),
        ("hyperband", {"min_resource": "auto"}, "[0].value", ["whole number >= 1"]),
        ("hyperband", {"max_resource": "x"}, "[0].value", ["auto or a whole number"]),
        ("hyperband", {"min_resource": "10", "max_resource": "3"}, "[1].value", ["at least min_resource (10)"]),
        ("hyperband", {"eta": "3"}, "[0].name", ["min_resource, max_resource, reduction_factor"]),
    ],
)
def test_bad_early_stopping_settings(name: str, settings: dict[str, str], path: str, fragments: list[str]) -> None:
    spec = make_spec(early_stopping=name, early_settings=settings)
    with raises_at(f"spec.earlyStopping.algorithmSettings{path}", *fragments):
        check_early_stopping(spec)
    with raises_at(f"spec.earlyStopping.algorithmSettings{path}"):
        create_pruner(spec)


def test_early_stopping_needs_a_single_objective() -> None:
    with raises_at("spec.earlyStopping", "multi-objective", "loss, latency"):
        check_early_stopping(make_spec(early_stopping="medianstop", objective=MULTI))


def test_every_early_stopping_name_is_documented() -> None:
    assert set(EARLY_STOPPING) == {"medianstop", "successivehalving", "hyperband"}
