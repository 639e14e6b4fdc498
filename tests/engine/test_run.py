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


# --------------------------------------------------------------------------- control flow: loops, branches,
# nested pipelines, exit handlers (issue 8)


def value_step(name: str, expression: str, inputs=(), **extra) -> dict:
    """A step writing ``expression`` (Python, over ``a`` = its first input value) to its output ``o``."""
    code = (
        f"import sys, json; a = sys.argv[1] if len(sys.argv) > 2 else None; open(sys.argv[-1], 'w').write({expression})"
    )
    return py_step(name, code, list(inputs), ["o"], **extra)


def interval_step(name: str, **extra) -> dict:
    """Sleeps briefly and writes ``start end`` (to see which iterations overlapped)."""
    code = "import sys, time; t = time.time(); time.sleep(0.3); open(sys.argv[-1], 'w').write(f'{t} {time.time()}')"
    return py_step(name, code, ["x"], ["o"], **extra)


def test_fan_out_over_an_upstream_list_with_a_parallelism_limit_and_fan_in(tmp_path):
    rec = Events()
    doc = {
        "steps": [
            value_step("split", "json.dumps([3, 1, 4, 1, 5])"),
            {
                **interval_step("square"),
                "arguments": {"x": "{{item}}"},
                "forEach": {"items": "{{steps.split.outputs.o}}", "parallelism": 2},
            },
            value_step(
                "times", "str(int(a) ** 2)", ["a"], arguments={"a": "{{item}}"}, forEach="{{steps.split.outputs.o}}"
            ),  # fmt: skip
            value_step("total", "str(sum(json.loads(a)))", ["a"], arguments={"a": "{{steps.times.outputs.o}}"}),
        ]
    }
    result = run(tmp_path, doc, recorder=rec)
    assert result.state == "Succeeded", result.message
    names = [f"square[{i}]" for i in range(5)]
    assert all(result.steps[n].state == "Succeeded" for n in names)
    assert Path(result.steps["total"].outputs["o"]).read_text() == str(9 + 1 + 16 + 1 + 25)
    # Never more than two iterations of `square` at once.
    spans = [tuple(map(float, Path(result.steps[n].outputs["o"]).read_text().split())) for n in names]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2
    # Every iteration is its own step for the recorder, named with its index.
    finished = {name for name, state, _ in rec.steps if state == "Succeeded"}
    assert {*names, "times[0]", "times[4]", "split", "total"} <= finished
    assert "square" not in finished  # the loop itself is not an execution


def test_fan_out_over_a_literal_list_and_a_parameter_with_item_fields(tmp_path):
    doc = {
        "parameters": [{"name": "rates", "type": "JsonArray", "default": [0.1, 0.2]}],
        "steps": [
            value_step(
                "lit",
                "a",
                ["a"],
                arguments={"a": "{{item.name}}-{{item.size}}"},
                forEach=[{"name": "s", "size": 1}, {"name": "m", "size": 2}],
            ),  # fmt: skip
            value_step("par", "a", ["a"], arguments={"a": "{{item}}"}, forEach="{{params.rates}}"),
            value_step("both", "a", ["a"], arguments={"a": "{{steps.lit.outputs.o}} {{steps.par.outputs.o}}"}),
        ],
    }
    result = run(tmp_path, doc, {"rates": [0.5, 0.25, 0.125]})
    assert result.state == "Succeeded", result.message
    assert Path(result.steps["both"].outputs["o"]).read_text() == '["s-1", "m-2"] [0.5, 0.25, 0.125]'


def test_a_failed_iteration_is_retried_then_fails_the_loop(tmp_path):
    doc = {
        "steps": [
            {
                **py_step("work", "import sys; sys.exit(3 if sys.argv[1] == '2' else 0)", ["x"], []),
                "arguments": {"x": "{{item}}"},
                "forEach": {"items": [1, 2, 3, 4, 5], "parallelism": 1},
                "retry": {"limit": 1, "backoff": "0.05s"},
            },
            py_step("after", "print('never')", [], [], after=["work"]),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Failed"
    assert "step work[1]: exited with code 3" in result.message
    assert result.steps["work[1]"].state == "Failed" and result.steps["work[1]"].attempts == 2
    assert result.steps["work[0]"].state == "Succeeded"
    # No further iteration starts once one has failed.
    assert [result.steps[f"work[{i}]"].state for i in (2, 3, 4)] == ["Cancelled"] * 3
    assert result.steps["work"].state == "Failed"
    assert result.steps["after"].state == "Cancelled"


def test_ignore_failures_keeps_the_loop_and_collects_what_succeeded(tmp_path):
    doc = {
        "steps": [
            value_step(
                "work",
                "a if a != '2' else sys.exit(1)",
                ["a"],
                arguments={"a": "{{item}}"},
                forEach={"items": [1, 2, 3], "ignoreFailures": True},
            ),  # fmt: skip
            value_step("gather", "a", ["a"], arguments={"a": "{{steps.work.outputs.o}}"}),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Succeeded", result.message
    assert result.steps["work[1]"].state == "Failed"
    assert result.steps["work"].message == "1 of 3 iterations failed (ignored)"
    # Untyped outputs are read as JSON when they parse (as for any consumer).
    assert json.loads(Path(result.steps["gather"].outputs["o"]).read_text()) == [1, 3]


def test_a_loop_over_a_non_list_output_fails_with_a_clear_message(tmp_path):
    doc = {
        "steps": [
            value_step("make", "'not a list'"),
            value_step("each", "a", ["a"], arguments={"a": "{{item}}"}, forEach="{{steps.make.outputs.o}}"),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Failed"
    assert "expected a JSON list, got 'not a list'" in result.steps["each"].message


def test_if_elif_else_runs_one_branch_and_one_of_takes_its_output(tmp_path):
    def branches(size: int) -> dict:
        cond = "{{steps.size.outputs.o}} > 100"
        cond2 = "{{steps.size.outputs.o}} > 10"
        return {
            "steps": [
                value_step("size", f"'{size}'"),
                value_step("large", "'L'", when=cond),
                value_step("medium", "'M'", when=f"not ({cond}) and ({cond2})"),
                value_step("small", "'S'", when=f"not ({cond}) and not ({cond2})"),
                value_step("use", "a", ["a"], arguments={
                    "a": "{{oneOf(steps.large.outputs.o, steps.medium.outputs.o, steps.small.outputs.o)}}"}),
            ]
        }  # fmt: skip

    for size, ran in ((500, "large"), (50, "medium"), (5, "small")):
        result = run(tmp_path / str(size), branches(size))
        assert result.state == "Succeeded", result.message
        states = {n: result.steps[n].state for n in ("large", "medium", "small")}
        assert states == {n: "Succeeded" if n == ran else "Skipped" for n in states}
        assert Path(result.steps["use"].outputs["o"]).read_text() == ran[0].upper()


def test_conditions_per_iteration_and_skipped_iterations_leave_the_fan_in(tmp_path):
    doc = {
        "steps": [
            value_step(
                "even", "a", ["a"], arguments={"a": "{{item}}"}, forEach=[1, 2, 3, 4], when="{{item}} in [2, 4]"
            ),
            value_step("gather", "a", ["a"], arguments={"a": "{{steps.even.outputs.o}}"}),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Succeeded", result.message
    assert [result.steps[f"even[{i}]"].state for i in range(4)] == ["Skipped", "Succeeded", "Skipped", "Succeeded"]
    assert json.loads(Path(result.steps["gather"].outputs["o"]).read_text()) == [2, 4]


NESTED = {
    "name": "twice",
    "parameters": [{"name": "x", "type": "Integer"}, {"name": "tag", "type": "String", "default": "t"}],
    "steps": [
        value_step("double", "str(int(a) * 2)", ["a"], arguments={"a": "{{params.x}}"}),
        value_step("label", "a", ["a"], arguments={"a": "{{params.tag}}:{{steps.double.outputs.o}}"}),
    ],
    "outputs": [{"name": "result", "type": "String", "from": "{{steps.label.outputs.o}}"}],
}


def test_nested_pipeline_runs_its_steps_and_gives_its_outputs(tmp_path):
    doc = {
        "steps": [
            value_step("seed", "'21'"),
            {"name": "inner", "component": NESTED, "arguments": {"x": "{{steps.seed.outputs.o}}"}},
            value_step("show", "a", ["a"], arguments={"a": "{{steps.inner.outputs.result}}"}),
        ]
    }
    result = run(tmp_path, doc)
    assert result.state == "Succeeded", result.message
    assert result.steps["inner.double"].state == "Succeeded"
    assert Path(result.steps["show"].outputs["o"]).read_text() == "t:42"
    assert Path(result.steps["inner.label"].log_path).name == "inner.label.log"


def test_a_loop_over_a_nested_pipeline_pairs_each_iterations_steps(tmp_path):
    doc = {
        "steps": [
            {"name": "each", "component": NESTED, "arguments": {"x": "{{item}}", "tag": "n{{item}}"},
             "forEach": {"items": [1, 2, 3], "parallelism": 2}},
            value_step("show", "a", ["a"], arguments={"a": "{{steps.each.outputs.result}}"}),
        ]
    }  # fmt: skip
    result = run(tmp_path, doc)
    assert result.state == "Succeeded", result.message
    assert json.loads(Path(result.steps["show"].outputs["o"]).read_text()) == ["n1:2", "n2:4", "n3:6"]
    assert {f"each[{i}].{s}" for i in range(3) for s in ("double", "label")} <= set(result.steps)


def test_exit_handler_runs_after_a_failure_with_the_final_status(tmp_path):
    notify = value_step("notify", "a + ' ' + sys.argv[2]", ["a", "b"],
                        arguments={"a": "{{run.status}}", "b": "{{run.failedSteps}}"})  # fmt: skip
    doc = {"steps": [py_step("boom", "import sys; sys.exit(2)")], "onExit": notify}
    result = run(tmp_path, doc)
    assert result.state == "Failed" and "step boom" in result.message
    assert result.steps["notify"].state == "Succeeded"
    assert Path(result.steps["notify"].outputs["o"]).read_text() == 'Failed ["boom"]'


def test_exit_handler_runs_when_the_run_is_cancelled(tmp_path):
    cancel = threading.Event()
    doc = {
        "steps": [py_step("slow", "import time; time.sleep(30)")],
        "onExit": value_step("notify", "a", ["a"], arguments={"a": "{{run.status}}"}),
    }
    threading.Timer(0.5, cancel.set).start()
    result = run(tmp_path, doc, cancel=cancel)
    assert result.state == "Cancelled"
    assert Path(result.steps["notify"].outputs["o"]).read_text() == "Cancelled"


def test_a_failing_exit_handler_fails_a_succeeded_run(tmp_path):
    doc = {"steps": [py_step("ok", "print('fine')")], "onExit": py_step("notify", "import sys; sys.exit(4)")}
    result = run(tmp_path, doc)
    assert result.steps["ok"].state == "Succeeded"
    assert result.state == "Failed" and result.message.startswith("exit handler notify: exited with code 4")


def test_readiness_is_incremental_a_long_chain_and_a_wide_fan_out(tmp_path):
    """A chain of 30 steps and a fan-out of 60 iterations (``true`` processes) finish with the right order."""
    chain = [py_step("s0", "pass")] + [py_step(f"s{i}", "pass", after=[f"s{i - 1}"]) for i in range(1, 30)]
    doc = {
        "steps": [
            *chain,
            {"name": "wide", "component": {"name": "t", "inputs": [{"name": "x"}], "implementation": {
                "container": {"command": ["true", {"inputValue": "x"}]}}},
             "arguments": {"x": "{{item}}"}, "forEach": {"items": list(range(60)), "parallelism": 8}},
        ]
    }  # fmt: skip
    result = run(tmp_path, doc)
    assert result.state == "Succeeded", result.message
    starts = [result.steps[f"s{i}"].started for i in range(30)]
    assert starts == sorted(starts)
    assert sum(1 for n in result.steps if n.startswith("wide[")) == 60


FOLD_STEPS = """
from workbench import component, report

@component
def folds(k: int) -> list:
    return list(range(k))

@component
def fit(fold: int, scale: float = 1.0) -> float:
    report(fold_score=fold * scale)
    return fold * scale

@component
def mean(scores: list) -> float:
    return sum(scores) / len(scores)
"""


@pytest.mark.slow
def test_iterations_are_cached_and_tracked_one_by_one(tmp_path):
    """Each iteration is its own ML Metadata execution and MLflow step run, and is cached on its own."""
    from mlflow.tracking import MlflowClient

    from workbench.tracking import MlflowRecorder, MlmdRecorder, MlmdStepCache, lineage_of_run
    from workbench.tracking._base import CompositeRecorder, RunInfo

    (tmp_path / "steps.py").write_text(FOLD_STEPS)
    ws = Workspace.at(tmp_path / "ws")
    ws.ensure()
    doc = {
        "name": "cv",
        "parameters": [{"name": "k", "type": "Integer"}, {"name": "scale", "type": "Float"}],
        "steps": [
            {"name": "folds", "component": "steps.py:folds", "arguments": {"k": "{{params.k}}"}},
            {"name": "fit", "component": "steps.py:fit", "forEach": "{{steps.folds.outputs.Output}}",
             "arguments": {"fold": "{{item}}", "scale": "{{params.scale}}"}},
            {"name": "mean", "component": "steps.py:mean", "arguments": {"scores": "{{steps.fit.outputs.Output}}"}},
        ],
    }  # fmt: skip
    pipeline = pipeline_from_dict(doc, tmp_path)
    mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow_rec = MlflowRecorder(mlflow_uri, artifact_root=(tmp_path / "mlruns").as_uri())
    recorder = CompositeRecorder([MlmdRecorder(ws.mlmd_url), mlflow_rec])
    runner = PipelineRunner(
        LocalBackend(), ws, recorder=recorder, cache=MlmdStepCache(ws.mlmd_url), metric_names=["fold_score"]
    )

    def go(run_id: str, k: int, scale: float):
        recorder.run_started(RunInfo(run_id=run_id, experiment="cv", pipeline="cv"))
        result = runner.run(pipeline, {"k": k, "scale": scale}, RunContext(experiment="cv", run_id=run_id))
        recorder.run_finished(RunInfo(run_id=run_id, experiment="cv", pipeline="cv", state=result.state))
        recorder.flush()
        assert result.state == "Succeeded", result.message
        return result

    first = go("r1", 3, 2.0)
    assert float(Path(first.steps["mean"].outputs["Output"]).read_text()) == 2.0
    second = go("r2", 4, 2.0)  # three folds as before, one new
    assert [second.steps[f"fit[{i}]"].state for i in range(4)] == ["Cached", "Cached", "Cached", "Succeeded"]
    assert second.steps["fit[1]"].cached_from == "r1/fit[1]"
    assert float(Path(second.steps["mean"].outputs["Output"]).read_text()) == 3.0

    lineage = lineage_of_run(ws.mlmd_url, "r2")
    assert {e["step"]: e["mlmd_state"] for e in lineage["executions"] if e["step"].startswith("fit")} == {
        "fit[0]": "CACHED", "fit[1]": "CACHED", "fit[2]": "CACHED", "fit[3]": "COMPLETE",
    }  # fmt: skip
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("cv")
    runs = client.search_runs([exp.experiment_id], "tags.`workbench.run_id` = 'r1'")
    step_runs = {r.data.tags.get("workbench.step"): r for r in runs if "workbench.step" in r.data.tags}
    assert {"fit[0]", "fit[1]", "fit[2]", "folds", "mean"} <= set(step_runs)
    assert step_runs["fit[2]"].data.metrics["fold_score"] == 4.0
    assert step_runs["fit[2]"].info.run_name == "fit[2]"
    recorder.close()


def test_secret_inputs_stay_out_of_logs_and_every_store(tmp_path):
    from mlflow.tracking import MlflowClient

    from workbench.tracking import CompositeRecorder, MlflowRecorder, MlmdRecorder, lineage_of_run

    ws = Workspace.at(tmp_path / "ws")
    ws.ensure()
    mlflow = MlflowRecorder(ws.mlflow_uri, artifact_root=ws.mlflow_artifacts.as_uri())
    mlmd = MlmdRecorder(ws.mlmd_url)
    code = "import sys; print('connecting with', sys.argv[1]); print('user', sys.argv[2])"
    step = py_step("login", code, ["dsn", "user"])
    step["component"]["inputs"][0]["secret"] = True
    step["arguments"] = {"dsn": "{{params.dsn}}", "user": "ada"}
    # The same value through a pipeline parameter marked secret, into an input that is not.
    echo = py_step("echo", "import sys; print('again', sys.argv[1])", ["conn"], arguments={"conn": "{{params.dsn}}"})
    doc = {"name": "p", "parameters": [{"name": "dsn", "secret": True}], "steps": [step, echo]}
    pipeline = pipeline_from_dict(doc, tmp_path)
    runner = PipelineRunner(LocalBackend(), ws, recorder=CompositeRecorder([mlflow, mlmd]))
    mlflow.run_started(_run_info())
    result = runner.run(pipeline, {"dsn": "pg://u:hunter2@db"}, RunContext(experiment="e", run_id="run1"))
    assert result.state == "Succeeded"

    log = Path(result.steps["login"].log_path).read_text()
    assert "connecting with ***" in log and "user ada" in log and "hunter2" not in log
    assert Path(result.steps["echo"].log_path).read_text().splitlines()[0] == "again ***"
    client = MlflowClient(ws.mlflow_uri)
    (step_run,) = [r for r in client.search_runs([client.get_experiment_by_name("e").experiment_id])
                   if r.data.tags.get("workbench.step") == "login"]  # fmt: skip
    assert step_run.data.params == {"dsn": "***", "user": "ada"}
    manifest = Path(client.download_artifacts(step_run.info.run_id, "workbench/step.json")).read_text()
    assert "hunter2" not in manifest and "***" in manifest
    executions = lineage_of_run(mlmd.store, "run1")["executions"]
    assert len(executions) == 2 and "hunter2" not in json.dumps(executions, default=str)


def _run_info():
    from workbench.tracking import RunInfo

    return RunInfo(run_id="run1", experiment="e", pipeline="p", params={"dsn": "pg://u:hunter2@db"}, secrets=["dsn"])


# ------------------------------------------------------------------- logs are written while a step runs

LIVE_STEPS = {
    # Python: unbuffered (PYTHONUNBUFFERED); it blocks on the FIFO until the test has seen its line.
    "python": [PY, "-c", "import sys; print('started'); open(sys.argv[1]).read(); print('done')"],
    # C stdio (awk) block-buffers a pipe unless run line-buffered (stdbuf -oL).
    "awk": ["awk", 'BEGIN { print "started"; getline line < ARGV[1]; print "done" }'],
}


@pytest.mark.parametrize("kind", sorted(LIVE_STEPS))
def test_a_step_log_holds_each_line_while_the_step_still_runs(tmp_path, kind):
    import os
    import shutil

    if kind == "awk" and not (shutil.which("awk") and shutil.which("stdbuf")):
        pytest.skip("needs awk and coreutils' stdbuf")
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    comp = {"name": "live", "implementation": {"container": {"command": [*LIVE_STEPS[kind], str(fifo)]}}}
    results = []
    thread = threading.Thread(
        target=lambda: results.append(run(tmp_path, {"steps": [{"name": "live", "component": comp}]}))
    )
    thread.start()
    log = tmp_path / "ws" / "runs" / "run1" / "live.log"
    seen = ""
    try:
        deadline = time.monotonic() + 20
        while "started" not in seen and time.monotonic() < deadline and thread.is_alive():
            seen = log.read_text() if log.exists() else ""
            time.sleep(0.02)
    finally:  # let the step go: it opens the FIFO after its first line and waits there for a writer
        deadline = time.monotonic() + 20
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails (ENXIO) until the step opened it
            except OSError:
                time.sleep(0.02)
                continue
            os.write(fd, b"go\n")
            os.close(fd)
            break
        thread.join(timeout=30)
    assert "started" in seen, "the step's first line was not in its log while the step was blocked"
    assert "done" not in seen  # seen while the step still ran (it prints 'done' only once released)
    assert results and results[0].state == "Succeeded" and "done" in log.read_text()


def test_values_given_as_text_reach_input_value_as_written_as_in_kfp_v1(tmp_path):
    """A KFP v1 Boolean default ``"False"`` reaches the program as ``False``, not ``false``."""
    from workbench.spec import load_component
    from workbench.spec._load import component_pipeline

    dump = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    comp = load_component(
        {
            "name": "flags",
            "inputs": [
                {"name": "flag", "type": "Boolean", "default": "False"},
                {"name": "on", "type": "Boolean", "default": "True"},
                {"name": "rate", "type": "Float", "default": "0.10"},
                {"name": "typed", "type": "Boolean", "default": False},
            ],
            "outputs": [{"name": "argv"}],
            "implementation": {
                "container": {
                    "command": [
                        PY, "-c", dump, {"outputPath": "argv"}, {"inputValue": "flag"},
                        {"concat": ["--on=", {"inputValue": "on"}]}, {"inputValue": "rate"}, {"inputValue": "typed"},
                        {"if": {"cond": {"inputValue": "flag"}, "then": ["flag-set"], "else": ["flag-unset"]}},
                    ]
                }
            },
        }
    )  # fmt: skip
    ws = Workspace.at(tmp_path / "ws")

    def argv(arguments: dict, run_id: str) -> list[str]:
        pipeline = component_pipeline(comp, tmp_path)  # a component run on its own: its inputs are parameters
        result = PipelineRunner(LocalBackend(), ws).run(pipeline, arguments, RunContext(experiment="e", run_id=run_id))
        assert result.state == "Succeeded", result.message
        return json.loads(Path(result.steps["flags"].outputs["argv"]).read_text())

    # Defaults and text values keep their text (checked against the type: "maybe" would be refused).
    assert argv({}, "r1") == ["False", "--on=True", "0.10", "false", "flag-unset"]
    assert argv({"flag": "TRUE", "rate": "1e-3"}, "r2") == ["TRUE", "--on=True", "1e-3", "false", "flag-set"]
    assert argv({"typed": True}, "r3")[3] == "true"  # a typed value is written in its text form


MAKE = """
import sys
rows, table, data, notes = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
open(table, "w").write("a,b\\n" + "1,2\\n" * rows)
open(data, "w").write("x" * 7000)
open(notes, "w").write("some notes")
"""
USE = """
import sys
table, data, notes, label = sys.argv[1:5]
print(len(open(table).read()), len(open(data).read()), open(notes).read(), label)
"""


def kfp_make_use() -> dict:
    """KFP v1 components as found in the wild: outputs typed CSV, Dataset and untyped, taken by inputPath."""
    make = {
        "name": "make",
        "inputs": [{"name": "rows", "type": "Integer", "default": "3"}],
        "outputs": [{"name": "table", "type": "CSV"}, {"name": "data", "type": "Dataset"}, {"name": "notes"}],
        "implementation": {"container": {"command": [PY, "-c", MAKE, {"inputValue": "rows"}, {"outputPath": "table"},
                                                     {"outputPath": "data"}, {"outputPath": "notes"}]}},
    }  # fmt: skip
    use = {
        "name": "use",
        "inputs": [{"name": "table", "type": "CSV"}, {"name": "data", "type": "Dataset"}, {"name": "notes"},
                   {"name": "label", "type": "String"}],
        "implementation": {"container": {"command": [PY, "-c", USE, {"inputPath": "table"}, {"inputPath": "data"},
                                                     {"inputPath": "notes"}, {"inputValue": "label"}]}},
    }  # fmt: skip
    refs = {n: f"{{{{steps.make.outputs.{n}}}}}" for n in ("table", "data", "notes")}
    return {
        "steps": [
            {"name": "make", "component": make, "arguments": {"rows": 3}},
            {"name": "use", "component": use, "arguments": {**refs, "label": "hello"}},
        ]
    }


def test_kfp_component_lineage_every_output_an_artifact_every_input_path_an_event(tmp_path, fresh_home):
    """The regression: outputs typed CSV, Dataset and untyped gave 2 artifacts and 3 events (one INPUT), and the
    CSV's content went into an MLflow param, cut at 6,000 characters."""
    from mlflow.tracking import MlflowClient

    from workbench.tracking import CompositeRecorder, MlflowRecorder, MlmdRecorder, RunInfo, lineage_of_run

    ws = Workspace.at(fresh_home)
    mlflow = MlflowRecorder(ws.mlflow_uri, artifact_root=ws.mlflow_artifacts.as_uri())
    mlmd = MlmdRecorder(ws.mlmd_url)
    recorder = CompositeRecorder([mlflow, mlmd])
    pipeline = pipeline_from_dict({"name": "make-use", **kfp_make_use()}, tmp_path)
    recorder.run_started(RunInfo(run_id="run1", experiment="e", pipeline="make-use"))
    result = PipelineRunner(LocalBackend(), ws, recorder=recorder).run(
        pipeline, {}, RunContext(experiment="e", run_id="run1")
    )
    recorder.run_finished(RunInfo(run_id="run1", experiment="e", pipeline="make-use", state=result.state))
    assert result.state == "Succeeded", result.message
    assert "hello" in Path(result.steps["use"].log_path).read_text()

    lineage = lineage_of_run(mlmd.store, "run1")
    arts = {a["name"]: a for a in lineage["artifacts"]}
    assert {n: a["type"] for n, a in arts.items()} == {
        "run1/make/table": "CSV", "run1/make/data": "Dataset", "run1/make/notes": "system.Artifact",
    }  # fmt: skip
    events = sorted((e["step"], e["type"], e["name"]) for e in lineage["events"])
    assert events == [("make", "OUTPUT", "data"), ("make", "OUTPUT", "notes"), ("make", "OUTPUT", "table"),
                      ("use", "INPUT", "data"), ("use", "INPUT", "notes"), ("use", "INPUT", "table")]  # fmt: skip
    execs = {e["step"]: e for e in lineage["executions"]}
    assert execs["use"]["inputs"] == {"label": "hello"} and execs["make"]["inputs"] == {"rows": 3}
    (use,) = [e for e in mlmd.store.get_executions() if e.properties["step"].string_value == "use"]
    assert use.custom_properties["input.label"].string_value == "hello"  # a value: an execution property

    client = MlflowClient(ws.mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("e").experiment_id])
    params = {r.data.tags.get("workbench.step"): r.data.params for r in runs if "workbench.step" in r.data.tags}
    assert params == {"make": {"rows": "3"}, "use": {"label": "hello"}}  # no file contents as params
    recorder.close()


def test_the_lineage_command_follows_a_kfp_csv_output_downstream(tmp_path, fresh_home):
    """`workbench lineage "#1" --downstream` said "no executions" for the CSV output of a KFP component."""
    from typer.testing import CliRunner

    from workbench.cli import app

    (tmp_path / "pipeline.yaml").write_text(json.dumps({"name": "make-use", **kfp_make_use()}))
    env = {"WORKBENCH_HOME": str(fresh_home), "WORKBENCH_TRACKING_PROCESS": "0"}
    ran = CliRunner().invoke(app, ["pipeline", "run", str(tmp_path / "pipeline.yaml"), "-q"], env=env)
    assert ran.exit_code == 0, ran.output
    result = CliRunner().invoke(app, ["lineage", "#1", "--downstream", "--json"], env=env)
    assert result.exit_code == 0, result.output
    executions = json.loads(result.stdout)["executions"]
    assert [(e["step"], [(i["name"], i["type"]) for i in e["inputs"]]) for e in executions] == [
        ("use", [("table", "CSV")])
    ]


def test_parallel_file_collector_steps_each_get_their_own_file(tmp_path):
    """What examples/README says of katib-file-collector.yaml: trials running in parallel never share the file."""
    code = """
    import json, sys
    path = sys.argv[1].split("=", 1)[1]
    with open(path, "w") as fh:
        fh.write(json.dumps({"acc": float(sys.argv[2])}) + "\\n")
    open(sys.argv[3], "w").write(path)
    """
    spec = MetricsCollectorSpec.model_validate(
        {"collector": {"kind": "File"},
         "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.json", "format": "JSON"}}}
    )  # fmt: skip
    step = py_step("m", code, ["x"], ["where"])
    command = step["component"]["implementation"]["container"]["command"]
    command.insert(3, "--log-path=/var/log/katib/metrics.json")
    step.update(forEach={"items": [0.25, 0.75], "parallelism": 2}, arguments={"x": "{{item}}"})
    result = run(tmp_path, {"steps": [step]}, metric_names=["acc"], metrics=spec)
    assert result.state == "Succeeded", result.message
    paths = [Path(result.steps[f"m[{i}]"].outputs["where"]).read_text() for i in range(2)]
    assert len(set(paths)) == 2 and not any(p.startswith("/var/log") for p in paths)
    assert sorted(v for _, v in result.collector.values["acc"]) == [0.25, 0.75]
