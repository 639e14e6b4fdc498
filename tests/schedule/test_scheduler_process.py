"""`workbench scheduler` as a real process: killed with SIGKILL and restarted mid-schedule, every due occurrence
fires exactly once, each as a real pipeline run in a process of its own; SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from store_helpers import write_pipelines

from workbench.runs import store_of
from workbench.schedule import create_schedule
from workbench.workspace import Workspace


def start(home, log):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("WORKBENCH_HOME", None)
    return subprocess.Popen([sys.executable, "-m", "workbench", "scheduler", "--home", str(home), "--interval", "0.5"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home.parent)  # fmt: skip


def wait_started(path, n, timeout=120):
    """Until the scheduler log says ``started`` ``n`` times (start-up is slow on a loaded machine)."""
    deadline = time.time() + timeout
    while path.read_text().count("started on") < n:
        assert time.time() < deadline, path.read_text()
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.heavy  # ~3 minutes on two cores: dozens of runs start while the scheduler is down
def test_a_killed_and_restarted_scheduler_fires_every_occurrence_once(tmp_path):
    pipes = write_pipelines(tmp_path / "pipes")
    home = tmp_path / "home"
    ws = Workspace.at(home)
    sched = create_schedule(ws, "every2s", pipeline=pipes["demo"], every="2s", max_concurrency=50, catchup=True,
                            params={"n": 4}, metric_names=["loss"])  # fmt: skip
    store = store_of(ws)
    log = (tmp_path / "scheduler.log").open("w")
    first = start(home, log)
    wait_started(tmp_path / "scheduler.log", 1)
    time.sleep(7)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = time.time()
    time.sleep(5)  # down: occurrences are missed meanwhile
    second = start(home, log)
    wait_started(tmp_path / "scheduler.log", 2)
    restarted_at = time.time()
    time.sleep(6)
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0, (tmp_path / "scheduler.log").read_text()
    fired = sorted(o.fire_at for o in store.occurrences(sched.id))
    assert len(fired) == len(set(fired)), "an occurrence fired twice"
    expected = list(range(fired[0], fired[-1] + 1, 2))
    assert fired == expected, f"missed occurrences: {sorted(set(expected) - set(fired))}"
    assert fired[0] == int(sched.created) + 2
    # the restarted scheduler caught up on what was missed while it was down, then kept going
    assert any(killed_at + 1 < t < restarted_at for t in fired) and fired[-1] >= int(restarted_at)
    # every occurrence is a real run; they finish on their own (they outlive the scheduler)
    deadline = time.time() + 180
    while time.time() < deadline:
        runs = store.list_runs(schedule="every2s")
        if runs and all(r.done for r in runs):
            break
        time.sleep(1)
    runs = store.list_runs(schedule="every2s")
    assert sorted(r.fire_at for r in runs) == fired
    assert {r.state for r in runs} == {"Succeeded"}, [(r.state, r.message) for r in runs if r.state != "Succeeded"]
    assert {r.metrics.get("loss") for r in runs} == {0.25}
    assert {o.state for o in store.occurrences(sched.id)} == {"Succeeded"}
