"""A 200-trial sweep on the Kubernetes backend while the test API server injects every fault kind at once.

The faults and which trials they hit (by the pod's trial and attempt labels), and what must follow; the
step retries once (``retry.limit: 1``), launch errors are not retried:

- trial % 20 == 3: every attempt OOMKilled -> Failed after 2 pods, the message names OOMKilled;
- trial % 20 == 7: the first attempt evicted -> the retry succeeds: Succeeded with 2 pods;
- trial % 20 == 11: every attempt evicted -> Failed after 2 pods, the message says evicted;
- trial % 20 == 15: unschedulable longer than ``unschedulableTimeout`` -> Failed (1 pod, deleted);
- trial % 40 == 19: the image cannot be pulled -> Failed at once (1 pod);
- every other trial -> Succeeded with 1 pod;
- across the run, whoever they hit: 429 storms (``Retry-After: 0``) and 500 storms, creates whose answer
  is lost after they took effect, watch and log streams cut mid-flight, watches resumed into
  410 Gone, a lagging watch cache. The backend retries and resumes them all: they change no
  trial's outcome.

35 trials fail, under ``maxFailedTrialCount`` 40: the experiment ends Succeeded, its budget of 200
trials used. Nothing is Killed (nothing stops the experiment: stopping has its own tests). No trial
runs twice, no pod is created twice for one attempt, and no pod is left once the sweep ends.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from k8s_helpers import backend, restricted_violations, wait_for

from workbench.backends._k8s_pod import LABEL_ATTEMPT, LABEL_TRIAL
from workbench.search import _storage as st
from workbench.search.controller import Controller, trial_state
from workbench.spec import experiment_from_dict
from workbench.testing.k8s_server import FakeCluster
from workbench.tracking._base import BaseRecorder
from workbench.workspace import Workspace

TRIALS = 200
PARALLEL = 12
MAX_FAILED = 40
STEP = """
import sys, time
x, y = float(sys.argv[1]), float(sys.argv[2])
print("epoch 1", flush=True)
time.sleep(0.3)
print(f"loss={(x - 2) ** 2 + (y + 1) ** 2}", flush=True)
"""


def fate(trial: int) -> str:
    """What the injected faults make of a trial: its expected state and why."""
    if trial % 20 == 3:
        return "oom"
    if trial % 20 == 7:
        return "evicted once"
    if trial % 20 == 11:
        return "evicted"
    if trial % 20 == 15:
        return "unschedulable"
    if trial % 40 == 19:
        return "image pull"
    return "ok"


EXPECTED = {  # fate -> (trial state, pods created, words the trial's message must hold)
    "oom": ("Failed", 2, "OOMKilled (exit code 137): the container ran out of memory"),
    "evicted once": ("Succeeded", 2, ""),
    "evicted": ("Failed", 2, "was evicted: The node was low on resource: memory."),
    "unschedulable": ("Failed", 1, "could not be scheduled for 1s: 0/1 nodes are available"),
    "image pull": ("Failed", 1, "the image cannot be pulled ("),
    "ok": ("Succeeded", 1, ""),
}


def labelled(pod: dict[str, Any]) -> tuple[int, int]:
    labels = pod["metadata"].get("labels") or {}
    return int(labels[LABEL_TRIAL]), int(labels[LABEL_ATTEMPT])


def hits(*fates: str, attempt: int | None = None) -> Any:
    def match(pod: dict[str, Any]) -> bool:
        trial, att = labelled(pod)
        return fate(trial) in fates and (attempt is None or att == attempt)

    return match


class Storms:
    """Request faults and dropped streams all along the run.

    A storm of 4 (or 5) failed answers starts only after ``CALM`` answers without a fault since the
    last one, so a request retried 8 times outlives any storm even when a busy machine slows the
    backend down (storms started by the clock alone could follow each other back to back).
    """

    CALM = 12

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="storms", daemon=True)

    def _run(self) -> None:
        faults, tick, storms = self.cluster.faults, 0, 0
        calm_from: int | None = 0  # clean answers when the last storm was seen over
        while not self.stop.wait(0.1):
            tick += 1
            if faults.pending_requests() == 0 and calm_from is None:
                calm_from = faults.clean_answers
            if calm_from is not None and faults.clean_answers - calm_from >= self.CALM:
                calm_from, storms = None, storms + 1
                if storms % 2:
                    faults.fail_requests(429, count=4, retry_after=0)
                else:
                    faults.fail_requests(500, count=4)
                if storms % 3 == 0:  # a create goes through but its answer is lost
                    faults.fail_requests(500, count=1, method="POST", path=r"/pods$", commit=True)
            # By the clock (a sweep lasts 10 s at least): every 2 s the watch cache lags for 0.5 s and the
            # cut watch is told 410 Gone when it resumes; every 0.5 s the streams are cut.
            if tick % 20 == 10:
                faults.lag_watches(0.5)  # a lost create answer is then read back with a GET
            elif tick % 20 == 15:
                faults.lag_watches(0)
            if tick % 5 == 0:
                if tick % 20 == 0:
                    faults.expire_watches(1)  # the resumed watch is told 410 Gone and relists
                self.cluster.drop_watches()

    def __enter__(self) -> Storms:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.heavy
def test_200_trials_under_every_fault_at_once(tmp_path: Path) -> None:
    step = {"name": "train", "inputs": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
            "implementation": {"container": {"image": "workbench:latest", "command": [
                "python3", "-c", STEP, {"inputValue": "x"}, {"inputValue": "y"}]}}}  # fmt: skip
    doc = {
        "name": "k8s-load",
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
        "parallelTrialCount": PARALLEL,
        "maxTrialCount": TRIALS,
        "maxFailedTrialCount": MAX_FAILED,
        "parameters": [{"name": n, "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}
                       for n in ("x", "y")],  # fmt: skip
        "trialTemplate": {"pipeline": {
            "name": "load", "parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
            "steps": [{"name": "train", "component": step, "retry": {"limit": 1, "backoff": 0},
                       "arguments": {"x": "{{params.x}}", "y": "{{params.y}}"}}]}},
    }  # fmt: skip
    home = tmp_path / "home"
    ws = Workspace.at(home)
    spec = experiment_from_dict(json.loads(json.dumps(doc)), tmp_path)
    cluster = FakeCluster(default_workdir=str(tmp_path), validate=True, bookmark_interval=0.5).start()
    faults = cluster.faults
    faults.oom(hits("oom"), after=0.1)
    faults.evict(hits("evicted once", attempt=1), after=0.1)
    faults.evict(hits("evicted"), after=0.1)
    faults.unschedulable(hits("unschedulable"))
    faults.image_pull_error(hits("image pull"))
    b = backend(cluster, home, unschedulable_timeout=1.0)
    started = time.monotonic()
    try:
        with Storms(cluster):
            summary = Controller(spec, ws, backend=b, recorder=BaseRecorder(), grace_period=2.0).run()
        elapsed = time.monotonic() - started
        wait_for(lambda: not cluster.pods(), 15, "every pod to be deleted")
        left = cluster.running_processes()
        stats = b.stats
    finally:
        b.close()
        cluster.stop()
    injected = dict(cluster.injected)
    print(f"\nk8s load: {TRIALS} trials, parallel {PARALLEL}, {elapsed:.1f}s, {len(cluster.created)} pods created; "
          f"faults injected {injected}; backend retries {stats.get('retry', 0)}, watch resumes "
          f"{stats.get('resumes', 0)}, relists {stats.get('relists', 0)}, pods read back "
          f"{cluster.calls[('get', '', 'pods', 'default')]}", file=sys.stderr)  # fmt: skip

    study = optuna.load_study(study_name="k8s-load", storage=st.open_storage(ws.optuna_url))
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(TRIALS))  # exactly maxTrialCount, none twice
    assert len({tuple(sorted(t.params.items())) for t in trials}) == TRIALS  # no parameters asked twice
    pods = collections.Counter(labelled(p) for p in cluster.created)
    assert max(pods.values()) == 1, [k for k, v in pods.items() if v > 1]  # one pod per attempt, never two
    wrong = []
    for t in trials:
        state, npods, words = EXPECTED[fate(t.number)]
        message = t.user_attrs.get(st.T_MESSAGE, "")
        attempts = sorted(a for (n, a) in pods if n == t.number)
        if (trial_state(t), attempts) != (state, list(range(1, npods + 1))) or words not in message:
            wrong.append((t.number, fate(t.number), trial_state(t), attempts, message))
        if state == "Succeeded" and t.values is None:
            wrong.append((t.number, "no objective value"))
    assert not wrong, wrong
    failed = sum(EXPECTED[fate(n)][0] == "Failed" for n in range(TRIALS))
    assert summary.state == "Succeeded" and summary.message == f"the budget of {TRIALS} trials is used", summary
    assert summary.counts == {"Succeeded": TRIALS - failed, "Failed": failed}, summary.counts
    assert left == 0  # no pod process outlived its pod
    assert not cluster.invalid
    assert not [v for p in cluster.created for v in restricted_violations(p["spec"], p["metadata"]["name"])]
    # Every fault kind was injected, many times over.
    assert injected["oom"] == 20 and injected["evict"] == 30  # 10 OOM trials x 2, 10 + 10 x 2 evictions
    assert injected["unschedulable"] == 10 and injected["pull"] == 5
    assert injected["429"] >= 40 and injected["500"] >= 40 and injected["500 after commit"] >= 5
    assert injected["streams dropped"] >= 20 and injected["410"] >= 2 and injected["watch lag"] >= 2
    assert stats["relists"] >= 3 and stats["resumes"] >= 10  # the one watch came back after every cut
