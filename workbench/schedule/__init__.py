"""Recurring runs: schedules (a cron or periodic trigger that starts a pipeline run or an experiment),
the scheduler that fires them exactly once per occurrence, and Kubernetes CronJobs.

Example:
    >>> from workbench.schedule import Trigger
    >>> Trigger.parse(every="30m").describe()
    'every 30m'
"""

from __future__ import annotations

from workbench.schedule._scheduler import (
    ProcessLauncher,
    Scheduler,
    create_schedule,
    cursor_of,
    execute_occurrence,
    next_fire,
    occurrence_name,
    trigger_of,
)
from workbench.schedule._trigger import MAX_CATCHUP, Trigger, iso, parse_time

__all__ = [
    "MAX_CATCHUP",
    "ProcessLauncher",
    "Scheduler",
    "Trigger",
    "create_schedule",
    "cursor_of",
    "execute_occurrence",
    "iso",
    "next_fire",
    "occurrence_name",
    "parse_time",
    "trigger_of",
]
