"""The run store on SQLite and on a real PostgreSQL server: runs are immutable once finished, occurrences are
recorded once, max_concurrency is counted in the same transaction."""

from __future__ import annotations

import time

import pytest

from workbench.errors import WorkbenchError
from workbench.runs import RunRecord, RunStore, ScheduleRecord


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = RunStore(url)
    yield s
    s.close()


def record(run_id: str, namespace: str = "default", experiment: str = "Default", **kw) -> RunRecord:
    return RunRecord(run_id=run_id, namespace=namespace, experiment=experiment, pipeline="p",
                     document={"kind": "Pipeline"}, parameters={"n": 3}, digests={"s": "abc"}, **kw)  # fmt: skip


def test_a_run_is_claimed_once_and_immutable_once_finished(store):
    store.create_run(record("a" * 32))
    assert store.claim_run("a" * 32) is True
    assert store.claim_run("a" * 32) is False  # a second process does not run it too
    store.update_run("a" * 32, steps={"s": {"state": "Running"}})
    store.finish_run("a" * 32, "Succeeded", metrics={"loss": 0.5}, steps={"s": {"state": "Succeeded"}})
    done = store.get_run("aaaa")  # a unique prefix finds it
    assert (done.state, done.metrics, done.steps["s"]["state"]) == ("Succeeded", {"loss": 0.5}, "Succeeded")
    with pytest.raises(WorkbenchError, match="immutable"):
        store.update_run("a" * 32, parameters='{"n": 4}')
    with pytest.raises(WorkbenchError, match="immutable"):
        store.finish_run("a" * 32, "Failed")
    assert store.get_run("a" * 32).state == "Succeeded" and store.get_run("a" * 32).parameters == {"n": 3}
    with pytest.raises(WorkbenchError, match="no run"):
        store.get_run("ffff")


def test_runs_are_listed_newest_first_and_filtered_by_namespace_and_experiment(store):
    store.create_run(record("1" * 32, namespace="team-a", created=1.0))
    store.create_run(record("2" * 32, namespace="team-b", experiment="nightly", created=2.0))
    store.create_run(record("3" * 32, namespace="team-a", experiment="nightly", created=3.0))
    assert [r.run_id[0] for r in store.list_runs()] == ["3", "2", "1"]
    assert [r.run_id[0] for r in store.list_runs(namespace="team-a")] == ["3", "1"]
    assert [r.run_id[0] for r in store.list_runs(experiment="nightly", namespace="team-b")] == ["2"]


def test_cancel_flags_a_live_run_and_kills_one_nobody_runs(store):
    store.create_run(record("4" * 32))
    store.claim_run("4" * 32)
    after = store.request_cancel("4" * 32)
    assert after.state == "Running" and after.cancel_requested and store.heartbeat("4" * 32) is True
    store.create_run(record("5" * 32))
    assert store.request_cancel("5" * 32).state == "Killed"  # Pending: no process to tell
    assert store.claim_run("5" * 32) is False


def test_runs_whose_process_died_are_reaped(store):
    store.create_run(record("6" * 32))
    store.claim_run("6" * 32)
    assert store.reap_stale_runs(now=time.time()) == 0
    assert store.reap_stale_runs(now=time.time() + 3600) == 1
    assert store.get_run("6" * 32).state == "Failed"


def schedule(store: RunStore, name: str = "s", max_concurrency: int = 2) -> ScheduleRecord:
    return store.create_schedule(ScheduleRecord(name=name, namespace="default", kind="pipeline",
                                                document={}, trigger={"every": 60}, max_concurrency=max_concurrency))


def test_an_occurrence_is_recorded_once_and_max_concurrency_is_respected(store):
    s = schedule(store)
    first = store.claim_occurrence(s, 60, "t1", run=record("7" * 32))
    assert not isinstance(first, str) and first.fire_at == 60
    assert store.claim_occurrence(s, 60, "t1-again") == "taken"
    assert store.get_run("7" * 32).state == "Pending"  # inserted with its occurrence
    assert not isinstance(store.claim_occurrence(s, 120, "t2"), str)
    assert store.claim_occurrence(s, 180, "t3") == "busy"  # two are active
    assert store.start_occurrence(first.id) is True and store.start_occurrence(first.id) is False
    store.finish_occurrence(first.id, "Succeeded")
    assert not isinstance(store.claim_occurrence(s, 180, "t3"), str)
    assert [o.fire_at for o in store.occurrences(s.id)] == [180, 120, 60]
    assert store.last_fire(s.id) == 180


def test_schedules_are_unique_per_namespace_and_deleting_one_deletes_its_occurrences(store):
    s = schedule(store)
    with pytest.raises(WorkbenchError, match="already exists"):
        schedule(store)
    store.create_schedule(ScheduleRecord(name="s", namespace="other", kind="pipeline", document={}, trigger={}))
    store.claim_occurrence(s, 60, "t")
    assert store.set_enabled("s", "default", False).enabled is False
    assert store.claim_occurrence(s, 120, "t") == "disabled"
    store.delete_schedule("s", "default")
    assert store.occurrences(s.id) == [] and [x.namespace for x in store.list_schedules()] == ["other"]
    with pytest.raises(WorkbenchError, match="no schedule"):
        store.get_schedule("s", "default")
