"""Step caching against a real ML Metadata store: hits, misses and invalidation."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from workbench.backends import LocalBackend
from workbench.engine import PipelineRunner, RunContext
from workbench.spec import pipeline_from_dict
from workbench.tracking import MlmdRecorder, MlmdStepCache, lineage_of_run
from workbench.workspace import Workspace

STEPS = """
from workbench import component, report, Input, Output, Dataset, Model

@component
def make(n: int, data: Output[Dataset]) -> int:
    with open(data.path, "w") as fh:
        fh.write(",".join(str(i) for i in range(n)))
    return n

@component
def train(data: Input[Dataset], model: Output[Model], scale: float = 1.0) -> float:
    values = [int(x) for x in open(data.path).read().split(",")]
    for epoch in range(3):
        report(score=sum(values) * scale + epoch, step=epoch)
    open(model.path, "w").write(str(sum(values) * scale))
    return sum(values) * scale

@component
def evaluate(model: Input[Model]) -> float:
    value = float(open(model.path).read())
    print(f"final={value}")
    return value
"""


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "pipe"
        self.dir.mkdir()
        (self.dir / "steps.py").write_text(textwrap.dedent(STEPS))
        self.ws = Workspace.at(tmp_path / "ws")
        self.ws.ensure()
        self.recorder = MlmdRecorder(self.ws.mlmd_url)
        self.cache = MlmdStepCache(self.ws.mlmd_url)
        self.runs = 0

    def pipeline(self, **overrides):
        doc = {
            "name": "p",
            "parameters": [{"name": "n", "type": "Integer", "default": 5}, {"name": "scale", "type": "Float"}],
            "steps": [
                {"name": "make", "component": "steps.py:make", "arguments": {"n": "{{params.n}}"}},
                {
                    "name": "train",
                    "component": "steps.py:train",
                    "arguments": {"data": "{{steps.make.outputs.data}}", "scale": "{{params.scale}}"},
                },
                {
                    "name": "evaluate",
                    "component": "steps.py:evaluate",
                    "arguments": {"model": "{{steps.train.outputs.model}}"},
                },
            ],
            **overrides,
        }
        return pipeline_from_dict(doc, self.dir)

    def run(self, arguments=None, pipeline=None, cache=True):
        self.runs += 1
        runner = PipelineRunner(
            LocalBackend(),
            self.ws,
            recorder=self.recorder,
            metric_names=["score", "final"],
            cache=self.cache if cache else None,
        )
        result = runner.run(
            pipeline or self.pipeline(),
            {"scale": 1.0, **(arguments or {})},
            RunContext(experiment="e", run_id=f"run{self.runs}"),
        )
        assert result.state == "Succeeded", result.message
        return result


def states(result):
    return {name: s.state for name, s in result.steps.items()}


@pytest.fixture
def setup(tmp_path):
    return Setup(tmp_path)


def test_unchanged_pipeline_is_all_cached_with_outputs_and_metrics_reused(setup):
    first = setup.run()
    second = setup.run()
    assert states(first) == {"make": "Succeeded", "train": "Succeeded", "evaluate": "Succeeded"}
    assert states(second) == {"make": "Cached", "train": "Cached", "evaluate": "Cached"}
    assert second.steps["train"].outputs == first.steps["train"].outputs
    assert second.steps["train"].cached_from == "run1/train"
    # Metrics are replayed from the cached step's log, so a cached trial still has its objective.
    assert second.collector.values["score"] == first.collector.values["score"]
    assert second.collector.final("final", "latest") == 10.0
    lineage = lineage_of_run(setup.ws.mlmd_url, "run2")
    assert {e["step"]: e["mlmd_state"] for e in lineage["executions"]} == {
        "make": "CACHED",
        "train": "CACHED",
        "evaluate": "CACHED",
    }


def test_changed_parameter_reruns_only_what_depends_on_it(setup):
    setup.run()
    result = setup.run({"scale": 2.0})
    assert states(result) == {"make": "Cached", "train": "Succeeded", "evaluate": "Succeeded"}
    assert result.collector.final("final", "latest") == 20.0


def test_same_content_from_a_rerun_upstream_is_still_a_hit(setup):
    """Keys use input *content*: an upstream step that ran again but wrote the same bytes changes nothing."""
    setup.run()
    p = setup.pipeline()
    p.steps[0].cache = False  # make runs again, writes identical data
    result = setup.run(pipeline=p)
    assert states(result) == {"make": "Succeeded", "train": "Cached", "evaluate": "Cached"}


def test_deleted_or_changed_cached_output_invalidates_the_hit(setup):
    first = setup.run()
    model = Path(first.steps["train"].outputs["model"])
    model.unlink()
    result = setup.run()
    assert states(result)["train"] == "Succeeded"
    model2 = Path(result.steps["train"].outputs["model"])
    model2.write_text("999")  # changed behind our back
    os.utime(model2, ns=(1, 1))
    result = setup.run()
    assert states(result)["train"] == "Succeeded"  # not reusing the tampered file
    assert result.collector.final("final", "latest") == 10.0


def test_cache_off_per_step_per_pipeline_and_per_run(setup):
    setup.run()
    p = setup.pipeline()
    p.steps[1].cache = False
    assert states(setup.run(pipeline=p)) == {"make": "Cached", "train": "Succeeded", "evaluate": "Cached"}
    assert set(states(setup.run(pipeline=setup.pipeline(cache=False))).values()) == {"Succeeded"}
    assert set(states(setup.run(cache=False)).values()) == {"Succeeded"}


def test_max_cache_staleness(setup):
    setup.run()
    time.sleep(0.3)
    result = setup.run(pipeline=setup.pipeline(maxCacheStaleness="0.1s"))
    assert set(states(result).values()) == {"Succeeded"}
    assert set(states(setup.run(pipeline=setup.pipeline(maxCacheStaleness="1h"))).values()) == {"Cached"}


def test_changed_component_code_or_env_invalidates(setup):
    setup.run()
    steps = setup.dir / "steps.py"
    steps.write_text(steps.read_text().replace('print(f"final={value}")', 'print(f"final={value + 1}")'))
    result = setup.run()
    # The digest covers the component's whole source file (helpers it calls may live there too).
    assert set(states(result).values()) == {"Succeeded"}
    assert result.collector.final("final", "latest") == 11.0
    assert set(states(setup.run()).values()) == {"Cached"}
    p = setup.pipeline()
    p.steps[0].env = {"MODE": "x"}
    assert states(setup.run(pipeline=p))["make"] == "Succeeded"


def test_external_input_file_content_is_part_of_the_key(tmp_path):
    data = tmp_path / "input.txt"
    data.write_text("a")
    ws = Workspace.at(tmp_path / "ws")
    ws.ensure()
    comp = {
        "name": "count",
        "inputs": [{"name": "data", "type": "Dataset"}],
        "outputs": [{"name": "n"}],
        "implementation": {
            "container": {
                "command": [
                    "python3",
                    "-c",
                    "import sys; open(sys.argv[2], 'w').write(str(len(open(sys.argv[1]).read())))",
                    {"inputPath": "data"},
                    {"outputPath": "n"},
                ]
            }
        },
    }
    pipeline = pipeline_from_dict(
        {"name": "p", "steps": [{"name": "count", "component": comp, "arguments": {"data": str(data)}}]}, tmp_path
    )
    runner = PipelineRunner(LocalBackend(), ws, recorder=MlmdRecorder(ws.mlmd_url), cache=MlmdStepCache(ws.mlmd_url))
    run = lambda i: runner.run(pipeline, {}, RunContext(experiment="e", run_id=f"r{i}"))  # noqa: E731
    assert run(1).steps["count"].state == "Succeeded"
    assert run(2).steps["count"].state == "Cached"
    data.write_text("abc")
    third = run(3)
    assert third.steps["count"].state == "Succeeded"
    assert Path(third.steps["count"].outputs["n"]).read_text() == "3"
