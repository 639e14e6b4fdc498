"""Dashboard at scale: the Experiment page of a 10,000-trial (and a 50,000-trial) study, next to optuna-dashboard.

For each study size, in a temporary workspace:

1. **Generate** a study of N trials x 10 parameters (floats, log floats, ints, categoricals), 10
   intermediate values each, 80 % Succeeded / 15 % Pruned / 5 % Failed, 4 trials in parallel,
   with the ``workbench.*`` study and trial attributes the controller writes (spec document,
   state, run id, start/end times, metrics). Every record goes through Optuna's own
   ``JournalStorage`` API (the same journal operations a controller appends: create trial,
   set param, user attrs, intermediate values, state), buffered in memory and written once
   to ``optuna.journal`` in the workspace layout.
2. **Data + figures** (in this process, no Streamlit): read the journal into the read model
   (``workbench.readmodel.ReadModel.experiment``, what the page's cache holds), then build every
   figure of the Experiment page (history, parallel coordinates, importance, slice, contour,
   learning curves, EDF, timeline) and serialise each to JSON as Streamlit does.
3. **Rendered in headless Chromium**: ``workbench ui``'s Streamlit command on 127.0.0.1, driven by
   Playwright with Debian's ``/usr/bin/chromium``. Time from navigation until the page's script
   has finished and every plotly chart has drawn: the first open after the server started
   (includes reading the journal), a second open (the cached read model), and each other view
   of the page opened by URL. Then the Streamlit process's resident memory (now and peak).
4. **optuna-dashboard** (``pip install optuna-dashboard``) served on 127.0.0.1 for the same
   journal: response time of its study API ``GET /api/studies/<id>`` (all trials: what its
   study page fetches), first call after start and a second call; its memory.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ui.py                       # 10,000 and 50,000 trials (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_ui.py --trials 10000 --quick  # one size, fewer views
    .venv/bin/python benchmarks/bench_ui.py --trials 2000 --no-peer --json out.json

Targets: Experiment page rendered in under 2 s at 10,000 trials and under 10 s at 50,000,
faster than optuna-dashboard on the same study; Streamlit under 1 GB at 50,000 trials.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Reopens of the Experiment page; the median is reported.
REOPENS = 3
VIEWS = ["Parallel coordinates", "Importance", "Slice", "Contour", "Learning curves", "EDF", "Timeline", "Trials"]
NAME = "big"

SCRIPT_DONE_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""
# A page is rendered when the script has finished and every plotly chart has drawn its SVG layer.
RENDERED_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid=stSkeleton]')) return false;
  const charts = [...document.querySelectorAll('[data-testid=stPlotlyChart]')];
  if (!charts.length && !document.querySelector('[data-testid=stDataFrame], [data-testid=stCode]')) return false;
  return charts.every(c => c.querySelector('.main-svg'));
}"""


# --------------------------------------------------------------------------- generation


def spec_document(n_params: int, trials: int) -> dict[str, Any]:
    from workbench.spec import experiment_from_dict
    from workbench.spec._load import experiment_to_document

    params = []
    for i in range(n_params):
        kind = i % 4
        if kind == 0:
            params.append({"name": f"p{i}", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}})
        elif kind == 1:
            params.append(
                {
                    "name": f"p{i}",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "1e-5", "max": "1", "distribution": "logUniform"},
                }
            )
        elif kind == 2:
            params.append({"name": f"p{i}", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "100"}})
        else:
            params.append({"name": f"p{i}", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b", "c"]}})
    doc = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": NAME},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 4,
            "maxTrialCount": trials,
            "parameters": params,
            "trialTemplate": {
                "pipeline": {
                    "name": "synthetic",
                    "parameters": [{"name": p["name"], "type": "String"} for p in params],
                    "steps": [
                        {
                            "name": "evaluate",
                            "component": {
                                "name": "evaluate",
                                "implementation": {"container": {"command": ["python", "-c", "pass"]}},
                            },
                        }
                    ],
                }
            },
        },
    }
    return experiment_to_document(experiment_from_dict(doc))


def generate(home: Path, trials: int, n_params: int = 10, steps: int = 10, seed: int = 0) -> dict[str, Any]:
    """Write a study of ``trials`` trials into ``home/optuna.journal`` through Optuna's JournalStorage API."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.storages.journal import BaseJournalBackend
    from optuna.trial import TrialState

    from workbench.search import _storage as st

    class Buffer(BaseJournalBackend):
        """Keeps the journal operations in memory; they are written to the file once at the end."""

        def __init__(self) -> None:
            self.logs: list[dict[str, Any]] = []

        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            return self.logs[log_number_from:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            self.logs.extend(logs)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    buffer = Buffer()
    storage = optuna.storages.JournalStorage(buffer)
    study = optuna.create_study(study_name=NAME, storage=storage, direction="minimize")
    sid = storage.get_study_id_from_name(NAME)
    t0 = time.time() - trials * 1.0
    study.set_user_attr(st.ATTR_SPEC, spec_document(n_params, trials))
    study.set_user_attr(st.ATTR_NAMESPACE, "default")
    study.set_user_attr(st.ATTR_STARTED, t0)
    dists: dict[str, Any] = {}
    for i in range(n_params):
        kind = i % 4
        dists[f"p{i}"] = (
            FloatDistribution(-5, 5),
            FloatDistribution(1e-5, 1, log=True),
            IntDistribution(1, 100),
            CategoricalDistribution(["a", "b", "c"]),
        )[kind]
    rng = random.Random(seed)
    clock = t0
    for k in range(trials):
        tid = storage.create_new_trial(sid)
        begin = clock + rng.random() * 0.5
        storage.set_trial_user_attr(tid, st.T_RUN_ID, uuid.uuid4().hex)
        storage.set_trial_user_attr(tid, st.T_STARTED, begin)
        values = {}
        for name, d in dists.items():
            if isinstance(d, CategoricalDistribution):
                v: Any = rng.choice(d.choices)
            elif isinstance(d, IntDistribution):
                v = rng.randint(1, 100)
            elif d.log:
                v = math.exp(rng.uniform(math.log(1e-5), 0.0))
            else:
                v = rng.uniform(-5, 5)
            storage.set_trial_param(tid, name, d.to_internal_repr(v), d)
            values[name] = v
        loss = sum((values[f"p{i}"] - 1) ** 2 for i in range(0, n_params, 4)) + math.log10(values["p1"]) ** 2 / 10
        r = rng.random()
        state = "Succeeded" if r < 0.80 else ("Pruned" if r < 0.95 else "Failed")
        last = steps if state == "Succeeded" else (rng.randint(2, steps - 1) if state == "Pruned" else 0)
        for s in range(1, last + 1):
            storage.set_trial_intermediate_value(tid, s, loss + 2.0 * 0.6**s)
        end = begin + 2.0 + rng.random() * 6.0
        metrics = {"loss": loss, "accuracy": 1 / (1 + loss)} if state != "Failed" else {}
        storage.set_trial_user_attr(tid, st.T_STATE, state)
        storage.set_trial_user_attr(tid, st.T_METRICS, metrics)
        storage.set_trial_user_attr(tid, st.T_MESSAGE, "" if state != "Failed" else "step evaluate failed (exit 1)")
        storage.set_trial_user_attr(tid, st.T_FINISHED, end)
        if state == "Succeeded":
            storage.set_trial_state_values(tid, TrialState.COMPLETE, [loss])
        elif state == "Pruned":
            storage.set_trial_state_values(tid, TrialState.PRUNED)
        else:
            storage.set_trial_state_values(tid, TrialState.FAIL)
        clock += 1.0 if k % 4 == 3 else 0.0  # 4 trials in flight
    study.set_user_attr(st.ATTR_STATE, "Succeeded")
    study.set_user_attr(st.ATTR_MESSAGE, f"the budget of {trials} trials is used")
    study.set_user_attr(st.ATTR_FINISHED, clock + 10)
    journal = home / "optuna.journal"
    with open(journal, "w", encoding="utf-8") as f:
        for log in buffer.logs:
            f.write(json.dumps(log, separators=(",", ":")) + "\n")
    (home / "optuna.journal.flock").touch()
    return {"seconds": time.perf_counter() - started, "operations": len(buffer.logs), "bytes": journal.stat().st_size}


# --------------------------------------------------------------------------- in-process build


def build_page_data(home: Path) -> dict[str, float]:
    """Seconds to read the study into the read model and to build (and serialise) each figure of the page."""
    from ui import figures
    from workbench import readmodel as rm
    from workbench.workspace import Workspace

    out: dict[str, float] = {}
    # One-time costs of a process (the dashboard pays them once, in a background warm-up): not timed.
    t = time.perf_counter()
    import optuna.importance  # noqa: F401

    figures.history(
        __import__("pandas").DataFrame({"number": [0], "state": ["Succeeded"], "metrics.v": [1.0]}),
        "metrics.v",
        "minimize",
    ).to_json()
    print(f"  (one-time imports and plotly warm-up, not counted: {time.perf_counter() - t:.2f} s)")
    ws = Workspace.at(home)
    t = time.perf_counter()
    data = rm.ReadModel(ws).experiment(NAME)
    out["read model (journal -> DataFrames)"] = time.perf_counter() - t
    trials, objective, logs = data.trials, data.objective_column(), [p for p in data.params if data.log_scale(p)]
    builders = {
        "history": lambda: figures.history(trials, objective, "minimize"),
        "parallel coordinates": lambda: figures.parallel_coordinates(
            trials, data.params, objective, "minimize", log_params=logs
        ),
        "importance (PED-ANOVA)": lambda: figures.importance(rm.param_importance(data)),
        "slice": lambda: figures.slice_plot(trials, data.params[:9], objective, log_params=logs),
        "contour": lambda: figures.contour(trials, data.params[0], data.params[1], objective, "minimize"),
        "learning curves": lambda: figures.intermediate_values(data.intermediate),
        "EDF": lambda: figures.edf({NAME: trials.loc[trials["state"] == "Succeeded", objective]}),
        "timeline": lambda: figures.timeline(trials),
    }
    for label, build in builders.items():
        t = time.perf_counter()
        build().to_json()
        out[f"figure: {label}"] = time.perf_counter() - t
    t = time.perf_counter()
    trials.iloc[:500].to_json(date_format="iso")
    out["trial table page (500 rows)"] = time.perf_counter() - t
    return out


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - 127.0.0.1 only
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_ui(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    from workbench._cli_ui import command

    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    env.pop("WORKBENCH_UI_ALLOW_LAUNCH", None)
    proc = subprocess.Popen(
        command(home, "127.0.0.1", port, False),
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120)
    return proc


def browser_times(port: int, views: list[str], screenshots: Path | None) -> dict[str, float]:
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})

        def timed(url: str, label: str, split: str = "") -> float:
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_function(SCRIPT_DONE_JS, timeout=240_000, polling=20)
            script = time.perf_counter() - t
            page.wait_for_function(RENDERED_JS, timeout=240_000, polling=20)
            out[label] = time.perf_counter() - t
            if split:  # where the time goes: the server's script run (with the page load) vs drawing in the browser
                out[f"  {split}: until the script finished (page load + server)"] = script
            errors = page.locator("[data-testid=stException]").all_inner_texts()
            if errors:
                raise RuntimeError(f"{label}: {errors[0][:500]}")
            if screenshots is not None:
                page.screenshot(path=str(screenshots / f"{label.split(':')[0].replace(' ', '_')}.png"))
            return out[label]

        timed(f"{base}/experiment?name={NAME}", "experiment page, first open (reads the journal)", "first open")
        again = "experiment page, opened again (cached read model)"
        opens = sorted(timed(f"{base}/experiment?name={NAME}", again, "reopen (last)") for _ in range(REOPENS))
        out[again] = opens[len(opens) // 2]  # the median: one open is at the mercy of the machine's other load
        out[f"  reopen: fastest of {REOPENS}"] = opens[0]
        out[f"  reopen: slowest of {REOPENS}"] = opens[-1]
        for view in views:
            timed(f"{base}/experiment?name={NAME}&view={quote(view)}", f"view {view}")
        # A view switch inside the open page (a widget change: no store is read again).
        page.goto(f"{base}/experiment?name={NAME}")
        page.wait_for_function(RENDERED_JS, timeout=240_000, polling=50)
        t = time.perf_counter()
        page.get_by_text("Log scale").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=stApp]').getAttribute('data-test-script-state') === 'running'",
            timeout=30_000,
            polling=10,
        )
        page.wait_for_function(RENDERED_JS, timeout=240_000, polling=50)
        out["widget change in the open page (log scale toggle)"] = time.perf_counter() - t
        browser.close()
    return out


def peer_times(journal: Path, port: int, log: Path) -> dict[str, float]:
    """optuna-dashboard for the same journal: its study API, first call and second call; memory."""
    out: dict[str, float] = {}
    cmd = [
        sys.executable,
        "-c",
        "from optuna_dashboard._cli import main; main()",
        str(journal),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        t = time.perf_counter()
        wait_http(f"http://127.0.0.1:{port}/api/meta", 600)
        out["server ready"] = time.perf_counter() - t
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=600) as r:  # noqa: S310
            studies = json.loads(r.read())["study_summaries"]
        study_id = next(s["study_id"] for s in studies if s["study_name"] == NAME)
        for label in ("study API, first call", "study API, second call"):
            t = time.perf_counter()
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0",  # noqa: S310
                timeout=900,
            ) as r:
                body = r.read()
            out[label] = time.perf_counter() - t
        out["response MB"] = len(body) / 1e6
        out["trials in response"] = len(json.loads(body)["trials"])
        out["rss MB"], out["peak rss MB"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


# --------------------------------------------------------------------------- main


def run_size(trials: int, args: argparse.Namespace, out_dir: Path | None) -> dict[str, Any]:
    result: dict[str, Any] = {"trials": trials}
    folder = Path(tempfile.mkdtemp(prefix=f"bench-ui-{trials}-"))
    try:
        home = folder / "home"
        kept = args.keep_journals / f"{trials}x{args.params}x{args.steps}" if args.keep_journals else None
        if kept is not None and (kept / "optuna.journal").is_file():  # generated by an earlier run: same study
            home.mkdir(parents=True)
            shutil.copy(kept / "optuna.journal", home / "optuna.journal")
            (home / "optuna.journal.flock").touch()
            gen = {"seconds": 0.0, "operations": sum(1 for _ in open(home / "optuna.journal", "rb"))}
            gen["bytes"] = (home / "optuna.journal").stat().st_size
        else:
            gen = generate(home, trials, n_params=args.params, steps=args.steps)
            if kept is not None:
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copy(home / "optuna.journal", kept / "optuna.journal")
        result["generate"] = gen
        print(
            f"\n== {trials:,} trials x {args.params} parameters: journal of {gen['operations']:,} operations, "
            f"{gen['bytes'] / 1e6:.0f} MB, generated in {gen['seconds']:.1f} s",
            flush=True,
        )
        build = build_page_data(home)
        result["build"] = build
        for k, v in build.items():
            print(f"  {k:<45} {v:8.3f} s")
        print(f"  {'total (data + every figure)':<45} {sum(build.values()):8.3f} s", flush=True)
        if args.browser:
            if not Path(CHROMIUM).exists():
                print(f"  (browser timings skipped: {CHROMIUM} is missing; apt-get install chromium)")
            else:
                port = free_port()
                proc = start_ui(home, port, folder / "streamlit.log")
                try:
                    shots = None
                    if out_dir is not None:
                        shots = out_dir / f"{trials}"
                        shots.mkdir(parents=True, exist_ok=True)
                    views = VIEWS[:2] if args.quick else VIEWS
                    times = browser_times(port, views, shots)
                    result["browser"] = times
                    result["streamlit rss MB"], result["streamlit peak rss MB"] = rss_mb(proc.pid)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                print("  headless Chromium, workbench ui:")
                for k, v in times.items():
                    print(f"    {k:<58} {v:8.2f} s")
                print(
                    f"    Streamlit process memory: {result['streamlit rss MB']:.0f} MB now, "
                    f"{result['streamlit peak rss MB']:.0f} MB peak",
                    flush=True,
                )
        if args.peer:
            peer = peer_times(home / "optuna.journal", free_port(), folder / "optuna-dashboard.log")
            result["optuna-dashboard"] = peer
            print("  optuna-dashboard 127.0.0.1, same journal:")
            for k, v in peer.items():
                print(f"    {k:<58} {v:8.2f}" + (" s" if "MB" not in k and "trials" not in k else ""))
            if "browser" in result:
                ours = result["browser"]["experiment page, first open (reads the journal)"]
                warm = result["browser"]["experiment page, opened again (cached read model)"]
                theirs = peer["study API, first call"] + peer["server ready"]
                print(
                    f"  ratio: optuna-dashboard (start + first study API call, {theirs:.2f} s) / "
                    f"workbench page first open ({ours:.2f} s) = {theirs / ours:.1f}x; "
                    f"second call {peer['study API, second call']:.2f} s vs page reopened {warm:.2f} s",
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--params", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="intermediate values per succeeded trial")
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="skip optuna-dashboard")
    parser.add_argument("--quick", action="store_true", help="time only two extra views")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a screenshot of each view here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--keep-journals",
        type=Path,
        default=None,
        help="keep the generated journals in this folder and reuse them in later runs (generating 50,000 trials "
        "takes minutes)",
    )
    args = parser.parse_args()
    import platform

    print(f"bench_ui: Python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    results = [run_size(n, args, args.screenshots) for n in args.trials]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
