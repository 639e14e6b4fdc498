"""Tracking cost: what recording a trial costs in MLflow and ML Metadata (SQLite, one machine).

Measures, in a fresh temporary workspace:

* ``MlflowRecorder``: one trial run + one nested step run + 5 intermediate metrics + finish,
  in ms per trial; the peer is MLflow's own fluent API writing the same records
  (``start_run`` / nested ``start_run`` / ``log_params`` / ``log_metric`` / ``end_run``).
* ``MlmdRecorder``: one step (step_started + step_finished, one input and one output
  artifact), in ms per step.
* ``AsyncRecorder``: what a hook costs the caller (the engine's hot path), in µs per event.

Run: ``.venv/bin/python benchmarks/bench_tracking.py [--trials 50] [--steps 200]``
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from workbench.tracking import (
    AsyncRecorder,
    BaseRecorder,
    ExperimentInfo,
    MlflowRecorder,
    MlmdRecorder,
    OutputArtifact,
    RunInfo,
    StepInfo,
)

PARAMS = {"lr": 0.01, "depth": 6, "optimizer": "adam"}


def one_trial(rec: BaseRecorder, exp: str, n: int) -> None:
    run = RunInfo(run_id=f"{exp}-{n}", experiment=exp, pipeline="bench", trial_number=n, params=PARAMS)
    rec.run_started(run)
    step = StepInfo(run_id=run.run_id, experiment=exp, step="train", component="train", inputs=PARAMS, trial_number=n)
    rec.step_started(step)
    for i in range(5):
        rec.metric(run.run_id, "train", "accuracy", 0.5 + i / 10, i, time.time())
    step.state, step.exit_code, step.finished = "Succeeded", 0, time.time()
    rec.step_finished(step)
    run.state, run.metrics, run.finished = "Succeeded", {"accuracy": 0.9}, time.time()
    rec.run_finished(run)
    rec.flush()


def bench_mlflow_recorder(home: Path, trials: int) -> list[float]:
    rec = MlflowRecorder(f"sqlite:///{home / 'mlflow.db'}", artifact_root=(home / "mlruns").as_uri())
    rec.experiment_started(ExperimentInfo(name="bench-recorder"))
    for n in range(3):  # warm-up
        one_trial(rec, "bench-recorder", 1000 + n)
    times = []
    for n in range(trials):
        t0 = time.perf_counter()
        one_trial(rec, "bench-recorder", n)
        times.append((time.perf_counter() - t0) * 1000)
    rec.close()
    return times


def bench_mlflow_fluent(home: Path, trials: int) -> list[float]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    mlflow.set_experiment("bench-fluent")

    def trial(n: int) -> None:
        with mlflow.start_run(run_name=f"trial-{n}", tags={"workbench.trial": str(n)}):
            mlflow.log_params(PARAMS)
            with mlflow.start_run(run_name="train", nested=True, tags={"workbench.step": "train"}):
                mlflow.log_params(PARAMS)
                for i in range(5):
                    mlflow.log_metric("accuracy", 0.5 + i / 10, step=i)
            for i in range(5):
                mlflow.log_metric("accuracy", 0.5 + i / 10, step=i)
            mlflow.log_metric("accuracy", 0.9, step=4)
            mlflow.set_tag("workbench.state", "Succeeded")

    for n in range(3):
        trial(1000 + n)
    times = []
    for n in range(trials):
        t0 = time.perf_counter()
        trial(n)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def bench_mlmd(home: Path, steps: int) -> list[float]:
    rec = MlmdRecorder(f"sqlite:///{home / 'mlmd.sqlite'}")
    rec.experiment_started(ExperimentInfo(name="bench"))
    run = RunInfo(run_id="bench-run", experiment="bench", pipeline="bench", trial_number=0, params=PARAMS)
    rec.run_started(run)
    times = []
    prev = home / "artifacts" / "data-0.csv"
    for n in range(steps + 3):
        out = home / "artifacts" / f"data-{n + 1}.csv"
        step = StepInfo(
            run_id=run.run_id,
            experiment="bench",
            step=f"step-{n}",
            component="transform",
            inputs=PARAMS,
            input_artifacts={"data": (str(prev), "Dataset")},
            trial_number=0,
        )
        t0 = time.perf_counter()
        rec.step_started(step)
        step.state, step.exit_code = "Succeeded", 0
        step.outputs = [OutputArtifact("out", str(out), "Dataset"), OutputArtifact("rows", "", "Integer", value=n)]
        rec.step_finished(step)
        if n >= 3:  # after warm-up
            times.append((time.perf_counter() - t0) * 1000)
        prev = out
    rec.close()
    return times


def bench_async_enqueue(events: int) -> float:
    class Slow(BaseRecorder):
        def metric(self, *args: object) -> None:
            time.sleep(0.0001)

    rec = AsyncRecorder(Slow())
    t0 = time.perf_counter()
    for i in range(events):
        rec.metric("r", "s", "m", float(i), i, time.time())
    per_event = (time.perf_counter() - t0) / events * 1e6
    rec.close()
    return per_event


def summary(times: list[float]) -> str:
    times = sorted(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    return f"median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms   (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        home = Path(tmp)
        ours = bench_mlflow_recorder(home / "a", args.trials)
        peer = bench_mlflow_fluent(home / "b", args.trials)
        mlmd = bench_mlmd(home / "c", args.steps)
    enqueue = bench_async_enqueue(20_000)
    print("MLflow (SQLite), one trial = run + nested step + 5 metrics + finish")
    print(f"  MlflowRecorder        {summary(ours)}")
    print(f"  mlflow fluent (peer)  {summary(peer)}")
    print(f"  ratio recorder/peer   {statistics.median(ours) / statistics.median(peer):.2f}x")
    print("ML Metadata (SQLite), one step = step_started + step_finished, 1 input + 1 output artifact")
    print(f"  MlmdRecorder          {summary(mlmd)}")
    print(f"AsyncRecorder hook cost on the caller's thread: {enqueue:.1f} µs per event")


if __name__ == "__main__":
    main()
