"""Command latency: ``workbench ls / show / best / trials`` on a 3,000-trial experiment, next to Optuna's CLI.

In a temporary workspace, a study of ``--trials`` trials x ``--params`` parameters (floats, log
floats, ints, categoricals; 80 % Succeeded / 15 % Pruned / 5 % Failed, with the ``workbench.*``
attributes a controller writes) is written through Optuna's own ``JournalStorage`` API into the
workspace's ``optuna.journal`` (the generator of ``bench_ui.py``). Then every command below runs
as a whole process (interpreter start, imports, reading the journal, printing to a pipe),
``--repeat`` times, round-robin, and the median wall time and the median CPU time (user + system of
the process) are shown:

| row | command |
|---|---|
| floor | ``python -c pass`` |
| ``workbench --help`` | the CLI's own start-up: the peer of ``ls`` |
| ``workbench ls`` | the experiment list |
| ``workbench show big`` | summary, the best 10 trials, problems, best trial |
| ``workbench show big --all`` | the same with every trial in the table |
| ``workbench best big`` | the best trial |
| ``workbench trials big --csv`` | every trial as CSV |
| ``optuna trials`` | the stock Optuna CLI on the same journal: every trial as a table (peer of ``show``, ``trials``) |
| ``optuna best-trial`` | the stock Optuna CLI's best trial (peer of ``best``) |

Ratios are Workbench's median over its peer's (below 1: Workbench is faster), of wall time and of
CPU time; on a busy machine the CPU ratio is the steadier of the two. The targets of issue 17
item 1 are ``show`` faster than ``optuna trials`` and ``ls`` within 1.5x of ``workbench --help``;
they are printed as ratios with the load average, never as PASS or FAIL (a loaded machine moves the
absolute times, and less so the ratios).

Run from the repository root::

    .venv/bin/python benchmarks/bench_cli.py                  # 3,000 trials, 5 rounds (~1-2 min)
    .venv/bin/python benchmarks/bench_cli.py --trials 100 1000 3000 --repeat 3
    .venv/bin/python benchmarks/bench_cli.py --quick           # 300 trials, 2 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_ui import NAME, generate  # noqa: E402  (the same generated study as the dashboard benchmark)

BIN = Path(sys.executable).parent
#: (label, peer label or None): the rows, in order.
ROWS: list[tuple[str, str | None]] = [
    ("python -c pass", None),
    ("workbench --help", None),
    ("workbench ls", "workbench --help"),
    ("workbench show", "optuna trials"),
    ("workbench show --all", "optuna trials"),
    ("workbench best", "optuna best-trial"),
    ("workbench trials --csv", "optuna trials"),
    ("optuna trials", None),
    ("optuna best-trial", None),
]


def commands(home: Path) -> dict[str, list[str]]:
    """The command line of every row."""
    wb, journal = str(BIN / "workbench"), str(home / "optuna.journal")
    optuna = [str(BIN / "optuna"), "--storage", journal, "--storage-class", "JournalFileBackend"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "workbench --help": [wb, "--help"],
        "workbench ls": [wb, "ls"],
        "workbench show": [wb, "show", NAME],
        "workbench show --all": [wb, "show", NAME, "--all"],
        "workbench best": [wb, "best", NAME],
        "workbench trials --csv": [wb, "trials", NAME, "--csv"],
        "optuna trials": [*optuna, "trials", "--study-name", NAME],
        "optuna best-trial": [*optuna, "best-trial", "--study-name", NAME],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one whole process, and the bytes it printed.

    An error names the command and the last line of its stderr.
    """
    cpu, started = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err[-1] if err else ''}")
    return seconds, cpu, len(proc.stdout)


def measure(home: Path, repeat: int) -> dict[str, dict[str, Any]]:
    """Every row ``repeat`` times, round-robin (one warm-up round first, untimed: the file cache)."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "COLUMNS": "160"}
    env.pop("WORKBENCH_OPTUNA_URL", None)
    argvs = commands(home)
    times: dict[str, list[float]] = {label: [] for label, _ in ROWS}
    cpus: dict[str, list[float]] = {label: [] for label, _ in ROWS}
    sizes: dict[str, int] = {}
    failed: dict[str, str] = {}
    for rnd in range(repeat + 1):
        for label, _ in ROWS:
            if label in failed:
                continue
            try:
                seconds, cpu, size = run_once(argvs[label], env, home.parent)
            except RuntimeError as err:
                failed[label] = str(err)
                continue
            if rnd:
                times[label].append(seconds)
                cpus[label].append(cpu)
            sizes[label] = size
    out: dict[str, dict[str, Any]] = {}
    for label, _ in ROWS:
        if label in failed:
            out[label] = {"error": failed[label]}
            continue
        out[label] = {
            "median": statistics.median(times[label]),
            "cpu": statistics.median(cpus[label]),
            "rounds": times[label],
            "bytes": sizes[label],
        }
    for label, peer in ROWS:
        if peer and "median" in out[label] and "median" in out[peer]:
            mine, theirs = out[label], out[peer]
            mine.update(peer=peer, ratio=mine["median"] / theirs["median"], cpu_ratio=mine["cpu"] / theirs["cpu"])
    return out


def report(results: dict[str, dict[str, Any]]) -> None:
    print(f"  {'command':<24} {'median':>8} {'min':>7} {'max':>7} {'CPU':>7} {'output':>9}   ratio to peer: wall, CPU")
    for label, row in results.items():
        if "error" in row:
            print(f"  {label:<24} error: {row['error']}")
            continue
        ratio = f"{row['ratio']:.2f}x, {row['cpu_ratio']:.2f}x {row['peer']}" if "ratio" in row else ""
        print(
            f"  {label:<24} {row['median']:7.3f}s {min(row['rounds']):6.3f}s {max(row['rounds']):6.3f}s "
            f"{row['cpu']:6.3f}s {row['bytes'] / 1024:7.1f}KB   {ratio}"
        )


def run_size(trials: int, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-cli-{trials}-"))
    try:
        home = folder / "home"
        gen = generate(home, trials, n_params=args.params, steps=args.steps)
        print(
            f"\n== {trials:,} trials x {args.params} parameters: journal of {gen['operations']:,} operations, "
            f"{gen['bytes'] / 1e6:.1f} MB (generated in {gen['seconds']:.1f} s); "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        results = measure(home, args.repeat)
        report(results)
        print(f"  load average after: {os.getloadavg()[0]:.2f}", flush=True)
        if args.keep:
            print(f"  kept: {home}")
        return {"trials": trials, "generate": gen, "commands": results, "load": os.getloadavg()[0]}
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[3000], help="study sizes (3000)")
    parser.add_argument("--params", type=int, default=10, help="parameters per trial (10)")
    parser.add_argument("--steps", type=int, default=10, help="intermediate values per succeeded trial (10)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per command, round-robin (5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 trials, 2 rounds")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces and print their path")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.repeat = [300], 2
    if not (BIN / "workbench").exists() or not (BIN / "optuna").exists():
        print(f"run with the project's virtualenv: {BIN} has no workbench or optuna command", file=sys.stderr)
        return 2
    load = os.getloadavg()
    print(
        f"bench_cli: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run"
        + (" (busy: expect noisy absolute times; read the ratios)" if load[0] > 0.5 * (os.cpu_count() or 1) else "")
    )
    results = [run_size(n, args) for n in args.trials]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
