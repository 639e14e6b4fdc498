"""The Optuna storage on real PostgreSQL and MariaDB servers, and the shared-store claim and heartbeats."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from workbench.errors import WorkbenchError
from workbench.search import _storage as st
from workbench.testing.databases import ScratchDatabase


def test_optuna_study_round_trips_through_the_server(server_db: ScratchDatabase) -> None:
    storage = st.open_storage(server_db.url)
    study = optuna.create_study(study_name="rt", storage=storage, direction="minimize")
    study.set_user_attr(st.ATTR_STATE, "Running")
    for _ in range(3):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(-5, 5)})
        trial.set_user_attr(st.T_RUN_ID, f"run-{trial.number}")
        study.tell(trial, trial.params["x"] ** 2)
    # A fresh connection (another controller, the dashboard) reads the same study back.
    again = optuna.load_study(study_name="rt", storage=st.open_storage(server_db.url))
    assert len(again.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert again.user_attrs[st.ATTR_STATE] == "Running"
    assert [t.user_attrs[st.T_RUN_ID] for t in again.get_trials()] == ["run-0", "run-1", "run-2"]
    assert st.study_exists(storage, "rt") and not st.study_exists(storage, "other")


def test_a_wrong_password_is_a_clear_error_without_the_password(server_db: ScratchDatabase) -> None:
    if not server_db.password:
        pytest.skip("this server's scratch user has no password (trust authentication)")
    bad = server_db.url.replace(f":{server_db.password}@", ":not-the-password@")
    with pytest.raises(WorkbenchError) as err:
        st.open_storage(bad)
    assert "cannot open the Optuna storage" in str(err.value)
    assert "not-the-password" not in str(err.value) and ":***@" in str(err.value)


def test_open_storage_names_an_unreachable_server() -> None:
    with pytest.raises(WorkbenchError, match=r"cannot open the Optuna storage postgresql://wb:\*\*\*@127.0.0.1:1/x"):
        st.open_storage("postgresql://wb:secret@127.0.0.1:1/x")


# ------------------------------------------------------------------------------------------ claim


def test_the_claim_excludes_other_controllers_of_the_same_experiment(server_db: ScratchDatabase) -> None:
    first = st.StudyClaim(server_db.url, "exp-a", timeout=0.5)
    second = st.StudyClaim(server_db.url, "exp-a", timeout=0.5)
    other = st.StudyClaim(server_db.url, "exp-b", timeout=0.5)
    try:
        with first:
            with pytest.raises(WorkbenchError, match="another controller of experiment 'exp-a' held its claim"):
                second.acquire()
            with other:  # another experiment is not blocked
                pass
            with first:  # re-entrant in the holding thread
                pass
        with second:  # released: the next controller gets it
            pass
    finally:
        for claim in (first, second, other):
            claim.close()


def test_the_claim_makes_count_then_ask_atomic_across_threads(server_db: ScratchDatabase) -> None:
    """Eight workers each ask until 20 trials are claimed: with the claim, never one more."""
    optuna.create_study(study_name="race", storage=st.open_storage(server_db.url))
    budget, errors = 20, []

    def worker() -> None:
        claim = st.StudyClaim(server_db.url, "race", timeout=60)
        study = optuna.load_study(study_name="race", storage=st.open_storage(server_db.url))
        try:
            while True:
                with claim:
                    if len(study.get_trials(deepcopy=False)) >= budget:
                        return
                    study.ask()
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            claim.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    study = optuna.load_study(study_name="race", storage=st.open_storage(server_db.url))
    assert len(study.get_trials()) == budget


def test_a_dead_holder_releases_the_claim(server_db: ScratchDatabase, tmp_path: Path) -> None:
    """A controller killed while it holds the claim (SIGKILL, OOM) blocks nobody: its session ends."""
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from workbench.search._storage import StudyClaim
        claim = StudyClaim({server_db.url!r}, "exp")
        claim.acquire()
        pathlib.Path({str(ready)!r}).write_text("held")
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the holder died before taking the claim"
            assert time.monotonic() < deadline, "the holder never took the claim"
            time.sleep(0.05)
        blocked = st.StudyClaim(server_db.url, "exp", timeout=0.3)
        with pytest.raises(WorkbenchError):
            blocked.acquire()
        blocked.close()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    claim = st.StudyClaim(server_db.url, "exp", timeout=30)
    try:
        with claim:
            pass
    finally:
        claim.close()


def test_the_claim_clock_is_the_servers(server_db: ScratchDatabase) -> None:
    claim = st.StudyClaim(server_db.url, "exp")
    try:
        first, second = claim.now(), claim.now()
    finally:
        claim.close()
    assert second >= first
    assert abs(first - time.time()) < 300  # the same machine: the server's clock is this one's


def test_the_claim_on_sqlite_is_a_file_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first, second = st.StudyClaim(url, "exp", timeout=0.2), st.StudyClaim(url, "exp", timeout=0.2)
    with first:
        with pytest.raises(WorkbenchError, match="held its claim"):
            second.acquire()
    with second:
        pass


def test_the_claim_refuses_a_database_it_cannot_lock() -> None:
    with pytest.raises(WorkbenchError, match="PostgreSQL, MySQL/MariaDB or SQLite only"):
        st.StudyClaim("oracle://u:secret@db/x", "exp")


# -------------------------------------------------------------------------------------- heartbeats


def test_heartbeat_marks_a_controller_live_then_ended(postgres_db: ScratchDatabase) -> None:
    storage = st.open_storage(postgres_db.url)
    study = optuna.create_study(study_name="hb", storage=storage)
    claim = st.StudyClaim(postgres_db.url, "hb")
    beat = st.Heartbeat(study, claim, "c1", timeout=0.4)
    try:
        beat.start()
        key = st.ATTR_CONTROLLER_PREFIX + "c1"
        first = study.user_attrs[key]["heartbeat"]
        time.sleep(0.5)  # two beats at timeout / 4
        entry = study.user_attrs[key]
        assert entry["heartbeat"] > first
        assert st.controller_is_live(entry, claim.now())
        assert entry["pid"] == os.getpid()
        beat.stop()
        ended = study.user_attrs[key]
        assert ended["ended"] and not st.controller_is_live(ended, claim.now())
    finally:
        claim.close()


def test_a_silent_heartbeat_goes_stale() -> None:
    entry = {"heartbeat": 1000.0, "timeout": 30.0, "host": "elsewhere", "pid": 1}
    assert st.controller_is_live(entry, now=1029.0)
    assert not st.controller_is_live(entry, now=1031.0)
    assert not st.controller_is_live({"heartbeat": "garbage"}, now=0.0)


def test_a_controller_process_gone_from_this_machine_is_dead_at_once() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = st.process_identity()
        identity["pid"] = proc.pid
        identity["pstart"] = st._process_start(proc.pid)
        entry = {"heartbeat": 1000.0, "timeout": 30.0, **identity}
        assert st.process_gone(entry) is False
        assert st.controller_is_live(entry, now=1001.0)
    finally:
        proc.kill()
        proc.wait()
    assert st.process_gone(entry) is True
    assert not st.controller_is_live(entry, now=1001.0)  # fresh heartbeat, but its process is gone
    # On another machine (or container) only the heartbeat can tell.
    assert st.process_gone({**entry, "host": "another-host"}) is None
    assert st.controller_is_live({**entry, "host": "another-host"}, now=1001.0)
