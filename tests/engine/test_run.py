"""The engine runs real pipelines with real processes in a temporary workspace."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from workbench.backends import LocalBackend
from workbench.engine import PipelineRunner, RunContext
from workbench.spec import MetricsCollectorSpec, pipeline_from_dict
from workbench.tracking._base import BaseRecorder
from workbench.workspace import Workspace

PY = sys.executable


class Events(BaseRecorder):
    def __init__(self) -> None:
        self.steps: list = []
        self.metrics: list = []

    def step_finished(self, step) -> None:
        self.steps.append((step.step, step.state, step.attempt))

    def metric(self, run_id, step, name, value, index, timestamp) -> None:
        self.metrics.append((name, value, index))


def py_step(name: str, code: str, inputs=(), outputs=(), **extra) -> dict:
    """A container step running inline Python; inputs/outputs as KFP placeholders in argv."""
    args = []
    for i in inputs:
        args.append({"inputValue": i} if not i.endswith("_path") else {"inputPath": i})
    for o in outputs:
        args.append({"outputPath": o})
    return {
        "name": name,
        "component": {
            "name": name,
            "inputs": [{"name": i} for i in inputs],
            "outputs": [{"name": o} for o in outputs],
            "implementation": {"container": {"command": [PY, "-c", textwrap.dedent(code), *args]}},
        },
        **extra,
    }


def run(tmp_path: Path, doc: dict, arguments=None, metric_names=(), metrics=None, cancel=None, recorder=None):
    pipeline = pipeline_from_dict({"name": "p", **doc}, tmp_path)
    runner = PipelineRunner(
        LocalBackend(),
        Workspace.at(tmp_path / "ws"),
        recorder=recorder,
        metrics=metrics,
        metric_names=list(metric_names),
        grace_period=0.5,
    )
    return runner.run(pipeline, arguments or {}, RunContext(experiment="e", run_id="run1"), cancel=cancel)


def test_values_and_files_flow_between_steps(tmp_path):
    doc = {
        "parameters": [{"name": "n", "type": "Integer"}],
        "steps": [
            py_step(
                "make",
                "import sys; open(sys.argv[2], 'w').write(str(int(sys.argv[1]) * 2))",
                ["n"],
                ["out"],
                arguments={"n": "{{params.n}}"},
            ),
            py_step(
                "read_path",
                "import sys; print('got', open(sys.argv[1]).read())",
                ["x_path"],
                [],
                arguments={"x_path": "{{steps.make.outputs.out}}"},
            ),
            py_step(
                "read_value",
                "import sys; print('value', sys.argv[1])",
                ["x"],
                [],
                arguments={"x": "{{steps.make.outputs.out}} items"},
            ),
        ],
    }
    result = run(tmp_path, doc, {"n": 21})
    assert result.state == "Succeeded", result.message
    logs = {name: Path(s.log_path).read_text() for name, s in result.steps.items()}
    assert "got 42" in logs["read_path"]
    assert "value 42 items" in logs["read_value"]


def test_independent_steps_run_concurrently(tmp_path):
    sleeper = "import sys, time; t=time.time(); time.sleep(0.6); open(sys.argv[1], 'w').write(f'{t} {time.time()}')"
    doc = {"steps": [py_step("a", sleeper, [], ["t"]), py_step("b", sleeper, [], ["t"])]}
    result = run(tmp_path, doc)
    assert result.state == "Succeeded"
    (a0, a1), (b0, b1) = (map(float, Path(result.steps[s].outputs["t"]).read_text().split()) for s in "ab")
    assert a0 < b1 and b0 < a1, "steps a and b did not overlap"


def test_condition_false_skips_step_and_its_consumers(tmp_path):
    doc = {
        "steps": [
            py_step("flip", "import sys; open(sys.argv[1], 'w').write('tails')", [], ["side"]),
            py_step(
                "heads",
                "import sys; open(sys.argv[1], 'w').write('x')",
                [],
                ["o"],
                when="{{steps.flip.outputs.side}} == 'heads'",
            ),
            py_step("after_heads", "print(1)", ["v"], [], arguments={"v": "{{steps.heads.outputs.o}}"}),
            py_step("tails", "print('tails ran')", [], [], when="{{steps.flip.outputs.side}} == 'tails'"),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Succeeded"
    assert {n: s.state for n, s in result.steps.items()} == {
        "flip": "Succeeded",
        "heads": "Skipped",
        "after_heads": "Skipped",
        "tails": "Succeeded",
    }


def test_retries_with_backoff_then_succeed(tmp_path):
    counter = tmp_path / "count"
    code = f"""
    import pathlib, sys
    p = pathlib.Path({str(counter)!r})
    n = int(p.read_text()) if p.exists() else 0
    p.write_text(str(n + 1))
    sys.exit(0 if n >= 2 else 1)
    """
    rec = Events()
    started = time.monotonic()
    result = run(tmp_path, {"steps": [py_step("flaky", code, retry={"limit": 3, "backoff": "0.1s"})]}, recorder=rec)
    assert result.state == "Succeeded"
    assert result.steps["flaky"].attempts == 3
    assert [s for s in rec.steps] == [("flaky", "Failed", 1), ("flaky", "Failed", 2), ("flaky", "Succeeded", 3)]
    assert time.monotonic() - started >= 0.3  # 0.1 + 0.2 of backoff


def test_failure_cancels_downstream_and_is_reported(tmp_path):
    doc = {
        "steps": [
            py_step("bad", "raise SystemExit(4)", [], ["o"]),
            py_step("next", "print(1)", ["v"], [], arguments={"v": "{{steps.bad.outputs.o}}"}),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Failed"
    assert result.steps["bad"].state == "Failed" and "code 4" in result.steps["bad"].message
    assert result.steps["next"].state == "Cancelled"
    assert "step bad: exited with code 4" in result.message


def test_missing_output_fails_the_step(tmp_path):
    result = run(tmp_path, {"steps": [py_step("lazy", "print('no output')", [], ["o"])]})
    assert result.state == "Failed"
    assert "did not write its outputs ['o']" in result.steps["lazy"].message


def test_timeout_stops_the_step(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, {"steps": [py_step("slow", "import time; time.sleep(30)", timeout="0.5s")]})
    assert result.state == "Failed"
    assert "timed out after 0.5s" in result.steps["slow"].message
    assert time.monotonic() - started < 5


def test_cancel_stops_running_steps(tmp_path):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    result = run(tmp_path, {"steps": [py_step("slow", "import time; time.sleep(30)")]}, cancel=cancel)
    assert result.state == "Cancelled"
    assert result.steps["slow"].state == "Cancelled"
    assert time.monotonic() - started < 5


def test_metrics_are_collected_live_in_every_format(tmp_path):
    code = """
    import json, time
    from workbench.runtime import report
    print('epoch 0: loss=0.9 accuracy=0.1')
    print(json.dumps({'loss': 0.5, 'step': 5}))
    report(loss=0.25, step=9)
    print('unrelated=3')
    """
    rec = Events()
    result = run(tmp_path, {"steps": [py_step("m", code)]}, metric_names=["loss", "accuracy"], recorder=rec)
    assert result.state == "Succeeded"
    assert result.collector.values["loss"] == [(0, 0.9), (5, 0.5), (9, 0.25)]
    assert result.collector.final("loss", "min") == 0.25
    assert result.collector.final("accuracy", "latest") == 0.1
    assert ("loss", 0.25, 9) in rec.metrics
    assert "unrelated" not in result.collector.values


def test_custom_metrics_format_and_file_collector(tmp_path):
    code = """
    import json, sys, time
    with open('metrics.jsonl', 'w') as fh:
        for i in range(3):
            fh.write(json.dumps({'acc': str(0.5 + i / 10), 'step': i}) + '\\n'); fh.flush(); time.sleep(0.05)
    print('acc is 0.1')
    """
    spec = MetricsCollectorSpec.model_validate(
        {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"path": "metrics.jsonl", "format": "JSON"}}}
    )
    doc = {"steps": [py_step("f", code)]}
    doc["steps"][0]["component"]["implementation"]["container"]["workingDir"] = str(tmp_path)
    result = run(tmp_path, doc, metric_names=["acc"], metrics=spec)
    assert [v for _, v in result.collector.values["acc"]] == [0.5, 0.6, 0.7]

    custom = MetricsCollectorSpec.model_validate({"source": {"filter": {"metricsFormat": [r"(\w+) is ([\d.]+)"]}}})
    result = run(tmp_path, {"steps": [py_step("g", "print('acc is 0.75')")]}, metric_names=["acc"], metrics=custom)
    assert result.collector.values["acc"] == [(0, 0.75)]


def test_kfp_placeholders_concat_and_if_is_present(tmp_path):
    comp = {
        "name": "echo",
        "inputs": [{"name": "a"}, {"name": "opt", "optional": True}],
        "outputs": [{"name": "o"}],
        "implementation": {
            "container": {
                "command": [
                    PY,
                    "-c",
                    "import sys, json; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))",
                    {"outputPath": "o"},
                    {"concat": ["--a=", {"inputValue": "a"}]},
                    {
                        "if": {
                            "cond": {"isPresent": "opt"},
                            "then": ["--opt", {"inputValue": "opt"}],
                            "else": ["--no-opt"],
                        }
                    },
                ]
            }
        },
    }
    both = run(tmp_path, {"steps": [{"name": "s", "component": comp, "arguments": {"a": 1, "opt": "x"}}]})
    assert json.loads(Path(both.steps["s"].outputs["o"]).read_text()) == ["--a=1", "--opt", "x"]
    one = run(tmp_path / "2", {"steps": [{"name": "s", "component": comp, "arguments": {"a": "b"}}]})
    assert json.loads(Path(one.steps["s"].outputs["o"]).read_text()) == ["--a=b", "--no-opt"]


def test_python_components_pass_artifacts_and_return_values(tmp_path):
    steps = tmp_path / "steps.py"
    steps.write_text(
        textwrap.dedent("""
        from workbench import component, Input, Output, Dataset, Model, report

        @component
        def make(n: int, data: Output[Dataset]) -> int:
            with open(data.path, "w") as fh:
                fh.write(",".join(str(i) for i in range(n)))
            return n * 10

        @component
        def use(data: Input[Dataset], scale: int, model: Output[Model]) -> float:
            total = sum(int(x) for x in open(data.path).read().split(","))
            report(score=total * scale, step=1)
            open(model.path, "w").write("weights")
            return total * scale / 2
    """)
    )
    doc = {
        "parameters": [{"name": "n", "type": "Integer", "default": 4}],
        "steps": [
            {"name": "make", "component": "steps.py:make", "arguments": {"n": "{{params.n}}"}},
            {
                "name": "use",
                "component": "steps.py:use",
                "arguments": {"data": "{{steps.make.outputs.data}}", "scale": "{{steps.make.outputs.Output}}"},
            },
        ],
    }
    result = run(tmp_path, doc, metric_names=["score"])
    assert result.state == "Succeeded", result.message
    assert result.collector.values["score"] == [(1, 240.0)]
    assert Path(result.steps["use"].outputs["model"]).read_text() == "weights"
    assert Path(result.steps["use"].outputs["Output"]).read_text() == "120.0"


def test_failed_python_component_log_holds_the_traceback(tmp_path):
    steps = tmp_path / "steps.py"
    steps.write_text(
        "from workbench import component\n\n@component\ndef boom(x: int):\n    raise ValueError('bad x')\n"
    )
    result = run(tmp_path, {"steps": [{"name": "boom", "component": "steps.py:boom", "arguments": {"x": 1}}]})
    assert result.state == "Failed"
    log = Path(result.steps["boom"].log_path).read_text()
    assert "ValueError: bad x" in log


@pytest.mark.parametrize("bad_command", ["no-such-binary-123", "./nope.sh"])
def test_command_not_found_fails_without_retry(tmp_path, bad_command):
    doc = {
        "steps": [
            {
                "name": "x",
                "component": {"name": "x", "implementation": {"container": {"command": [bad_command]}}},
                "retry": 3,
            }
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Failed"
    assert "not found" in result.steps["x"].message
    assert result.steps["x"].attempts == 1
