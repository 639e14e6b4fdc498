"""Fan-out scheduling: time per iteration of a loop of trivial steps at 100, 300 and 1,000 iterations.

The engine activates a step when its count of unfinished upstream steps reaches zero, so a
completion costs O(its edges): the time per iteration must stay flat as the loop grows (a
scheduler that rescans the whole graph on every completion grows linearly per iteration, i.e.
quadratically in total).

Two measurements, each at every size:

- ``processes``: each iteration is a real process on the local backend (``sh -c 'echo "$1" > "$2"'``,
  about the fastest launch there is), ``parallelism`` at a time, followed by a fan-in step that
  collects every iteration's output. This is what a user sees.
- ``in-process``: the same pipeline on a backend whose steps end at once (no process), which
  leaves only the engine's own work per iteration: readiness, input resolution, the thread.

Printed: seconds per iteration and the ratio to the smallest size (about 1.0 = linear total).

    .venv/bin/python benchmarks/bench_fanout.py [--sizes 100 300 1000] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from workbench.backends import LocalBackend
from workbench.backends._base import BaseBackend, StepHandle, StepLaunch
from workbench.engine import PipelineRunner, RunContext
from workbench.spec import pipeline_from_dict
from workbench.workspace import Workspace


class _Done(StepHandle):
    """A step that has already ended well (it writes its outputs, as a real step would)."""

    def __init__(self, launch: StepLaunch) -> None:
        for path in launch.outputs.values():
            Path(path).write_text("1")

    def lines(self) -> Iterator[str]:
        return iter(())

    def wait(self, timeout: float | None = None) -> int | None:
        return 0

    def cancel(self, grace: float = 5.0) -> None:
        return None


class InstantBackend(BaseBackend):
    """Steps end as soon as they start: what is left to time is the engine."""

    def start(self, launch: StepLaunch) -> StepHandle:
        return _Done(launch)


def pipeline(size: int, parallelism: int, base: Path) -> object:
    """``work`` once per item (``sh`` writes the item to its output), then ``gather`` takes the list."""
    work = {
        "name": "work",
        "inputs": [{"name": "x"}],
        "outputs": [{"name": "y"}],
        "implementation": {"container": {"command": [
            "sh", "-c", 'echo "$1" > "$2"', "sh", {"inputValue": "x"}, {"outputPath": "y"}]}},
    }  # fmt: skip
    gather = {
        "name": "gather",
        "inputs": [{"name": "ys", "type": "JsonArray"}],
        "implementation": {"container": {"command": ["true", {"inputValue": "ys"}]}},
    }
    return pipeline_from_dict(
        {
            "name": "fanout",
            "steps": [
                {"name": "work", "component": work, "arguments": {"x": "{{item}}"},
                 "forEach": {"items": list(range(size)), "parallelism": parallelism}},
                {"name": "gather", "component": gather, "arguments": {"ys": "{{steps.work.outputs.y}}"}},
            ],
        },  # fmt: skip
        base,
    )


def measure(backend: BaseBackend, size: int, parallelism: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        runner = PipelineRunner(backend, Workspace.at(Path(tmp) / "ws"))
        spec = pipeline(size, parallelism, Path(tmp))
        started = time.perf_counter()
        result = runner.run(spec, {}, RunContext(experiment="bench", run_id=f"fanout-{size}"))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        if result.state != "Succeeded":
            raise SystemExit(f"the {size}-iteration run {result.state}: {result.message}")
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    print(f"fan-out of trivial steps, parallelism {args.parallelism}")
    for label, backend in (("processes", LocalBackend()), ("in-process", InstantBackend())):
        first = None
        for size in args.sizes:
            seconds = measure(backend, size, args.parallelism)
            per = seconds / size
            first = first or per
            print(f"  {label:10} {size:5} iterations: {seconds:7.2f} s total, {per * 1000:6.2f} ms/iteration, "
                  f"x{per / first:.2f} vs {args.sizes[0]}")  # fmt: skip


if __name__ == "__main__":
    main()
