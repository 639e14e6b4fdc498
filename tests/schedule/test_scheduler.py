"""The scheduler with a controllable clock and a recording launcher (real run store, SQLite and PostgreSQL),
creating schedules, and the CronJob manifest."""

from __future__ import annotations

import threading

import pytest
from store_helpers import RecordingLauncher, write_pipelines

from workbench.errors import SpecError
from workbench.runs import RunStore, store_of
from workbench.schedule import MAX_CATCHUP, Scheduler, create_schedule, next_fire, occurrence_name
from workbench.workspace import Workspace

T0 = 1_700_000_000 - (1_700_000_000 % 3600)  # a whole hour


@pytest.fixture
def ws(tmp_path):
    return Workspace.at(tmp_path / "home")


@pytest.fixture
def pipes(tmp_path):
    return write_pipelines(tmp_path / "pipes")


def make(ws, pipes, name="s", created=T0, **kw):
    record = create_schedule(ws, name, pipeline=pipes["demo"], **{"every": "1m", **kw})
    store = store_of(ws)
    # the schedule was created "at T0": its periods count from there
    from workbench.runs._store import schedules_table

    with store._tx() as conn:
        conn.execute(schedules_table.update().where(schedules_table.c.id == record.id).values(created=created))
    return store.get_schedule(name, record.namespace)


def scheduler(ws, launcher=None):
    return Scheduler(ws, clock=lambda: pytest.fail("tick(now) is always given here"), launcher=launcher or
                     RecordingLauncher())  # fmt: skip


def test_catchup_fires_each_missed_occurrence_once_in_order(ws, pipes):
    s = make(ws, pipes, max_concurrency=100, catchup=True)
    sched = scheduler(ws)
    fired = sched.tick(now=T0 + 10 * 60 + 5)
    assert [o.fire_at for o in fired] == [T0 + k * 60 for k in range(1, 11)]
    assert sched.tick(now=T0 + 10 * 60 + 30) == []  # nothing new is due
    runs = store_of(ws).list_runs(schedule="s")
    assert len(runs) == 10 and {r.state for r in runs} == {"Pending"} and {r.parameters["n"] for r in runs} == {3}
    assert {r.run_id for r in runs} == {o.target for o in fired}
    assert next_fire(s, T0 + 600, now=T0 + 630) == T0 + 660


def test_without_catchup_only_the_latest_missed_occurrence_runs(ws, pipes):
    make(ws, pipes, max_concurrency=100, catchup=False)
    sched = scheduler(ws)
    assert [o.fire_at for o in sched.tick(now=T0 + 10 * 60 + 5)] == [T0 + 600]
    assert [o.fire_at for o in sched.tick(now=T0 + 11 * 60)] == [T0 + 660]


def test_catchup_is_bounded(ws, pipes):
    make(ws, pipes, max_concurrency=1000, catchup=True)
    fired = scheduler(ws).tick(now=T0 + 1000 * 60)
    assert len(fired) == MAX_CATCHUP and fired[-1].fire_at == T0 + 1000 * 60


def test_max_concurrency_holds_back_occurrences_until_a_run_ends(ws, pipes):
    s = make(ws, pipes, max_concurrency=2, catchup=True)
    store = store_of(ws)
    sched = scheduler(ws)
    first = sched.tick(now=T0 + 5 * 60)
    assert [o.fire_at for o in first] == [T0 + 60, T0 + 120]
    assert sched.tick(now=T0 + 5 * 60 + 10) == []
    assert len(store.occurrences(s.id, active=True)) == 2
    store.finish_occurrence(first[0].id, "Succeeded")
    assert [o.fire_at for o in sched.tick(now=T0 + 5 * 60 + 20)] == [T0 + 180]  # the next one in order
    assert len(store.occurrences(s.id, active=True)) == 2


def test_disabled_schedules_do_not_fire_and_enabling_catches_up(ws, pipes):
    make(ws, pipes, max_concurrency=100, catchup=True, enabled=False)
    sched = scheduler(ws)
    assert sched.tick(now=T0 + 300) == []
    store_of(ws).set_enabled("s", "default", True)
    assert len(sched.tick(now=T0 + 300)) == 5


def test_experiment_occurrences_get_their_own_name(ws, tmp_path):
    from app_helpers import quadratic_doc, write_yaml

    spec = write_yaml(tmp_path / "exp.yaml", quadratic_doc("nightly-tune", trials=2))
    record = create_schedule(ws, "tune", experiment_file=spec, cron="0 2 * * *", timezone="Europe/Paris")
    assert record.kind == "experiment" and record.namespace == "default"
    assert occurrence_name(record, T0) == "nightly-tune-20231114-2300"  # T0 is 22:00 UTC, 23:00 in Paris
    with pytest.raises(SpecError) as info:
        create_schedule(ws, "tune2", experiment_file=spec, every="1h", params={"x": 1})
    assert info.value.path == "params"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cron": "99 * * * *"}, "trigger.cron"),
        ({"cron": "0 9 * * *", "timezone": "Nowhere/Land"}, "trigger.timezone"),
        ({"every": "1m", "params": {"nope": 1}}, "params.nope"),
        ({"every": "1m", "params": {"n": "three"}}, "params.n"),
        ({"every": "1m", "max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_stored(ws, pipes, kwargs, field):
    with pytest.raises(SpecError) as info:
        create_schedule(ws, "bad", pipeline=pipes["demo"], **kwargs)
    assert info.value.path == field
    assert store_of(ws).list_schedules() == []
    with pytest.raises(SpecError) as info:
        create_schedule(ws, "Bad Name!", pipeline=pipes["demo"], every="1m")
    assert info.value.path == "name"


def test_two_schedulers_sharing_postgresql_never_fire_an_occurrence_twice(tmp_path, pipes, pg_url, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS_URL", pg_url)
    ws = Workspace.at(tmp_path / "home")
    s = make(ws, pipes, every="1s", max_concurrency=3, catchup=True)
    a, b = scheduler(ws), scheduler(ws)
    b.store = RunStore(pg_url)  # its own engine and connections, as another process would have
    store = store_of(ws)
    errors: list[BaseException] = []

    def drive(sched: Scheduler, offset: int) -> None:
        try:
            for k in range(1, 61):
                sched.tick(now=T0 + k + offset % 2)
                for occ in store.occurrences(s.id, active=True)[:1]:  # runs end now and then
                    if k % 3 == offset:
                        store.finish_occurrence(occ.id, "Succeeded")
                active = len(store.occurrences(s.id, active=True))
                assert active <= 3, f"{active} occurrences active with max_concurrency 3"
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=drive, args=(x, i)) for i, x in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    fired = sorted(o.fire_at for o in store.occurrences(s.id))
    assert len(fired) == len(set(fired)) and fired == list(range(T0 + 1, T0 + 1 + len(fired)))
    assert len(a.fired) + len(b.fired) == len(fired) and a.fired and b.fired
    assert len(store.list_runs(schedule="s")) == len(fired)
    b.store.close()


def validate(manifest):
    """Strict validation against the Kubernetes OpenAPI schema (as tests/backends/test_kubernetes_deploy.py)."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    try:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as err:
        raise AssertionError(f"{manifest['kind']}: {'/'.join(map(str, err.path))}: {err.message}") from None


def test_a_cronjob_manifest_is_valid_and_runs_workbench_pipeline_run(pipes):
    from workbench.schedule import Trigger
    from workbench.schedule._cronjob import cron_of, cronjob_objects
    from workbench.spec import load_pipeline, pipeline_to_document

    doc = pipeline_to_document(load_pipeline(pipes["demo"]))
    trigger = Trigger.parse(cron="0 2 * * *", timezone="Europe/Paris")
    config_map, cronjob = cronjob_objects("nightly", doc, trigger, "ml", "registry.example.com/wb:1", params={"n": 5},
                                          catchup=False, enabled=False)  # fmt: skip
    validate(config_map)
    validate(cronjob)
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["suspend"], spec["concurrencyPolicy"]) == (
        "0 2 * * *", "Europe/Paris", True, "Forbid")
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[:3] == ["workbench", "pipeline", "run"] and "n=5" in command and "kubernetes" in command
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    env = [e["name"] for e in pod["containers"][0]["env"]]
    assert len(env) == len(set(env)) and "WORKBENCH_RUNS_URL" in env  # the run store, once
    assert "pipeline.yaml" in config_map["data"] and any(k.startswith("f") for k in config_map["data"])
    assert cron_of(Trigger.parse(every="15m")) == "*/15 * * * *"
    assert cron_of(Trigger.parse(every="2h")) == "0 */2 * * *"
    for bad, field in (({"cron": "0 0 2 * * *"}, "trigger.cron"), ({"every": "7m"}, "trigger.every")):
        with pytest.raises(SpecError) as info:
            cronjob_objects("x", doc, Trigger.parse(**bad), "ml", "img")
        assert info.value.path == field
    with pytest.raises(SpecError) as info:
        cronjob_objects("x", doc, trigger, "ml", "img", max_concurrency=3)
    assert info.value.path == "max_concurrency"


@pytest.mark.slow
def test_an_experiment_occurrence_runs_the_whole_experiment_once(ws, tmp_path):
    from app_helpers import quadratic_doc, write_yaml

    from workbench.query import list_experiments
    from workbench.schedule import execute_occurrence

    spec = write_yaml(tmp_path / "exp.yaml", quadratic_doc("nightly-tune", trials=2))
    record = create_schedule(ws, "tune", experiment_file=spec, every="1h")
    launcher = RecordingLauncher()
    sched = scheduler(ws, launcher)
    (fired,) = sched.tick(now=record.created + 3600)
    assert fired.target == occurrence_name(record, fired.fire_at)
    assert execute_occurrence(ws, fired.id) == "Succeeded"
    assert execute_occurrence(ws, fired.id) == ""  # executed once: a second process gets nothing to do
    (row,) = [r for r in list_experiments(ws) if r.name == fired.target]
    assert row.state == "Succeeded" and row.finished == 2 and row.failed == 0
    assert store_of(ws).get_occurrence(fired.id).state == "Succeeded"
