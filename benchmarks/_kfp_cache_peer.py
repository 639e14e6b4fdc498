"""The peer of ``bench_cache.py``: the same 3-step pipeline in Kubeflow Pipelines' local mode, cache on.

Not a benchmark on its own: ``bench_cache.py`` starts it with a Python that has ``kfp`` (2.17 or
later: ``kfp.local`` with ``enable_caching``), which cannot share the project's virtualenv (kfp needs
protobuf 6, ml-metadata protobuf < 5). It reads one command per line on stdin and answers each with
one JSON line on the file descriptor given as its argument:

- ``run``: call the pipeline once, timed from the call to its return (the first call runs the
  three components as processes with ``SubprocessRunner``; later calls are served from the cache);
  answers ``{"ms": ..., "output": ...}``.

KFP's own log lines go to this process's stdout, which the benchmark discards.

    PEER_PYTHON benchmarks/_kfp_cache_peer.py FD

(No ``from __future__ import annotations`` here: KFP reads the components' annotations as types.)
"""

import json
import os
import sys
import tempfile
import time

from kfp import dsl, local
from kfp.dsl import Dataset, Input, Model, Output

# The same components as bench_cache.py's Workbench side: a dataset, a 5-epoch "training" that
# prints its loss, and an evaluation returning a score. KFP is installed where they run.


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def load(rows: int, data: Output[Dataset]):
    with open(data.path, "w") as fh:
        fh.write("\n".join(str(i) for i in range(rows)))


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1):
    values = [int(x) for x in open(data.path)]
    for epoch in range(5):
        print(f"loss={1.0 / (epoch + 1 + lr)}")
    open(model.path, "w").write(str(sum(values) * lr))


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def evaluate(model: Input[Model]) -> float:
    score = float(open(model.path).read())
    print(f"score={score}")
    return score


@dsl.pipeline(name="bench-cache")
def bench_cache() -> float:
    made = load(rows=1000)
    trained = train(data=made.outputs["data"])
    return evaluate(model=trained.outputs["model"]).output


def main() -> int:
    out = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    root = tempfile.mkdtemp(prefix="wb-bench-kfp-")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root, enable_caching=True)
    for line in sys.stdin:
        if line.strip() != "run":
            out.write(json.dumps({"error": f"unknown command {line.strip()!r}"}) + "\n")
            continue
        started = time.perf_counter()
        task = bench_cache()
        elapsed = (time.perf_counter() - started) * 1000
        out.write(json.dumps({"ms": elapsed, "output": task.output}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
