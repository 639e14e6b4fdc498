"""The Kubernetes backend at scale, against the test API server: API requests and controller CPU per step.

One experiment of ``--trials`` trials (default 500) with ``--parallel`` pods in flight (default 50);
each trial is a one-step pipeline whose step is a container component running ``echo loss=<x>``
(the cheapest process the kubelet stand-in can start, so the machine's two cores go to the
controller and the server, not to the steps). The test API server
(``workbench.testing.k8s_server``) runs in a **separate process**, so the controller's CPU time
(``time.process_time`` of this process: every thread — the engine, the one watch, the log
streams, Optuna's JournalStorage) is measured alone. Tracking is off (``BaseRecorder``): it does
not depend on the backend and ``bench_tracking.py`` measures it.

Printed:

* API requests per step, from the server's counters: create, the shared list/watch, log,
  delete, retries — target **at most 6**;
* controller CPU milliseconds per step, next to the same experiment on the local backend
  (one process per step, run in the same session) as the peer;
* wall time and steps per second for both.

Run from the repository root::

    .venv/bin/python benchmarks/bench_k8s.py                 # 500 trials, 50 in flight (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_k8s.py --trials 100 --parallel 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import optuna

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def experiment(name: str, trials: int, parallel: int) -> Any:
    from workbench.spec import experiment_from_dict

    component = {
        "name": "echo",
        "inputs": [{"name": "x", "type": "Float"}],
        "implementation": {"container": {"image": "busybox", "command": [
            "echo", {"concat": ["loss=", {"inputValue": "x"}]}]}},
    }  # fmt: skip
    doc = {
        "name": name,
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "1"}]},
        "parallelTrialCount": parallel,
        "maxTrialCount": trials,
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
        "trialTemplate": {"component": component},
    }
    return experiment_from_dict(doc, REPO)


def start_server(workdir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.testing.k8s_server", "--port", "0", "--workdir", workdir],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    return proc, line.split()[1]


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/_stats", timeout=10) as resp:
        return json.loads(resp.read())["requests"]


def run(kind: str, trials: int, parallel: int) -> dict[str, Any]:
    from workbench.backends import LocalBackend
    from workbench.backends.kubernetes import KubernetesBackend, KubernetesSettings
    from workbench.search.controller import Controller
    from workbench.tracking._base import BaseRecorder
    from workbench.workspace import Workspace

    tmp = tempfile.mkdtemp(prefix=f"bench-k8s-{kind}-")
    ws = Workspace.at(Path(tmp) / "home")
    server = url = None
    if kind == "kubernetes":
        server, url = start_server(tmp)
        backend: Any = KubernetesBackend(KubernetesSettings(host=url, mount_path=str(ws.home)))
    else:
        backend = LocalBackend()
    try:
        spec = experiment(f"bench-{kind}", trials, parallel)
        before = stats(url) if url else {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = Controller(spec, ws, backend=backend, recorder=BaseRecorder()).run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        out: dict[str, Any] = {
            "backend": kind, "trials": trials, "parallel": parallel, "state": summary.state,
            "counts": summary.counts, "wall_s": round(wall, 2), "steps_per_s": round(trials / wall, 1),
            "controller_cpu_ms_per_step": round(1000 * cpu / trials, 2),
        }  # fmt: skip
        if url:
            after = stats(url)
            requests = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}
            total = sum(requests.values())
            out["requests"] = requests
            out["requests_per_step"] = round(total / trials, 3)
            out["client_side"] = backend.stats
        return out
    finally:
        if isinstance(backend, KubernetesBackend):
            backend.close()
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.WARNING)

    # Warm up imports (kubernetes client, optuna, the engine) outside the measurement.
    run("kubernetes", 4, 2)
    results = [run("kubernetes", args.trials, args.parallel), run("local", args.trials, args.parallel)]
    kube, local = results
    print(f"{args.trials} trials, {args.parallel} in flight, one step each (echo), tracking off")
    print(f"{'backend':<12}{'state':<11}{'wall s':>8}{'steps/s':>9}{'controller CPU ms/step':>24}{'API req/step':>14}")
    for r in results:
        req = f"{r['requests_per_step']:.2f}" if "requests_per_step" in r else "-"
        print(f"{r['backend']:<12}{r['state']:<11}{r['wall_s']:>8}{r['steps_per_s']:>9}"
              f"{r['controller_cpu_ms_per_step']:>24}{req:>14}")  # fmt: skip
    print("kubernetes API requests by kind:", json.dumps(kube["requests"], sort_keys=True))
    print(f"API requests per step: {kube['requests_per_step']:.2f} (target <= 6)")
    ratio = kube["controller_cpu_ms_per_step"] / max(local["controller_cpu_ms_per_step"], 1e-9)
    print(f"controller CPU per step: {kube['controller_cpu_ms_per_step']} ms on kubernetes, "
          f"{local['controller_cpu_ms_per_step']} ms locally ({ratio:.2f}x)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if kube["requests_per_step"] <= 6 and kube["state"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
