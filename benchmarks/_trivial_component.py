"""The trivial Python component timed by ``bench_local.py`` (imported by step processes).

Kept in its own module, like any real component: the step process loads this file,
calls ``loss`` with the trial's parameters and reads ``loss=...`` from its output.
It imports only the light ``workbench`` package.
"""

from __future__ import annotations

import workbench


def bowl(x: float, y: float) -> float:
    """The objective every contender computes: ``(x - 2)**2 + (y + 1)**2``."""
    return (x - 2.0) ** 2 + (y + 1.0) ** 2


@workbench.component
def loss(x: float, y: float) -> float:
    """Compute the loss, print it in Katib's StdOut format and return it."""
    value = bowl(x, y)
    print(f"loss={value}", flush=True)
    return value
