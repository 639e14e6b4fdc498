"""Local throughput: Workbench sweeps vs a hand-written Optuna + MLflow loop, and per-step launch overhead.

Measured in one run, on this machine, in fresh temporary stores:

(a) Trials per second of a sweep whose trial is a 1-step pipeline running a trivial
    ``@workbench.component`` (``benchmarks/_trivial_component.py``: computes a loss and
    prints ``loss=...``), with random search (seeded) and the same number of trials for
    every contender:

    * Workbench: ``Controller`` with the default recorder (MLflow SQLite + ML Metadata
      SQLite, written by a background thread) and Optuna's JournalStorage, all in a
      temporary workspace; ``parallelTrialCount`` 1 and 2. Every trial runs its step as
      a separate process (isolation, like a pod on Kubernetes).
    * the hand-written baseline: ``study.optimize`` with an Optuna SQLite (RDB) storage
      and ``optuna_integration.MLflowCallback`` on an MLflow SQLite tracking URI; the
      objective computes the same loss in-process.
    * bare in-memory Optuna (the limit: no storage, no tracking, in-process).
    * diagnostic rows: Workbench with tracking off (``BaseRecorder``), to show what the
      recorder costs.

    Every contender first runs a small warm-up experiment in its own stores, so imports
    and schema creation (MLflow's database migrations take seconds) are not timed; what
    is timed is one whole experiment: opening the stores, the trials, and for
    Workbench the final tracking flush.

(b) Per-step launch overhead of a trivial Python component: many single-step runs
    through ``PipelineRunner`` (``workbench.engine``) on the ``LocalBackend`` with no
    recorder, next to the floors ``python -c pass``, ``python -c "import
    workbench.runtime.launch"`` and the step's own command line run directly with
    ``subprocess.run``. The samples are interleaved so that drift hits them alike.
    Target: Workbench's overhead above the bare interpreter start <= 50 ms per step.

Run from the repository root::

    .venv/bin/python benchmarks/bench_local.py            # ~1-2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_local.py --quick    # smoke run, ~30 s
    .venv/bin/python benchmarks/bench_local.py --trials 200 --steps 200 --repeat 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):  # run as a script from anywhere: the repo and this folder importable
    if entry not in sys.path:
        sys.path.insert(0, entry)

import _trivial_component as trivial  # noqa: E402  (the component module every contender uses)

#: The search space every contender samples (random search, same seed).
LOW, HIGH = -5.0, 5.0
SEED = 42
#: Target for (b): Workbench's per-step overhead above ``python -c pass``.
TARGET_OVERHEAD_MS = 50.0


# --------------------------------------------------------------------------- helpers


def quiet() -> None:
    """Silence the stores' INFO logs and experimental-API warnings (they would drown the tables)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("mlflow", "alembic", "workbench", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a live process and of the children it reaped, from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _live_helpers_cpu() -> float:
    """CPU seconds of Workbench's long-lived helper processes: the fork server (with the steps it
    forked and reaped) and the MLflow writer processes of the kept recorders.

    They are children of this process that live until the end, so ``RUSAGE_CHILDREN`` does not
    count them yet: read their counters from ``/proc``.
    """
    from workbench.backends import _forkserver

    pids = []
    server = _forkserver._server
    if server is not None and server.proc.poll() is None:
        pids.append(server.proc.pid)
    todo = list(RECORDERS.values())
    while todo:  # Composite / Sharded -> Async -> ProcessRecorder
        part = todo.pop()
        todo += getattr(part, "recorders", [])
        todo += [part.inner] if hasattr(part, "inner") else []
        proc = getattr(part, "_proc", None)
        if proc is not None and proc.poll() is None:
            pids.append(proc.pid)
    return sum(_proc_cpu(pid) for pid in pids)


def cpu_seconds() -> tuple[float, float]:
    """(this process, every process it started: steps, fork server, tracking process) CPU seconds so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime + _live_helpers_cpu()


@dataclass
class Sweep:
    """One timed experiment."""

    name: str
    short: str
    model: str  # "in-process" or "1 process / trial"
    trials: int
    seconds: float
    cpu_self_ms: float  # per trial, this process (controller + recorder thread, or the whole loop)
    cpu_child_ms: float  # per trial, every process Workbench started (steps, fork server, MLflow writer)
    setup_seconds: float = 0.0  # the warm-up experiment (fresh stores: schema creation, first use)
    repeats: list[float] = field(default_factory=list)  # trials/s of every repeat
    diagnostic: bool = False

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    @property
    def ms_per_trial(self) -> float:
        return self.seconds / self.trials * 1000


def timed(trials: int, body: Callable[[], None]) -> tuple[float, float, float]:
    """Run ``body``; return (wall seconds, own CPU ms per trial, children CPU ms per trial)."""
    s0, c0 = cpu_seconds()
    t0 = time.perf_counter()
    body()
    seconds = time.perf_counter() - t0
    s1, c1 = cpu_seconds()
    return seconds, (s1 - s0) / trials * 1000, (c1 - c0) / trials * 1000


def median_round(runs: list[tuple[float, float, float]], trials: int) -> tuple[float, float, float, list[float]]:
    """The median round by wall time (the faster middle one for an even count) and every round's trials/s."""
    ordered = sorted(runs, key=lambda r: r[0])
    mid = ordered[(len(ordered) - 1) // 2]
    return mid[0], mid[1], mid[2], [trials / r[0] for r in runs]


# --------------------------------------------------------------------------- (a) contenders


def optuna_in_memory(trials: int) -> None:
    import optuna

    def objective(trial: optuna.Trial) -> float:
        return trivial.bowl(trial.suggest_float("x", LOW, HIGH), trial.suggest_float("y", LOW, HIGH))

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SEED))
    study.optimize(objective, n_trials=trials)
    assert len(study.trials) == trials


def optuna_sqlite_mlflow(folder: Path, name: str, trials: int) -> None:
    """What a user writes by hand: Optuna RDB (SQLite) + MLflowCallback (MLflow SQLite)."""
    import optuna
    from optuna_integration import MLflowCallback

    def objective(trial: optuna.Trial) -> float:
        return trivial.bowl(trial.suggest_float("x", LOW, HIGH), trial.suggest_float("y", LOW, HIGH))

    callback = MLflowCallback(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", metric_name="loss")
    study = optuna.create_study(
        study_name=name,
        storage=f"sqlite:///{folder / 'optuna.db'}",
        sampler=optuna.samplers.RandomSampler(seed=SEED),
    )
    study.optimize(objective, n_trials=trials, callbacks=[callback])
    assert len(study.trials) == trials


def workbench_spec(name: str, trials: int, parallel: int, seed: int = SEED) -> Any:
    from workbench.api import Experiment, Parameter

    return Experiment(
        name=name,
        objective="loss",
        direction="minimize",
        parameters=[Parameter.double("x", LOW, HIGH), Parameter.double("y", LOW, HIGH)],
        component=trivial.loss,
        algorithm="random",
        algorithm_settings={"random_state": seed},
        max_trials=trials,
        parallel=parallel,
    ).spec


#: The default recorder of each workspace (closed at the end of the benchmark).
RECORDERS: dict[str, Any] = {}


def workbench_sweep(home: Path, name: str, trials: int, parallel: int, tracking: bool) -> None:
    """One Workbench experiment in the workspace at ``home``, with the default recorder or none.

    Every experiment in the shared workspace gets a seed of its own (derived from its name): with
    the same seed, its trials would repeat the points of an earlier experiment, and Workbench's step
    cache (on by default) would reuse those steps' outputs instead of running them.
    """
    from workbench.search.controller import Controller
    from workbench.tracking import BaseRecorder, make_recorder
    from workbench.workspace import Workspace

    seed = SEED + zlib.crc32(name.encode()) % 100_000
    spec = workbench_spec(name, trials, parallel, seed)  # built outside the controller, like a loaded YAML
    ws = Workspace.at(home)
    # The default recorder, made once per workspace by the warm-up experiment and kept: starting its
    # MLflow writer process (an interpreter importing MLflow, about 2 s, once per controller) is an
    # import cost, untimed like the baseline's imports.
    if tracking and str(home) not in RECORDERS:
        RECORDERS[str(home)] = make_recorder(ws)
    recorder = RECORDERS[str(home)] if tracking else BaseRecorder()
    summary = Controller(spec, ws, recorder=recorder).run()  # opens the stores; flushes tracking at the end
    if summary.counts.get("Succeeded") != trials:
        raise SystemExit(f"workbench sweep {name}: expected {trials} succeeded trials, got {summary.counts}")


@dataclass
class Contender:
    label: str
    short: str
    model: str
    setup: Callable[[], None]  # the warm-up experiment (fresh stores)
    one: Callable[[int], None]  # one timed experiment (the argument numbers the repeat)
    diagnostic: bool = False


def contenders(root: Path, trials: int, warmup: int) -> list[Contender]:
    hand = root / "handwritten"
    hand.mkdir()
    ws = root / "workspace"  # one Workbench workspace for all its sweeps
    out = [
        Contender(
            "Optuna in-memory (the limit)",
            "in-memory",
            "in-process",
            lambda: optuna_in_memory(warmup),
            lambda i: optuna_in_memory(trials),
        ),
        Contender(
            "Optuna SQLite + MLflowCallback (baseline)",
            "hand-written",
            "in-process",
            lambda: optuna_sqlite_mlflow(hand, "warmup", warmup),
            lambda i: optuna_sqlite_mlflow(hand, f"sweep-{i}", trials),
        ),
    ]
    for parallel in (1, 2):
        out.append(
            Contender(
                f"Workbench, parallelTrialCount={parallel}, tracking on",
                f"Workbench p{parallel}",
                "1 process / trial",
                lambda p=parallel: workbench_sweep(ws, f"warmup-p{p}", warmup, p, True),
                lambda i, p=parallel: workbench_sweep(ws, f"sweep-p{p}-{i}", trials, p, True),
            )
        )
    for parallel in (1, 2):  # diagnostic: what the MLflow + ML Metadata recorder costs
        out.append(
            Contender(
                f"  diagnostic: same, p={parallel}, tracking off",
                f"p{parallel} untracked",
                "1 process / trial",
                lambda p=parallel: workbench_sweep(ws, f"warmup-nt-p{p}", warmup, p, False),
                lambda i, p=parallel: workbench_sweep(ws, f"sweep-nt-p{p}-{i}", trials, p, False),
                diagnostic=True,
            )
        )
    return out


def bench_throughput(root: Path, trials: int, warmup: int, repeat: int) -> list[Sweep]:
    """Warm every contender up, then time ``repeat`` rounds (round-robin, so noise is shared)."""
    quiet()
    todo = contenders(root, trials, warmup)
    setup: dict[str, float] = {}
    for c in todo:
        t0 = time.perf_counter()
        c.setup()
        setup[c.label] = time.perf_counter() - t0
    runs: dict[str, list[tuple[float, float, float]]] = {c.label: [] for c in todo}
    for i in range(repeat):
        for c in todo:
            runs[c.label].append(timed(trials, lambda c=c, i=i: c.one(i)))
            seconds = runs[c.label][-1][0]
            print(f"  round {i + 1}/{repeat}  {c.label.strip():<46} {trials / seconds:8.1f} trials/s", flush=True)
    results = []
    for c in todo:
        seconds, cpu_self, cpu_child, rates = median_round(runs[c.label], trials)
        results.append(
            Sweep(c.label, c.short, c.model, trials, seconds, cpu_self, cpu_child, setup[c.label], rates, c.diagnostic)
        )
    return results


def print_throughput(results: list[Sweep], warmup: int) -> None:
    base = next(r for r in results if r.short == "hand-written")
    print()
    print(
        f"(a) Sweep throughput: {base.trials} trials each, seeded random search, 1-step trivial component,"
        " step cache on (no hits)"
    )
    header = (
        f"{'contender':<46} {'how trials run':<18} {'trials/s':>9} {'ms/trial':>9} "
        f"{'vs baseline':>11} {'ctl CPU':>8} {'other CPU':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        child = f"{r.cpu_child_ms:6.1f}ms" if r.model != "in-process" else "-"
        spread = ""
        if len(r.repeats) > 1:
            spread = f"   (rounds: {', '.join(f'{x:.1f}' for x in r.repeats)})"
        print(
            f"{r.name:<46} {r.model:<18} {r.rate:9.1f} {r.ms_per_trial:9.1f} "
            f"{r.rate / base.rate:10.2f}x {r.cpu_self_ms:6.1f}ms {child:>9}{spread}"
        )
    print(
        "  NOTE: Workbench runs every trial's step as a separate process (isolation: a crash, a leak\n"
        "  or a hung import cannot touch the sweep; the same model as a pod per step on Kubernetes);\n"
        "  the baselines call the objective in-process.\n"
        "  vs baseline = trials/s over the hand-written loop's trials/s. ctl CPU = CPU of this process\n"
        "  per trial (controller + ML Metadata writer thread, or the whole in-process loop); other CPU =\n"
        "  CPU per trial of every process Workbench started: the steps (forked by the fork server), the\n"
        "  fork server, and the MLflow writer process. Timed: a whole experiment (open stores, trials, final tracking\n"
        "  flush) after a warm-up experiment in the same stores; imports and schema creation untimed;\n"
        "  with --repeat, the median round."
    )
    setups = ", ".join(f"{r.short} {r.setup_seconds:.1f}s" for r in results)
    print(f"  warm-up experiments ({warmup} trials, fresh stores, first use): {setups}")


# --------------------------------------------------------------------------- (b) per-step overhead


def one_step_pipeline() -> Any:
    from workbench.dsl import describe
    from workbench.spec import Pipeline

    return Pipeline.model_validate(
        {
            "name": "one-step",
            "parameters": [{"name": "x", "type": "Float"}, {"name": "y", "type": "Float"}],
            "steps": [
                {
                    "name": "loss",
                    "component": describe(trivial.loss.func),
                    "arguments": {"x": "{{params.x}}", "y": "{{params.y}}"},
                }
            ],
        }
    )


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "mean": statistics.fmean(samples),
        "median": statistics.median(samples),
        "p90": p90,
        "n": len(samples),
    }


def bench_step_overhead(root: Path, steps: int, warmup: int) -> dict[str, dict[str, float]]:
    from workbench.backends import LocalBackend
    from workbench.engine import PipelineRunner, RunContext
    from workbench.workspace import Workspace

    ws = Workspace.at(root / "engine")
    ws.ensure()
    pipeline = one_step_pipeline()
    forked = PipelineRunner(LocalBackend(fork=True), ws, recorder=None, metric_names=["loss"])
    spawned = PipelineRunner(LocalBackend(fork=False), ws, recorder=None, metric_names=["loss"])
    expected = trivial.bowl(1.5, -0.5)
    counter = [0]

    def engine(runner: Any) -> Callable[[], None]:
        def engine_step() -> None:
            counter[0] += 1
            result = runner.run(
                pipeline, {"x": 1.5, "y": -0.5}, RunContext(experiment="bench", run_id=f"r{counter[0]:06d}")
            )
            if result.state != "Succeeded" or result.collector.final("loss", "latest") != expected:
                raise SystemExit(f"engine step failed: {result.state} {result.message}")

        return engine_step

    engine_forked, engine_spawned = engine(forked), engine(spawned)

    # The step's own command line, as the engine builds it, run without the engine.
    launch_spec = {
        "file": str(Path(trivial.__file__).resolve()),
        "function": "loss",
        "params": {"x": 1.5, "y": -0.5},
        "artifacts": {},
        "outputs": {"Output": {"path": str(root / "direct-output"), "type": "Float"}},
        "report_as": None,
    }
    direct_argv = [sys.executable, "-m", "workbench.runtime.launch", json.dumps(launch_spec)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def spawn(argv: list[str]) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=root)

        return run

    contenders: dict[str, Callable[[], None]] = {
        "python -c pass": spawn([sys.executable, "-c", "pass"]),
        "python -c 'import workbench.runtime.launch'": spawn([sys.executable, "-c", "import workbench.runtime.launch"]),
        "python -m workbench.runtime.launch SPEC (direct)": spawn(direct_argv),
        "PipelineRunner + LocalBackend, 1 step (new process)": engine_spawned,
        "PipelineRunner + LocalBackend, 1 step (fork server)": engine_forked,
    }
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    engine_cpu = 0.0
    for i in range(warmup + steps):  # interleaved: drift and background noise hit every contender alike
        for name, body in contenders.items():
            c0 = time.process_time()
            t0 = time.perf_counter()
            body()
            if i >= warmup:
                samples[name].append((time.perf_counter() - t0) * 1000)
                if body is engine_forked:
                    engine_cpu += time.process_time() - c0
    out = {name: stats(s) for name, s in samples.items()}
    out["engine CPU in the controller process"] = {"per_step_ms": engine_cpu / steps * 1000}
    return out


def print_step_overhead(res: dict[str, dict[str, float]]) -> bool:
    print()
    n = res["python -c pass"]["n"]
    print(f"(b) Per-step launch overhead, trivial Python component ({n:.0f} interleaved samples each, wall ms)")
    header = f"{'what':<50} {'mean':>7} {'median':>7} {'p90':>7}"
    print(header)
    print("-" * len(header))
    for name, s in res.items():
        if "median" in s:
            print(f"{name:<50} {s['mean']:7.1f} {s['median']:7.1f} {s['p90']:7.1f}")
    bare = res["python -c pass"]["median"]
    imp = res["python -c 'import workbench.runtime.launch'"]["median"]
    direct = res["python -m workbench.runtime.launch SPEC (direct)"]["median"]
    spawned = res["PipelineRunner + LocalBackend, 1 step (new process)"]["median"]
    forked = res["PipelineRunner + LocalBackend, 1 step (fork server)"]["median"]
    overhead = forked - bare
    ok = overhead <= TARGET_OVERHEAD_MS
    print("medians, where the time of a step in a new process goes (WORKBENCH_FORKSERVER=0):")
    print(f"  the bare interpreter                                 {bare:7.1f} ms")
    print(f"  importing workbench.runtime.launch in the step      {imp - bare:7.1f} ms")
    print(f"  launcher: runpy, loading the component, output file {direct - imp:7.1f} ms")
    print(f"  engine: spawn from the controller, log pump, wait   {spawned - direct:7.1f} ms")
    print(
        f"the default, forked from the fork server: {forked:.1f} ms per step, {spawned / max(forked, 1e-9):.1f}x "
        f"faster (controller-side CPU {res['engine CPU in the controller process']['per_step_ms']:.1f} ms per step)"
    )
    print(
        f"Workbench overhead above `python -c pass`: {overhead:.1f} ms per step "
        f"(total {forked:.1f} ms; target <= {TARGET_OVERHEAD_MS:.0f} ms): {'PASS' if ok else 'FAIL'}"
    )
    return ok


# --------------------------------------------------------------------------- main


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("optuna", "optuna-integration", "mlflow", "ml-metadata"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} -")
    return ", ".join(out)


def busy_note() -> str:
    """A warning when other work is using the CPUs (the numbers would be noisy)."""
    load = os.getloadavg()[0]
    if load < 0.5 * (os.cpu_count() or 1):
        return f"load average {load:.2f} before the run"
    return (
        f"WARNING: load average {load:.2f} on {os.cpu_count()} CPUs before the run: other work is running, "
        "expect noisy numbers (use --repeat 3 or run on an idle machine)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60, help="trials per sweep, same for every contender (60)")
    parser.add_argument("--steps", type=int, default=80, help="samples per contender in (b) (80)")
    parser.add_argument("--repeat", type=int, default=1, help="timed sweeps per contender; the median is shown (1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 trials, 10 step samples")
    parser.add_argument("--only", choices=("a", "b"), help="run one part only")
    parser.add_argument("--tmpdir", help="where the temporary stores go (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores (path printed)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.steps, args.repeat = 10, 10, 1
    warmup = 1 if args.quick else 3
    if args.trials < 1 or args.steps < 1 or args.repeat < 1:
        parser.error("--trials, --steps and --repeat must be at least 1")

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="wb-bench-local-", dir=args.tmpdir))
    print(f"bench_local: {os.cpu_count()} CPUs, Python {platform.python_version()}, {versions()}\nstores in {root}")
    t0 = time.perf_counter()
    import ml_metadata  # noqa: F401
    import mlflow  # noqa: F401  (imported once, outside every timed part)
    import optuna_integration  # noqa: F401

    import workbench.api  # noqa: F401

    print(f"imports (not timed below): {time.perf_counter() - t0:.1f}s")
    report: dict[str, Any] = {"cpus": os.cpu_count(), "trials": args.trials, "versions": versions()}
    busy = busy_note()
    if busy:
        print(busy)
    try:
        if args.only in (None, "a"):
            print(f"(a) running sweeps of {args.trials} trials ...", flush=True)
            sweeps = bench_throughput(root, args.trials, warmup, args.repeat)
            print_throughput(sweeps, warmup)
            report["throughput"] = [{**asdict(s), "trials_per_s": s.rate} for s in sweeps]
        if args.only in (None, "b"):
            print(f"\n(b) timing {args.steps} single-step runs and process floors ...", flush=True)
            steps = bench_step_overhead(root, args.steps, 2 if args.quick else 5)
            ok = print_step_overhead(steps)
            report["step_overhead_ms"] = steps
            report["step_overhead_pass"] = ok
    finally:
        for recorder in RECORDERS.values():
            recorder.close()
        if args.keep:
            print(f"stores kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
    load = os.getloadavg()[0]
    print(f"\ntotal {time.perf_counter() - started:.0f}s (load average now {load:.2f}: our own work counts in it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
