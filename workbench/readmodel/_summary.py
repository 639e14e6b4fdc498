"""The experiment at a glance: the best trial, what matters (top parameters and their best ranges), the sweep.

:func:`what_matters` turns a parameter importance table (:func:`param_importance`) and the trial table
into one sentence per top parameter: how important it is and where the best trials have it, next to
the range that was searched. :func:`best_of` is the best succeeded trial for one objective. The
Experiment page's summary card shows both; neither optuna-dashboard nor the MLflow UI has the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.format import format_value
from workbench.readmodel._model import ExperimentData

#: Share of the succeeded trials (by the objective) whose parameter values make "the best range".
BEST_SHARE = 0.2
#: The best range is taken over at least this many trials (all of them when there are fewer).
BEST_MIN = 3


@dataclass
class Finding:
    """One top parameter: its importance and where the best trials put it, as a sentence."""

    param: str
    importance: float
    #: ``(low, high)`` of the best trials for a numeric parameter, ``None`` for a categorical one.
    best_range: tuple[float, float] | None
    #: The values the best trials use, most used first, for a categorical parameter.
    best_values: list[Any]
    sentence: str


def best_of(data: ExperimentData, objective: int = 0) -> pd.Series | None:
    """The best succeeded trial for one objective (its row of the trial table), or ``None``."""
    col = data.objective_column(objective)
    t = data.trials
    if col not in t.columns:
        return None
    ok = t[(t["state"] == "Succeeded") & t[col].notna()]
    if ok.empty:
        return None
    direction = data.directions[objective] if objective < len(data.directions) else "minimize"
    index = ok[col].idxmax() if direction == "maximize" else ok[col].idxmin()
    return ok.loc[index]


def best_trials(data: ExperimentData, objective: int = 0, share: float = BEST_SHARE) -> pd.DataFrame:
    """The best ``share`` of the succeeded trials for one objective (at least :data:`BEST_MIN`), best first."""
    col = data.objective_column(objective)
    t = data.trials
    if col not in t.columns:
        return t.iloc[:0]
    ok = t[(t["state"] == "Succeeded") & t[col].notna()]
    direction = data.directions[objective] if objective < len(data.directions) else "minimize"
    ranked = ok.sort_values(col, ascending=direction != "maximize", kind="stable")
    return ranked.head(max(BEST_MIN, math.ceil(len(ranked) * share)))


def what_matters(data: ExperimentData, importance: pd.DataFrame, objective: int = 0, top: int = 3) -> list[Finding]:
    """The ``top`` parameters by importance, each with the range (or the values) of the best trials.

    Example (``data`` the quickstart experiment, ``importance`` its PED-ANOVA table)::

        x (importance 0.71): the best 6 of 30 succeeded trials have x from 1.62 to 2.41 (searched -5 to 5).
    """
    if importance.empty:
        return []
    best = best_trials(data, objective)
    n_ok = _succeeded(data, objective)
    if best.empty:
        return []
    out = []
    for param, value in zip(importance["param"], importance["importance"], strict=True):
        if len(out) >= top:
            break
        col = f"params.{param}"
        if col not in best.columns:
            continue
        values = best[col].dropna()
        if values.empty:
            continue
        head = f"{param} (importance {format_value(float(value), 2)}): the best {len(best)} of {n_ok} succeeded trials"
        if _numeric(values):
            low, high = float(values.min()), float(values.max())
            searched = _searched(data, param)
            where = (
                f"have {param} = {format_value(low)}"
                if low == high
                else (f"have {param} from {format_value(low)} to {format_value(high)}")
            )
            sentence = f"{head} {where}" + (f" (searched {searched})." if searched else ".")
            out.append(Finding(param, float(value), (low, high), [], sentence))
        else:
            counts = values.astype(str).value_counts()
            used = [v for v in counts.index]
            top_value, top_count = counts.index[0], int(counts.iloc[0])
            sentence = f"{head}: {top_count} use {param} = {top_value}"
            if len(counts) > 1:
                sentence += ", then " + ", ".join(f"{v} ({int(c)})" for v, c in counts.iloc[1:3].items())
            out.append(Finding(param, float(value), None, used, sentence + "."))
    return out


def _succeeded(data: ExperimentData, objective: int) -> int:
    col = data.objective_column(objective)
    t = data.trials
    return int(((t["state"] == "Succeeded") & t[col].notna()).sum()) if col in t.columns else 0


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _searched(data: ExperimentData, param: str) -> str:
    """The searched range of a numeric parameter, from its distribution (``""`` if it has none)."""
    dist = data.distributions.get(param)
    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    if low is None or high is None:
        return ""
    scale = ", log scale" if getattr(dist, "log", False) else ""
    return f"{format_value(low)} to {format_value(high)}{scale}"
