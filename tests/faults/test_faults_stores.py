"""Stores that go down during a sweep: the MLflow tracking server, and PostgreSQL under Optuna and MLflow.

Each test runs a real ``workbench run`` process against real servers and stops one of them while
trials run: the sweep must go on (or wait for the store, saying so) and nothing queued may be lost
once the store is back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import experiment, settings, start, trials, wait_for, write_spec
from optuna.trial import TrialState

from workbench.search import _storage as st
from workbench.testing.databases import (
    PostgresCluster,
    RestartableMlflowServer,
    private_postgres,
    restartable_mlflow_server,
    scratch_postgres,
)
from workbench.testing.processes import processes_in

TRIALS = 6


def _mlflow_runs(url: str, name: str) -> dict[str, object]:
    """The trial runs of an experiment on a tracking server, by trial number."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"experiment {name!r} is not on the tracking server"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return {r.data.tags["workbench.trial"]: r for r in runs if "workbench.step" not in r.data.tags}


def _assert_nothing_lost(url: str, name: str, storage_url: str) -> None:
    """Every finished trial has its MLflow run, terminal, with its parameters and its loss."""
    done = [t for t in trials(storage_url, name) if t.state.is_finished()]
    assert len(done) == TRIALS
    runs = _mlflow_runs(url, name)
    assert sorted(runs, key=int) == sorted(str(t.number) for t in done)
    for trial in done:
        run = runs[str(trial.number)]
        assert run.info.status == "FINISHED", (trial.number, run.info.status)
        assert float(run.data.params["x"]) == pytest.approx(trial.params["x"])
        assert run.data.metrics["loss"] == pytest.approx(trial.values[0])


@pytest.fixture
def mlflow_on_sqlite(tmp_path: Path) -> Iterator[RestartableMlflowServer]:
    with restartable_mlflow_server(f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}", tmp_path / "server" / "art") as s:
        yield s


@pytest.mark.heavy
def test_mlflow_server_down_mid_sweep_then_back_loses_nothing(mlflow_on_sqlite: RestartableMlflowServer, tmp_path):
    server = mlflow_on_sqlite
    name = "mlflow-outage"
    home = settings(tmp_path / "home", mlflow=server.url)
    spec = write_spec(tmp_path, experiment(name, trials=TRIALS, sleep=0.15))
    storage_url = f"journal:///{home / 'optuna.journal'}"
    proc = start("run", str(spec), "--home", str(home), "--quiet", cwd=tmp_path)
    try:
        finished = lambda: sum(t.state.is_finished() for t in trials(storage_url, name))  # noqa: E731
        wait_for("the first trial to finish", lambda: finished() >= 1, proc=proc)
        down_at = time.monotonic()
        server.stop()
        # The sweep goes on while MLflow is down: the other trials run and finish.
        wait_for("every trial to finish while MLflow is down", lambda: finished() == TRIALS, proc=proc)
        time.sleep(2.0)  # the controller now waits for its queued records, it does not exit
        assert proc.poll() is None, "workbench exited while records were still queued for a store that is down"
        server.start()
        out, err = proc.communicate(timeout=180)
        outage = time.monotonic() - down_at
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    # The user was told, and told again when it was back.
    assert re.search(r"tracking: \w+ is unreachable", err), err[-3000:]
    assert "is back" in err
    assert all(t.state == TrialState.COMPLETE for t in trials(storage_url, name))
    _assert_nothing_lost(server.url, name, storage_url)
    warning = next(line for line in err.splitlines() if "unreachable" in line)
    print(f"mlflow outage {outage:.1f}s, {TRIALS} trials, 0 lost; the user saw: {warning[:300]}")


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster this test may restart (never the machine's own server)."""
    try:
        with private_postgres() as cluster:
            yield cluster
    except RuntimeError as err:
        if "not installed" in str(err):
            pytest.skip(str(err))
        raise


@pytest.mark.heavy
@pytest.mark.parametrize("patience", ["300", "0"], ids=["pauses-and-goes-on", "no-patience-stops-then-resume"])
def test_postgres_restarted_mid_sweep(postgres: PostgresCluster, tmp_path: Path, patience: str):
    """Optuna's storage on PostgreSQL, restarted (2 s down) while trials run.

    With the default patience the sweep pauses, says so, and goes on by itself once the database is
    back; with ``WORKBENCH_STORE_PATIENCE=0`` it stops at once with a message naming the fix, and
    ``workbench resume`` finishes it. Either way: exactly the budget, no finished trial run twice.
    """
    name = "pg-restart"
    with scratch_postgres(postgres.admin_url) as db:
        home = settings(tmp_path / "home", optuna=db.url)
        spec = write_spec(tmp_path, experiment(name, trials=TRIALS, sleep=0.15))
        proc = start("run", str(spec), "--home", str(home), "--quiet", cwd=tmp_path, WORKBENCH_STORE_PATIENCE=patience)
        try:
            finished = lambda: sum(t.state.is_finished() for t in trials(db.url, name))  # noqa: E731
            wait_for("two trials to finish", lambda: finished() >= 2, proc=proc)
            postgres.restart(down=2.0)
            _, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert "Traceback" not in err, err[-3000:]
        if patience == "0":
            assert proc.returncode == 1, err[-3000:]
            assert f"experiment {name!r} stopped: its Optuna store became unreachable" in err, err[-3000:]
            assert f"workbench resume {name}" in err
            resumed = start("resume", name, "--home", str(home), "--quiet", cwd=tmp_path)
            _, rerr = resumed.communicate(timeout=180)
            assert resumed.returncode == 0, rerr[-3000:]
        else:
            assert proc.returncode == 0, err[-3000:]
            assert f"experiment {name!r} paused: its Optuna store is unreachable" in err, err[-3000:]
            assert "its Optuna store is back" in err, err[-3000:]
        found = trials(db.url, name)
        states = [t.user_attrs.get(st.T_STATE) for t in found]
        assert states.count("Succeeded") == TRIALS, states
        assert set(states) <= {"Succeeded", "Killed"}, states
        assert states.count("Killed") <= 2  # at most the trials in flight when the store went away
        xs = [t.params["x"] for t in found if t.user_attrs.get(st.T_STATE) == "Succeeded"]
        assert len(set(xs)) == len(xs), "a finished trial ran twice"
    assert not processes_in(tmp_path), "a step outlived the controller"
    said = err.strip().splitlines()[-1][:300] if err.strip() else "nothing"
    print(f"postgres restart (patience {patience}): exit {proc.returncode} ({said}); {TRIALS} trials finished, 0 lost")


@pytest.mark.heavy
def test_postgres_under_the_mlflow_server_restarted_mid_sweep_loses_no_record(postgres: PostgresCluster, tmp_path):
    """The MLflow server's backend store on PostgreSQL, restarted (3 s down) while trials run and are recorded."""
    name = "pg-under-mlflow"
    with scratch_postgres(postgres.admin_url) as db:
        with restartable_mlflow_server(db.url, tmp_path / "server" / "art") as server:
            home = settings(tmp_path / "home", mlflow=server.url)
            spec = write_spec(tmp_path, experiment(name, trials=TRIALS, sleep=0.15))
            storage_url = f"journal:///{home / 'optuna.journal'}"
            proc = start("run", str(spec), "--home", str(home), "--quiet", cwd=tmp_path)
            try:
                finished = lambda: sum(t.state.is_finished() for t in trials(storage_url, name))  # noqa: E731
                wait_for("two trials to finish", lambda: finished() >= 2, proc=proc)
                postgres.restart(down=3.0)
                _, err = proc.communicate(timeout=240)
            finally:
                if proc.poll() is None:
                    proc.kill()
            print(err[-3000:])
            assert proc.returncode == 0, err[-3000:]
            assert all(t.state == TrialState.COMPLETE for t in trials(storage_url, name))
            _assert_nothing_lost(server.url, name, storage_url)
    assert not processes_in(tmp_path)
