"""What runs inside a step. Imports nothing heavy: a step must start fast.

``report(accuracy=0.93, step=3)`` sends metrics to the collector through the step's
standard output (one marker line, flushed at once), so intermediate values reach
the pruner while the step runs.

Example:
    >>> report(loss=0.25, step=1)
    @@workbench:metrics {"loss": 0.25, "step": 1}
"""

from __future__ import annotations

import json
import math
import sys

#: The prefix of metric lines written by :func:`report`.
METRIC_MARKER = "@@workbench:metrics "


def report(step: int | None = None, **metrics: float) -> None:
    """Report metric values (with an optional step, such as an epoch number)."""
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(loss=0.1)")
    payload: dict[str, float | int] = {}
    for name, value in metrics.items():
        number = float(value)
        if math.isnan(number):
            raise ValueError(f"metric {name!r} is NaN")
        payload[name] = number
    if step is not None:
        payload["step"] = int(step)
    sys.stdout.write(METRIC_MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


__all__ = ["METRIC_MARKER", "report"]
