"""Step caching: a fully cached re-run of a 3-step pipeline, Workbench against Kubeflow Pipelines' local cache.

Both sides run the same pipeline (``load`` writes a 1,000-row dataset, ``train`` reads it,
prints a 5-epoch loss curve and writes a model, ``evaluate`` reads the model and returns a
score) once for real, then again and again unchanged, so that every step comes from the cache.
Each re-run is timed whole, from the call to its return:

- Workbench: ``PipelineRunner.run`` with the workspace's step cache (its index of cache keys,
  ML Metadata behind it) and the recorder a sweep uses for lineage (ML Metadata, written by a
  writer thread off the hot path; each run's records are flushed, untimed, before the next,
  and the flush is reported apart). A cached step computes its key (component, inputs, input
  artifact digests, scope), checks that its outputs still exist with the digests they had,
  copies its log, replays its metrics and is recorded as Cached.
- KFP: ``kfp.local`` with ``SubprocessRunner`` and ``enable_caching=True``, the pipeline called
  as a function (KFP computes each task's key, reads its cache entry, checks that its output
  files exist). It needs a Python with ``kfp`` >= 2.17, which cannot share the project's
  virtualenv (protobuf 6 against ml-metadata's < 5): ``--kfp-python``, default
  ``$WORKBENCH_KFP_PYTHON`` or ``.venv-kfp/bin/python`` (``make bench-kfp-venv`` makes it).

The runs alternate (one Workbench run, one KFP run), so drift in the machine's load hits both
alike. The script prints medians, the ratio and the load average; on a loaded machine absolute
times mean little, and it judges nothing against the target (<= 10 ms of engine time).

    .venv/bin/python benchmarks/bench_cache.py [--repeat 30] [--kfp-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from workbench.backends import LocalBackend
from workbench.engine import PipelineRunner, RunContext
from workbench.spec import pipeline_from_dict
from workbench.tracking import AsyncRecorder, MlmdRecorder, make_step_cache
from workbench.workspace import Workspace

STEPS = """
from workbench import component, Input, Output, Dataset, Model

@component
def load(rows: int, data: Output[Dataset]):
    with open(data.path, "w") as fh:
        fh.write("\\n".join(str(i) for i in range(rows)))

@component
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
    values = [int(x) for x in open(data.path)]
    for epoch in range(5):
        print(f"loss={1.0 / (epoch + 1 + lr)}")
    open(model.path, "w").write(str(sum(values) * lr))

@component
def evaluate(model: Input[Model]) -> float:
    score = float(open(model.path).read())
    print(f"score={score}")
    return score
"""

REPO = Path(__file__).resolve().parents[1]
PEER = Path(__file__).with_name("_kfp_cache_peer.py")


class KfpPeer:
    """The KFP side, in its own interpreter: one timed pipeline call per request."""

    def __init__(self, python: str) -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            [python, str(PEER), str(write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=(write,),
        )
        os.close(write)
        self.answers = os.fdopen(read, "r")

    def run(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        line = self.answers.readline()
        if not line:
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise SystemExit(f"the KFP peer ended:\n{stderr[-2000:]}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.answers.close()


def _kfp_python(given: str | None) -> str:
    python = given or os.environ.get("WORKBENCH_KFP_PYTHON") or str(REPO / ".venv-kfp" / "bin" / "python")
    check = (
        subprocess.run([python, "-c", "import kfp.local.cache"], capture_output=True) if Path(python).exists() else None
    )
    if check is None or check.returncode != 0:
        raise SystemExit(
            f"no Python with kfp >= 2.17 at {python}: run `make bench-kfp-venv` (a virtualenv .venv-kfp with "
            "kfp==2.17.3), or give --kfp-python / $WORKBENCH_KFP_PYTHON"
        )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="cached runs to time on each side (default 30)")
    parser.add_argument("--kfp-python", help="a Python with kfp >= 2.17 (default: $WORKBENCH_KFP_PYTHON or .venv-kfp)")
    args = parser.parse_args()
    peer = KfpPeer(_kfp_python(args.kfp_python))

    root = Path(tempfile.mkdtemp(prefix="wb-bench-cache-"))
    try:
        (root / "steps.py").write_text(textwrap.dedent(STEPS))
        pipeline = pipeline_from_dict(
            {
                "name": "bench-cache",
                "steps": [
                    {"name": "load", "component": "steps.py:load", "arguments": {"rows": 1000}},
                    {"name": "train", "component": "steps.py:train",
                     "arguments": {"data": "{{steps.load.outputs.data}}"}},
                    {"name": "evaluate", "component": "steps.py:evaluate",
                     "arguments": {"model": "{{steps.train.outputs.model}}"}},
                ],
            },
            root,
        )  # fmt: skip
        ws = Workspace.at(root / "ws")
        ws.ensure()
        recorder = AsyncRecorder(MlmdRecorder(ws.mlmd_url))
        runner = PipelineRunner(
            LocalBackend(), ws, recorder=recorder, metric_names=["loss", "score"], cache=make_step_cache(ws)
        )

        def workbench_run(run_id: str) -> tuple[float, float, dict[str, str], Any]:
            started = time.perf_counter()
            result = runner.run(pipeline, {}, RunContext(experiment="bench", run_id=run_id))
            elapsed = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            recorder.flush()
            flushed = (time.perf_counter() - started) * 1000
            assert result.state == "Succeeded", result.message
            return (
                elapsed,
                flushed,
                {n: s.state for n, s in result.steps.items()},
                result.collector.final("score", "latest"),
            )

        load_before = os.getloadavg()[0]
        wb_first, _, first_states, wb_score = workbench_run("first")
        kfp_first = peer.run()
        assert kfp_first["output"] == wb_score, (kfp_first, wb_score)
        wb, flush, kfp = [], [], []
        for i in range(args.repeat):
            ms, flushed, states, score = workbench_run(f"cached-{i}")
            assert set(states.values()) == {"Cached"} and score == wb_score, (states, score)
            wb.append(ms)
            flush.append(flushed)
            answer = peer.run()
            assert answer["output"] == wb_score, answer
            kfp.append(answer["ms"])
        peer.close()
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def line(label: str, values: list[float]) -> str:
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        return f"  {label:<44} median {statistics.median(values):7.2f} ms   p90 {p90:7.2f} ms"

    print(f"3-step pipeline (load -> train -> evaluate), {args.repeat} fully cached re-runs per side, alternating")
    print(f"  first runs (every step runs): Workbench {wb_first:.0f} ms {first_states}, KFP {kfp_first['ms']:.0f} ms")
    print(line("Workbench PipelineRunner.run (engine time)", wb))
    print(line("  + its lineage flush afterwards (untimed above)", flush))
    print(line("KFP kfp.local, SubprocessRunner, cache on", kfp))
    ratio = statistics.median(wb) / statistics.median(kfp)
    print(f"  ratio Workbench / KFP (medians): {ratio:.2f}x   (target: Workbench <= 10 ms of engine time)")
    print(f"  load average {load_before:.2f} before, {load_after:.2f} after, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
