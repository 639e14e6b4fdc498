"""Synthetic objective for demos, tests and benchmarks: instant, deterministic, no dependencies.

The loss of a trial is a bowl with its minimum at ``x=2, y=-1`` that "trains" over
epochs: every epoch reports a loss that decays towards that bowl, so intermediate
values rank trials the same way their final values do and pruners can act early.
Imports only the light ``workbench`` package so that a step starts in milliseconds.
"""

from __future__ import annotations

import workbench


def bowl(x: float, y: float) -> float:
    """The value a trial converges to: ``(x - 2)**2 + (y + 1)**2``."""
    return (x - 2.0) ** 2 + (y + 1.0) ** 2


def loss_at(x: float, y: float, epoch: int) -> float:
    """The loss after ``epoch`` epochs: the bowl plus a term that halves every epoch."""
    base = bowl(x, y)
    return base + (1.0 + base) * 0.5**epoch


@workbench.component
def evaluate(x: float, y: float, epochs: int = 10) -> float:
    """Evaluate the synthetic objective: report the loss every epoch and return the final loss."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    loss = float("nan")
    for epoch in range(1, epochs + 1):
        loss = loss_at(x, y, epoch)
        workbench.report(loss=loss, step=epoch)
    print(f"loss={loss}", flush=True)  # Katib StdOut format: name=value
    return loss
