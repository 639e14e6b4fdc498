"""Side-by-side tables for the Compare page: trials or experiments as columns, with differences marked."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _same(a: Any, b: Any) -> bool:
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return str(a) == str(b)


def side_by_side(
    records: dict[str, dict[str, Any]],
    baseline: str | None = None,
    differences_only: bool = False,
) -> pd.DataFrame:
    """One row per field, one column per record (``{label: {field: value}}``).

    With a ``baseline`` label, a ``differs`` column says whether any other record differs from
    it on that field, and numeric fields get ``Δ <label>`` columns (value minus the baseline's).
    ``differences_only`` keeps the fields that differ.

    Example:
        >>> t = side_by_side({"a": {"x": 1, "y": "l2"}, "b": {"x": 3, "y": "l2"}}, baseline="a", differences_only=True)
        >>> t.index.tolist(), t["Δ b"].tolist()
        (['x'], [2.0])
    """
    labels = list(records)
    fields = list(dict.fromkeys(f for r in records.values() for f in r))
    frame = pd.DataFrame({lab: [records[lab].get(f) for f in fields] for lab in labels}, index=fields, dtype=object)
    frame.index.name = "field"
    base = baseline if baseline in labels else (labels[0] if labels else None)
    if base is None:
        return frame
    others = [lab for lab in labels if lab != base]
    frame["differs"] = [any(not _same(records[base].get(f), records[o].get(f)) for o in others) for f in fields]
    for o in others:
        deltas = []
        for f in fields:
            a, b = records[base].get(f), records[o].get(f)
            num = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            deltas.append(float(b) - float(a) if num else None)
        if any(d is not None for d in deltas):
            frame[f"Δ {o}"] = deltas
    if differences_only:
        frame = frame[frame["differs"]]
    return frame


def trial_record(row: pd.Series) -> dict[str, Any]:
    """The fields of one trial-table row worth comparing (state, parameters, metrics, duration)."""
    out: dict[str, Any] = {"state": row.get("state")}
    for key, value in row.items():
        if str(key).startswith(("params.", "metrics.")):
            out[str(key)] = value.item() if hasattr(value, "item") else value
    out["duration_s"] = row.get("duration_s")
    out["intermediate_steps"] = row.get("intermediate_steps")
    return out


def experiment_record(summary: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The fields of an experiment worth comparing (summary counts, best value, search settings, space)."""
    s = spec.get("spec") or {}
    out: dict[str, Any] = {
        "state": summary.get("state"),
        "algorithm": summary.get("algorithm"),
        "objective": ", ".join(
            f"{d} {o}" for o, d in zip(summary.get("objective", []), summary.get("directions", []), strict=False)
        ),
        "best value": summary.get("best_value"),
        "best trial": summary.get("best_trial"),
        "Pareto front": summary.get("front") or None,
        "finished": summary.get("finished"),
        "max trials": summary.get("max_trials"),
        "failed": summary.get("failed"),
        "pruned": summary.get("pruned"),
        "parallel": s.get("parallelTrialCount"),
        "duration s": summary.get("duration"),
        "early stopping": (s.get("earlyStopping") or {}).get("algorithmName"),
    }
    for setting in (s.get("algorithm") or {}).get("algorithmSettings") or []:
        out[f"setting {setting.get('name')}"] = setting.get("value")
    for p in s.get("parameters") or []:
        fs = p.get("feasibleSpace") or {}
        if fs.get("list"):
            space = f"{p.get('parameterType')} {fs.get('list')}"
        else:
            space = f"{p.get('parameterType')} [{fs.get('min')}, {fs.get('max')}]"
            if fs.get("distribution"):
                space += f" {fs['distribution']}"
        out[f"param {p.get('name')}"] = space
    return out
