"""Step caching against a real ML Metadata store: hits, misses and invalidation."""

from __future__ import annotations

import os
import shutil
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


# ------------------------------------------------------------------- a cached step's metrics, any collector

EMIT = {  # a step printing a loss curve 0.9, 0.5, 0.3 the way each collector reads it
    "stdout": "for i, v in enumerate((0.9, 0.5, 0.3)): print(f'epoch {i}: loss={v}')",
    "jsonl": "import json\nfor i, v in enumerate((0.9, 0.5, 0.3)): print(json.dumps({'loss': v, 'step': i}))",
    "format": "for v in (0.9, 0.5, 0.3): print(f'loss -> {v}')",
    "report": "from workbench import report\nfor i, v in enumerate((0.9, 0.5, 0.3)): report(loss=v, step=i)\n"
    "print('loss=999')",
    # File collectors: the file holds the curve; stdout and report() say otherwise and are not read.
    "file": "import sys\nfrom workbench import report\nprint('loss=999')\nreport(loss=998, step=9)\n"
    "with open(sys.argv[1], 'w') as fh:\n    for v in (0.9, 0.5, 0.3): fh.write(f'loss={v}\\n')",
    "filejson": "import json, sys\nprint('loss=999')\nwith open(sys.argv[1], 'w') as fh:\n"
    "    for i, v in enumerate((0.9, 0.5, 0.3)): fh.write(json.dumps({'loss': v, 'step': i}) + '\\n')",
}
KATIB_FILE = "/var/log/katib/metrics.log"
COLLECTORS = {
    "stdout": ("stdout", {}),
    "jsonl": ("jsonl", {}),
    "format": ("format", {"source": {"filter": {"metricsFormat": [r"(\w+) -> ([\d.]+)"]}}}),
    "push": ("report", {"collector": {"kind": "Push"}}),
    "file-text": ("file", {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"path": KATIB_FILE}}}),
    "file-json": (
        "filejson",
        {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"path": KATIB_FILE, "format": "JSON"}}},
    ),
}


def one_step(name: str, script: str, pipeline: str = "p"):
    command = ["python3", "-c", script, KATIB_FILE]
    comp = {"name": name, "implementation": {"container": {"command": command}}}
    return pipeline_from_dict({"name": pipeline, "steps": [{"name": "train", "component": comp}]}, Path("."))


class Sweep:
    """Runs of one pipeline as trials (or standalone runs), with the workspace's step cache."""

    def __init__(self, tmp_path: Path, collector: dict | None = None) -> None:
        from workbench.spec import MetricsCollectorSpec
        from workbench.tracking import make_step_cache

        self.ws = Workspace.at(tmp_path / "ws")
        self.ws.ensure()
        self.recorder = MlmdRecorder(self.ws.mlmd_url)
        self.cache = make_step_cache(self.ws)
        self.metrics = MetricsCollectorSpec.model_validate(collector or {})
        self.runs = 0

    def run(self, pipeline, experiment="e", namespace="default", trial=True, cache=None):
        self.runs += 1
        seen = []

        def on_metric(name, value, index, replayed=False):
            seen.append((name, value, index, replayed))

        runner = PipelineRunner(LocalBackend(), self.ws, recorder=self.recorder, metrics=self.metrics,
                                metric_names=["loss"], cache=cache or self.cache)  # fmt: skip
        ctx = RunContext(experiment=experiment, run_id=f"run{self.runs}", namespace=namespace,
                         trial_number=self.runs if trial else None)  # fmt: skip
        result = runner.run(pipeline, {}, ctx, on_metric=on_metric)
        assert result.state == "Succeeded", result.message
        result.seen = seen
        return result


@pytest.mark.parametrize("kind", sorted(COLLECTORS))
def test_a_cached_step_yields_exactly_the_metrics_the_original_yielded(tmp_path, kind):
    emit, collector = COLLECTORS[kind]
    sweep = Sweep(tmp_path, collector)
    pipeline = one_step("train", EMIT[emit])
    first, second = sweep.run(pipeline), sweep.run(pipeline)
    assert states(first) == {"train": "Succeeded"} and states(second) == {"train": "Cached"}
    # What the collector read from the step the first time (the File collector: only its file) ...
    assert [v for _, v in first.collector.values["loss"]] == [0.9, 0.5, 0.3]
    assert first.collector.final("loss", "min") == 0.3
    # ... is what the cached step yields: the same values, indexes and final value, whatever the collector.
    assert second.collector.values == first.collector.values
    assert [s[:3] for s in second.seen] == [s[:3] for s in first.seen]
    # Replayed values are history: they reach Optuna marked as such (never live, so never a pruning decision).
    assert {s[3] for s in first.seen} == {False} and {s[3] for s in second.seen} == {True}


def test_file_collector_reads_only_its_file_and_says_report_is_not_collected(tmp_path):
    sweep = Sweep(tmp_path, COLLECTORS["file-text"][1])
    result = sweep.run(one_step("train", EMIT["file"]))
    assert [v for _, v in result.collector.values["loss"]] == [0.9, 0.5, 0.3]  # not 999 (stdout), not 998 (report)
    assert result.collector.final("loss", "latest") == 0.3
    log = Path(result.steps["train"].log_path).read_text()
    assert "loss=999" in log and "report() values are not collected: the File metrics collector reads only" in log


def test_cache_keys_never_match_across_experiments_or_namespaces(tmp_path):
    sweep = Sweep(tmp_path)
    pipeline = one_step("train", EMIT["stdout"])
    assert states(sweep.run(pipeline, experiment="a")) == {"train": "Succeeded"}
    assert states(sweep.run(pipeline, experiment="b")) == {"train": "Succeeded"}  # another experiment
    assert states(sweep.run(pipeline, experiment="a", namespace="team-b")) == {"train": "Succeeded"}
    again = sweep.run(pipeline, experiment="a")
    assert states(again) == {"train": "Cached"} and again.steps["train"].cached_from == "run1/train"
    # Standalone runs share per namespace and pipeline name (Kubeflow Pipelines' scope), not with trials.
    assert states(sweep.run(pipeline, experiment="a", trial=False)) == {"train": "Succeeded"}
    assert states(sweep.run(pipeline, experiment="other", trial=False)) == {"train": "Cached"}
    assert states(sweep.run(one_step("train", EMIT["stdout"], pipeline="q"), trial=False)) == {"train": "Succeeded"}


class CountingCache(MlmdStepCache):
    """The lineage store, counting its queries."""

    queries = 0

    def candidates(self, key):
        CountingCache.queries += 1
        return super().candidates(key)


def test_the_index_answers_hits_and_the_lineage_store_stays_the_truth(tmp_path):
    from workbench.engine.cache import IndexedStepCache, metrics_record_path

    sweep = Sweep(tmp_path)
    cache = IndexedStepCache(sweep.ws.home / "cache", CountingCache(sweep.ws.mlmd_url))
    pipeline = one_step("train", EMIT["stdout"])
    first = sweep.run(pipeline, cache=cache)
    CountingCache.queries = 0
    second = sweep.run(pipeline, cache=cache)
    assert states(second) == {"train": "Cached"} and CountingCache.queries == 0  # a file read, no query
    # Without its index (another machine, or an older workspace), the lineage store finds the execution.
    shutil.rmtree(sweep.ws.home / "cache")
    third = sweep.run(pipeline, cache=cache)
    assert states(third) == {"train": "Cached"} and CountingCache.queries == 1
    assert third.collector.values == first.collector.values
    # An execution whose metrics were not recorded is never served: its replay would lack them.
    shutil.rmtree(sweep.ws.home / "cache")
    metrics_record_path(first.steps["train"].log_path).unlink()
    assert states(sweep.run(pipeline, cache=cache)) == {"train": "Succeeded"}


def test_a_stale_index_entry_never_serves_a_changed_or_missing_output(tmp_path):
    sweep = Sweep(tmp_path)
    script = "import sys; open(sys.argv[1], 'w').write('abc'); print('loss=0.5')"
    command = ["python3", "-c", script, {"outputPath": "data"}]
    comp = {"name": "make", "outputs": [{"name": "data"}], "implementation": {"container": {"command": command}}}
    pipeline = pipeline_from_dict({"name": "p", "steps": [{"name": "make", "component": comp}]}, Path("."))
    first = sweep.run(pipeline)
    out = Path(first.steps["make"].outputs["data"])
    assert states(sweep.run(pipeline)) == {"make": "Cached"}
    out.write_text("xyz")  # same size, new content: the digest no longer matches
    changed = sweep.run(pipeline)
    assert states(changed) == {"make": "Succeeded"}
    Path(changed.steps["make"].outputs["data"]).unlink()
    out.unlink()
    assert states(sweep.run(pipeline)) == {"make": "Succeeded"}
