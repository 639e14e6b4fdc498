"""Parameter importance for the Experiment page, with a bounded cost.

Default: Optuna's PED-ANOVA (``optuna.importance.PedAnovaImportanceEvaluator``), which
needs no model fit and takes well under a second even on 10,000 trials. fANOVA
(``FanovaImportanceEvaluator``, a random forest) is on request: in Optuna's implementation it
takes about 10 s for 500 trials of 10 parameters on 2 cores, so it is fitted on a seeded
random sample of at most :data:`FANOVA_MAX_TRIALS` succeeded trials, with
:data:`FANOVA_TREES` trees. PED-ANOVA uses a seeded random sample of :data:`PEDANOVA_MAX_TRIALS` above that
many succeeded trials. Both are given the trials directly (not an in-memory study: building one copies
every trial deeply, seconds for 10,000 trials).

The result says which method ran on how many trials, and cautions below :func:`reliable_minimum` trials:
with few trials the ranking is a hint, and the two methods often disagree.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd

from workbench.readmodel._model import ExperimentData

METHODS = ("ped-anova", "fanova")
FANOVA_MAX_TRIALS = 200
FANOVA_TREES = 16
PEDANOVA_MAX_TRIALS = 5_000
#: Below this many succeeded trials (or 5 per parameter, if more) importance comes with a caution.
MIN_RELIABLE_TRIALS = 30
LABELS = {"ped-anova": "PED-ANOVA", "fanova": "fANOVA"}


def reliable_minimum(n_params: int) -> int:
    """The number of succeeded trials below which an importance ranking is only a hint.

    Example:
        >>> reliable_minimum(2), reliable_minimum(10)
        (30, 50)
    """
    return max(MIN_RELIABLE_TRIALS, 5 * n_params)


def param_importance(
    data: ExperimentData, method: str = "ped-anova", objective: int = 0, seed: int = 0
) -> pd.DataFrame:
    """Importance of every parameter for one objective: columns ``param``, ``importance`` (sums to 1), sorted.

    ``attrs`` of the result: ``note`` (the method and how many trials were used, or why none could be),
    ``method`` (its label), ``trials`` (succeeded trials used), ``caution`` (why to read it as a hint, or "").
    """
    if method not in METHODS:
        raise ValueError(f"unknown importance method {method!r}: choose one of {METHODS}")
    col = data.objective_column(objective)
    frame = data.trials
    ok = frame[(frame["state"] == "Succeeded") & frame[col].notna()] if col in frame.columns else frame.iloc[:0]
    params = [p for p in data.params if p in data.distributions]
    empty = pd.DataFrame(columns=["param", "importance"])
    empty.attrs.update(method=LABELS[method], trials=0, caution="")
    if len(ok) < 2 or not params:
        empty.attrs["note"] = "needs at least 2 succeeded trials"
        return empty
    cap = FANOVA_MAX_TRIALS if method == "fanova" else PEDANOVA_MAX_TRIALS
    used = ok.sample(n=cap, random_state=seed) if len(ok) > cap else ok
    direction = data.directions[objective] if objective < len(data.directions) else "minimize"
    trials = []
    dist_of = data.distributions
    for number, row in zip(
        used["number"], used[[f"params.{p}" for p in params] + [col]].itertuples(index=False, name=None), strict=True
    ):
        values = {p: _plain(v) for p, v in zip(params, row[:-1], strict=True) if _present(v)}
        try:
            for p, v in values.items():
                if not dist_of[p]._contains(dist_of[p].to_internal_repr(v)):
                    raise ValueError(p)
        except (ValueError, TypeError):  # a value outside today's distribution (an older trial): left out
            continue
        trials.append(
            optuna.trial.FrozenTrial(
                number=int(number),
                trial_id=int(number),
                state=optuna.trial.TrialState.COMPLETE,
                value=float(row[-1]),
                values=None,
                datetime_start=None,
                datetime_complete=None,
                params=values,
                distributions={p: dist_of[p] for p in values},
                user_attrs={},
                system_attrs={},
                intermediate_values={},
            )
        )
    study = _Trials(trials, direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "fanova":
            evaluator: Any = optuna.importance.FanovaImportanceEvaluator(n_trees=FANOVA_TREES, seed=seed)
        else:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        try:
            result = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)  # type: ignore[arg-type]
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            empty.attrs["note"] = f"cannot compute importance: {err}"
            return empty
    out = pd.DataFrame({"param": list(result), "importance": [float(v) for v in result.values()]})
    out = out.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    label = "PED-ANOVA" if method == "ped-anova" else f"fANOVA ({FANOVA_TREES} trees)"
    sampled = f" (a random sample of {len(used):,} of {len(ok):,})" if len(used) < len(ok) else ""
    out.attrs["note"] = f"{label} on {len(trials):,} succeeded trials{sampled}"
    out.attrs.update(method=LABELS[method], trials=len(trials), caution=_caution(len(ok), len(params)))
    return out


def _caution(succeeded: int, n_params: int) -> str:
    minimum = reliable_minimum(n_params)
    if succeeded >= minimum:
        return ""
    return (
        f"only {succeeded} succeeded trials (fewer than {minimum} for {n_params} parameters): "
        "read this ranking as a hint, it can change with more trials"
    )


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


class _Trials:
    """What Optuna's importance evaluators read from a study: its completed trials and its direction.

    Building an in-memory ``optuna.Study`` copies every trial deeply (seconds for 10,000 trials);
    the evaluators only call ``get_trials``, ``directions`` and ``_is_multi_objective``.
    """

    def __init__(self, trials: list[optuna.trial.FrozenTrial], direction: str) -> None:
        self._trials = trials
        self.directions = [
            optuna.study.StudyDirection.MAXIMIZE if direction == "maximize" else optuna.study.StudyDirection.MINIMIZE
        ]
        self.direction = self.directions[0]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]

    @property
    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return list(self._trials)

    def _is_multi_objective(self) -> bool:
        return False
