"""Dashboard security: secrets never rendered or recorded, no unpickling, read-only on 127.0.0.1.

The secret workspace is real: a 2-trial sweep and a standalone run of a pipeline whose step gets a
secret pipeline parameter, a secret-marked input, an input whose name looks secret, and env vars
``API_TOKEN``, ``DB_PASSWORD``, ``AWS_SECRET``, ``SIGNING_KEY`` -- and prints every one of them.
Every page is then driven with ``streamlit.testing`` and every rendered element searched.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest
from ui_helpers import APP, REPO, open_page

SECRETS = {
    "S3cr3t-PARAM-dsn": "a pipeline parameter marked secret",
    "S3cr3t-INPUT-pin": "a component input marked secret",
    "S3cr3t-INPUT-api-key": "an input named api_key",
    "S3cr3t-ENV-api-token": "env API_TOKEN",
    "S3cr3t-ENV-db-password": "env DB_PASSWORD",
    "S3cr3t-ENV-aws-secret": "env AWS_SECRET",
    "S3cr3t-ENV-signing-key": "env SIGNING_KEY (set on the step)",
}
VISIBLE = "banana-visible"  # env MONKEY: a name that merely contains "key" stays readable

STEP_CODE = """
import json, os, sys
print("argv", sys.argv[1:])
for k in ("API_TOKEN", "DB_PASSWORD", "AWS_SECRET", "SIGNING_KEY", "MONKEY"):
    print(k, os.environ[k])
open(sys.argv[5], "w").write(json.dumps({"loss": float(sys.argv[1])}))
print("loss=" + sys.argv[1])
"""

PIPELINE = {
    "apiVersion": "workbench.io/v1alpha1",
    "kind": "Pipeline",
    "metadata": {"name": "login-pipe"},
    "spec": {
        "parameters": [{"name": "x", "type": "Float"}, {"name": "dsn", "type": "String", "secret": True}],
        "steps": [
            {
                "name": "login",
                "component": {
                    "name": "login",
                    "inputs": [
                        {"name": "x", "type": "Float"},
                        {"name": "conn", "type": "String"},
                        {"name": "pin", "type": "String", "secret": True},
                        {"name": "api_key", "type": "String"},
                    ],
                    "outputs": [{"name": "report", "type": "Metrics"}],
                    "implementation": {
                        "container": {
                            "command": [
                                sys.executable,
                                "-c",
                                STEP_CODE,
                                {"inputValue": "x"},
                                {"inputValue": "conn"},
                                {"inputValue": "pin"},
                                {"inputValue": "api_key"},
                                {"outputPath": "report"},
                            ],
                            "env": {
                                "API_TOKEN": "S3cr3t-ENV-api-token",
                                "DB_PASSWORD": "S3cr3t-ENV-db-password",
                                "AWS_SECRET": "S3cr3t-ENV-aws-secret",
                                "MONKEY": VISIBLE,
                            },
                        }
                    },
                },
                "env": [{"name": "SIGNING_KEY", "value": "S3cr3t-ENV-signing-key"}],
                "arguments": {
                    "x": "{{params.x}}",
                    "conn": "{{params.dsn}}",
                    "pin": "S3cr3t-INPUT-pin",
                    "api_key": "S3cr3t-INPUT-api-key",
                },
            }
        ],
    },
}

EXPERIMENT = {
    "apiVersion": "workbench.io/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "secret-sweep"},
    "spec": {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "1"}]},
        "maxTrialCount": 2,
        "parallelTrialCount": 1,
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
        "trialTemplate": {"pipeline": PIPELINE, "arguments": {"dsn": "pg://u:S3cr3t-PARAM-dsn@db"}},
    },
}


@pytest.fixture(scope="module")
def secret_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``workbench run`` of the sweep and ``workbench pipeline run`` of its pipeline, in one workspace."""
    from typer.testing import CliRunner

    from workbench.cli import app

    root = tmp_path_factory.mktemp("secret-ws")
    home = root / "home"
    (root / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT), encoding="utf-8")
    (root / "pipe.yaml").write_text(yaml.safe_dump(PIPELINE), encoding="utf-8")
    env = {"WORKBENCH_HOME": str(home)}
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(root / "exp.yaml")], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "pipeline",
            "run",
            str(root / "pipe.yaml"),
            "-p",
            "x=0.5",
            "-p",
            "dsn=pg://u:S3cr3t-PARAM-dsn@db",
            "-m",
            "loss",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    return home


def leaks(text: str) -> list[str]:
    return [f"{value} ({what})" for value, what in SECRETS.items() if value in text]


def rendered(at: AppTest) -> str:
    """Everything the page sent to the browser: every element's message, tables as CSV."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def pages(home: Path) -> list[tuple[str | None, dict[str, Any]]]:
    from workbench import readmodel as rm
    from workbench.workspace import Workspace

    model = rm.ReadModel(Workspace.at(home))
    trials = model.experiment("secret-sweep").trials
    assert len(trials) == 2
    out: list[tuple[str | None, dict[str, Any]]] = [(None, {}), ("runs", {})]
    out += [("experiment", {"name": "secret-sweep", "view": v}) for v in ("Trials", "Spec", "Parallel coordinates")]
    number = int(trials["number"].iloc[0])
    out += [
        ("trial", {"experiment": "secret-sweep", "trial": number, "step": "login"}),  # the Logs tab open
        ("trial", {"experiment": "secret-sweep", "trial": number, "artifact": "login/report"}),
        ("lineage", {"experiment": "secret-sweep", "trial": number}),
        ("compare", {"trials": "secret-sweep:0,secret-sweep:1"}),
    ]
    return out


@pytest.mark.slow
def test_no_page_renders_a_secret(secret_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen_visible = False
    for page, params in pages(secret_home):
        text = rendered(open_page(secret_home, monkeypatch, page, **params))
        assert not leaks(text), f"page {page or 'experiments'} {params} shows {leaks(text)}"
        seen_visible |= VISIBLE in text
        if page == "trial" and "step" in params:
            assert "argv" in text and "***" in text, "the step log is rendered, with secrets masked"
    assert seen_visible, "the log of a harmless env var (MONKEY) should be shown as it is"


@pytest.mark.slow
def test_read_model_and_stores_hold_no_secret(secret_home: Path) -> None:
    """MLflow params/tags/artifacts, ML Metadata, step logs, the run store: no secret value anywhere."""
    import json

    from mlflow.tracking import MlflowClient

    from workbench import readmodel as rm
    from workbench.readmodel._runs import run_store_frame
    from workbench.tracking import lineage_of_run
    from workbench.workspace import Workspace

    ws = Workspace.at(secret_home)
    client = MlflowClient(ws.mlflow_uri)
    seen: list[str] = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            seen.append(json.dumps([run.data.params, run.data.tags, run.data.metrics]))
            for art in _artifact_files(client, run.info.run_id):
                seen.append(Path(client.download_artifacts(run.info.run_id, art)).read_text(errors="replace"))
            if "workbench.run_id" in run.data.tags:
                seen.append(json.dumps(lineage_of_run(ws.mlmd_url, run.data.tags["workbench.run_id"]), default=str))
    assert len(seen) > 10
    logs = sorted(ws.runs.rglob("*.log"))
    assert len(logs) == 3  # two trials and the standalone run
    for log in logs:
        text = log.read_text()
        assert "argv" in text and VISIBLE in text and "API_TOKEN ***" in text, text
        seen.append(text)
    model = rm.ReadModel(ws)
    seen.append(model.experiment("secret-sweep").trials.to_csv())
    seen.append(str(model.experiment("secret-sweep").spec))
    seen.append(run_store_frame(ws).to_csv())
    seen += _cli_outputs(secret_home)
    assert not leaks("\n".join(seen)), leaks("\n".join(seen))
    # Every file of the workspace but the two that keep the spec as given, to run it again: the
    # Optuna study (`workbench resume`) and the run store (reruns). Protect them like the spec file.
    kept = ("optuna.journal", "runs.db")
    for path in secret_home.rglob("*"):
        if path.is_file() and not path.name.startswith(kept):
            assert not leaks(path.read_bytes().decode("utf-8", errors="replace")), path


def _cli_outputs(home: Path) -> list[str]:
    """What ``workbench show/trials/runs ls/runs show`` print about the sweep and the standalone run."""
    from typer.testing import CliRunner

    from workbench.cli import app

    env = {"WORKBENCH_HOME": str(home), "COLUMNS": "400"}
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "ls", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (run,) = yaml.safe_load(listed.output)
    assert run["parameters"] == {"dsn": "***", "x": 0.5}
    out = [listed.output]
    for args in (["runs", "ls"], ["runs", "show", run["run_id"]], ["show", "secret-sweep"], ["trials", "secret-sweep"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        out.append(result.output)
    return out


def _artifact_files(client: Any, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifact_files(client, run_id, item.path) if item.is_dir else [item.path]
    return out


# ----------------------------------------------------------------------------- no unpickling

#: Calls that unpickle (or may): module functions, methods, and their keyword switches.
UNPICKLING_MODULES = {"pickle", "cPickle", "_pickle", "joblib", "cloudpickle", "dill", "shelve", "marshal"}
UNPICKLING_CALLS = {"read_pickle", "load_pickle", "torch.load", "load_model"}


def _unpickling(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNPICKLING_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLING_MODULES:
            found.append(f"{line}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            parts = name.split(".")
            if parts[-1] in UNPICKLING_CALLS or name in UNPICKLING_CALLS or parts[0] in UNPICKLING_MODULES:
                found.append(f"{line}: {name}(...)")
            elif parts[0] in ("torch", "th") and parts[-1] == "load":
                found.append(f"{line}: {name}(...)")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{line}: {name}(allow_pickle=...)")
    return found


def test_the_ui_and_read_model_never_unpickle() -> None:
    sources = sorted((REPO / "ui").rglob("*.py")) + sorted((REPO / "workbench" / "readmodel").rglob("*.py"))
    sources.append(REPO / "workbench" / "query.py")
    assert len(sources) > 15
    found = {str(p.relative_to(REPO)): hits for p in sources if (hits := _unpickling(ast.parse(p.read_text())))}
    assert found == {}


def test_the_unpickling_check_catches_each_form() -> None:
    cases = [
        "import pickle",
        "import joblib as jl",
        "from cloudpickle import loads",
        "import dill",
        "x = pd.read_pickle(p)",
        "torch.load(p)",
        "np.load(p, allow_pickle=True)",
        "numpy.load(p, allow_pickle=flag)",
        "import shelve",
    ]
    for source in cases:
        assert _unpickling(ast.parse(source)), source
    assert not _unpickling(ast.parse("np.load(p, allow_pickle=False); json.load(f); pd.read_parquet(p)"))


# ----------------------------------------------------------------------------- 127.0.0.1, read-only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(pid: int, port: int) -> list[str]:
    """Local addresses the process ``pid`` listens on at ``port`` (from /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            addr, hexport = local.split(":")
            if state == "0A" and inode in inodes and int(hexport, 16) == port:
                out.append(addr)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["workbench ui", "streamlit run ui/app.py"])
def test_the_dashboard_listens_on_loopback_only(how: str, tmp_path: Path) -> None:
    """Started either documented way, with no address option, the server binds 127.0.0.1 only."""
    port = _free_port()
    if how == "workbench ui":
        cmd = [sys.executable, "-m", "workbench", "ui", "--home", str(tmp_path), "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port),
               "--server.headless", "true", "--", "--home", str(tmp_path)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "STREAMLIT_"))}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        addrs: list[str] = []
        while time.monotonic() < deadline and not addrs:
            time.sleep(0.3)
            assert proc.poll() is None, f"{how} exited with {proc.returncode}"
            addrs = _listening(proc.pid, port)
        assert addrs, f"{how} did not listen on port {port}"
        # 0100007F is 127.0.0.1 (little-endian hex); 0.0.0.0 and :: would be all zeros.
        assert set(addrs) == {"0100007F"}, addrs
    finally:
        proc.terminate()
        proc.wait(10)
