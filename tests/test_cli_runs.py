"""`workbench pipeline run/rerun`, `runs ls/show/logs/cancel`, `schedule ...` and `ls --namespace` through the CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from store_helpers import write_pipelines
from typer.testing import CliRunner

from workbench.cli import app

runner = CliRunner()


def wb(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def pipes(tmp_path):
    return write_pipelines(tmp_path / "pipes")


@pytest.mark.slow
def test_pipeline_run_then_runs_ls_show_logs_and_rerun(fresh_home, pipes):
    result = wb("pipeline", "run", pipes["demo"], "--param", "n=5", "-m", "loss", "-n", "team-a", "-e", "adhoc",
                "--home", fresh_home)  # fmt: skip
    assert result.exit_code == 0, result.output
    listing = json.loads(wb("runs", "ls", "--json", "--home", fresh_home).stdout)
    assert len(listing) == 1 and listing[0]["state"] == "Succeeded" and listing[0]["metrics"] == {"loss": 0.2}
    run_id = listing[0]["run_id"]
    assert wb("runs", "ls", "--namespace", "other", "--home", fresh_home).stdout.startswith("no runs")
    assert run_id[:12] in wb("runs", "ls", "--namespace", "team-a", "--home", fresh_home).stdout
    shown = wb("runs", "show", run_id[:8], "--home", fresh_home)
    assert "Succeeded" in shown.stdout and "n=5" in shown.stdout and "loss=0.2" in shown.stdout
    logs = wb("runs", "logs", run_id, "--step", "show", "--home", fresh_home)
    assert logs.exit_code == 0 and "xxxxx" in logs.stdout
    assert wb("runs", "logs", run_id, "--step", "nope", "--home", fresh_home).exit_code == 2
    again = wb("pipeline", "rerun", run_id, "--home", fresh_home)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("Cached") == 2
    assert wb("runs", "cancel", run_id, "--home", fresh_home).stdout.startswith(f"run {run_id} is already Succeeded")


def test_bad_input_exits_2_and_writes_nothing(tmp_path, pipes):
    home = tmp_path / "home"
    for args in (["--param", "nope=1"], ["--param", "n=abc"], ["--param", "n"], ["--backend", "mars"]):
        result = wb("pipeline", "run", pipes["demo"], *args, "--home", home)
        assert result.exit_code == 2, result.output
    assert not (home / "runs.db").exists()
    bad = wb("schedule", "create", "s", "--pipeline", pipes["demo"], "--cron", "0 25 * * *", "--home", home)
    assert bad.exit_code == 2 and "trigger.cron" in bad.output
    bad = wb("schedule", "create", "s", "--pipeline", pipes["demo"], "--cron", "0 2 * * *", "--timezone", "Mars/Base",
             "--home", home)  # fmt: skip
    assert bad.exit_code == 2 and "trigger.timezone" in bad.output
    assert wb("runs", "show", "abcd", "--home", home).exit_code == 1


def test_schedule_create_ls_show_disable_enable_delete(tmp_path, pipes):
    home = tmp_path / "home"
    created = wb("schedule", "create", "nightly", "--pipeline", pipes["demo"], "--cron", "0 2 * * *",
                 "--timezone", "Europe/Paris", "--param", "n=7", "--max-concurrency", "2", "--no-catchup",
                 "--home", home)  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "next run" in created.stdout
    assert wb("schedule", "create", "nightly", "--pipeline", pipes["demo"], "--every", "1h", "--home", home
              ).exit_code == 1  # fmt: skip
    listing = wb("schedule", "ls", "--home", home).stdout
    assert "nightly" in listing and "cron '0 2 * * *' (Europe/Paris)" in listing
    shown = wb("schedule", "show", "nightly", "--home", home).stdout
    assert "max concurrency 2" in shown and "catchup no" in shown and "n=7" in shown
    assert wb("schedule", "disable", "nightly", "--home", home).exit_code == 0
    assert "enabled no" in wb("schedule", "show", "nightly", "--home", home).stdout
    assert wb("schedule", "enable", "nightly", "--home", home).exit_code == 0
    assert wb("schedule", "delete", "nightly", "--home", home).exit_code == 0
    assert wb("schedule", "show", "nightly", "--home", home).exit_code == 1


def test_schedule_create_backend_kubernetes_prints_a_cronjob(tmp_path, pipes):
    result = wb("schedule", "create", "nightly", "--pipeline", pipes["demo"], "--cron", "0 2 * * *", "--backend",
                "kubernetes", "--image", "registry.example.com/wb:1", "--namespace", "ml", "--home",
                tmp_path / "home")  # fmt: skip
    assert result.exit_code == 0, result.output
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds == ["ConfigMap", "CronJob"]
    assert not (tmp_path / "home" / "runs.db").exists()  # nothing stored locally


def test_ls_filters_experiments_by_namespace(quad_copy):
    assert "quad-cli" in wb("ls", "--home", quad_copy, "--namespace", "default").stdout
    assert "no experiments in namespace" in wb("ls", "--home", quad_copy, "--namespace", "team-x").stdout


def test_pipeline_run_takes_a_python_pipeline(fresh_home, tmp_path):
    (tmp_path / "flow.py").write_text(
        "from workbench import component, pipeline\n\n"
        "@component\n"
        "def double(n: int) -> int:\n"
        "    print(f'loss={n * 0.5}')\n"
        "    return n * 2\n\n"
        "@pipeline\n"
        "def flow(n: int = 1):\n"
        "    double(n=n)\n"
    )
    result = wb("pipeline", "run", f"{tmp_path / 'flow.py'}:flow", "--param", "n=3", "-m", "loss", "--home", fresh_home)
    assert result.exit_code == 0, result.output
    (run,) = json.loads(wb("runs", "ls", "--json", "--home", fresh_home).stdout)
    assert run["state"] == "Succeeded" and run["metrics"] == {"loss": 1.5}
    missing = wb("pipeline", "run", f"{tmp_path / 'flow.py'}:nope", "--home", fresh_home)
    assert missing.exit_code == 2 and "nope" in missing.output


def test_runs_logs_follow_prints_a_live_run_as_it_goes_and_ends_with_it(fresh_home, tmp_path):
    """The step prints, then blocks on a FIFO: its line must reach the follower while the run still runs."""
    import os
    import subprocess
    import threading
    import time

    from app_helpers import PYTHON, subprocess_env

    from workbench.runs import execute_run, prepare_run, store_of
    from workbench.spec import pipeline_from_dict
    from workbench.tracking import BaseRecorder
    from workbench.workspace import Workspace

    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    script = "import sys; print('started'); open(sys.argv[1]).read(); print('done')"
    comp = {"name": "live", "implementation": {"container": {"command": ["python3", "-c", script, str(fifo)]}}}
    pipeline = pipeline_from_dict({"name": "live", "steps": [{"name": "live", "component": comp}]}, tmp_path)
    ws = Workspace.at(fresh_home)
    record = store_of(ws).create_run(prepare_run(pipeline, workspace=ws))
    running = threading.Thread(target=execute_run, args=(record, ws), kwargs={"recorder": BaseRecorder()})
    running.start()
    follower = subprocess.Popen(
        [PYTHON, "-m", "workbench", "runs", "logs", record.run_id, "--follow", "--home", str(fresh_home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env(),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("started" in line for line in lines) and time.monotonic() < deadline:
            assert follower.poll() is None, "".join(lines)  # it follows: it does not end before the run
            time.sleep(0.05)
        assert any("started" in line for line in lines), "".join(lines)
        assert not any("done" in line for line in lines)  # the step is still blocked
    finally:
        while running.is_alive():  # let the step go (it opens the FIFO after its first line)
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)
                continue
            os.write(fd, b"go\n")
            os.close(fd)
            break
        running.join(timeout=60)
    assert follower.wait(timeout=60) == 0  # the run ended: so does the follower, on its own
    reader.join(timeout=10)
    output = "".join(lines)
    assert output.index("started") < output.index("done") < output.index("[workbench] step live succeeded")
