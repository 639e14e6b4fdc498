"""Step logs of a run, and why a failed run failed, read from the workspace's ``runs/`` folder."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.workspace import Workspace

#: The line the engine writes into a step's log when the step fails.
_FAILED_LINE = re.compile(r"^\[workbench\] step \S+ failed")


def step_logs(workspace: Workspace, run_id: str) -> dict[str, Path]:
    """The log file of every step of a run (trial), by step name."""
    folder = workspace.runs / run_id
    if not run_id or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.log"))}


def failure_detail(workspace: Workspace, run_id: str) -> tuple[str, Path | None]:
    """Why a run failed, from its logs: the last line a failed step printed (e.g. the exception) and that log.

    ``("", None)`` when no step log records a failure.
    """
    logs = step_logs(workspace, run_id)
    if not logs:
        return "", None
    from workbench.engine.run import read_log_tail

    for path in logs.values():
        try:
            lines = read_log_tail(path, 1 << 20)[0].splitlines()  # the end of a rotated log is in its tail
        except OSError:
            continue
        failed_at = next((i for i in range(len(lines) - 1, -1, -1) if _FAILED_LINE.match(lines[i])), None)
        if failed_at is None:
            continue
        own = [line.strip() for line in lines[:failed_at] if line.strip() and not line.startswith("[workbench]")]
        return (own[-1] if own else ""), path
    return "", None
