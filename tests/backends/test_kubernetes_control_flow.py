"""Loops, branches, nested pipelines and an exit handler with one pod per step (the test API server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.engine import PipelineRunner, RunContext
from workbench.spec import pipeline_from_dict
from workbench.workspace import Workspace

IMAGE = "docker.io/library/python:3.11-slim"


def component(name: str, code: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> dict[str, Any]:
    """A container component running ``python3 -c code``; inputs by value, then output paths, in argv."""
    args = [{"inputValue": i} for i in inputs] + [{"outputPath": o} for o in outputs]
    return {
        "name": name,
        "inputs": [{"name": i} for i in inputs],
        "outputs": [{"name": o} for o in outputs],
        "implementation": {"container": {"image": IMAGE, "command": ["python3", "-c", code, *args]}},
    }


def pipeline() -> dict[str, Any]:
    write = "import sys, pathlib; p = pathlib.Path(sys.argv[-1]); p.parent.mkdir(parents=True, exist_ok=True); "
    body = {
        "name": "fold",
        "parameters": [{"name": "x"}],
        "steps": [
            {"name": "sq", "component": component("sq", write + "p.write_text(str(int(sys.argv[1]) ** 2))", ("x",),
                                                  ("y",)), "arguments": {"x": "{{params.x}}"}},
        ],
        "outputs": [{"name": "y", "from": "{{steps.sq.outputs.y}}"}],
    }  # fmt: skip
    return {
        "name": "flow",
        "parameters": [{"name": "limit", "type": "Integer", "default": 10}],
        "steps": [
            {"name": "split", "component": component("split", write + "p.write_text('[1, 2, 3, 4]')", (), ("items",))},
            {"name": "square", "component": body, "arguments": {"x": "{{item}}"},
             "forEach": {"items": "{{steps.split.outputs.items}}", "parallelism": 2}},
            {"name": "total", "component": component("total", write + "import json; "
                                                     "p.write_text(str(sum(json.loads(sys.argv[1]))))", ("v",), ("t",)),
             "arguments": {"v": "{{steps.square.outputs.y}}"}},
            {"name": "big", "component": component("big", write + "p.write_text('big')", (), ("o",)),
             "when": "{{steps.total.outputs.t}} > {{params.limit}}"},
            {"name": "small", "component": component("small", write + "p.write_text('small')", (), ("o",)),
             "when": "not ({{steps.total.outputs.t}} > {{params.limit}})"},
            {"name": "say", "component": component("say", "import sys; print('verdict', sys.argv[1])", ("v",)),
             "arguments": {"v": "{{oneOf(steps.big.outputs.o, steps.small.outputs.o)}}"}},
        ],
        "onExit": {"name": "notify", "component": component("notify", "import sys; print('final', sys.argv[1])",
                                                            ("s",)), "arguments": {"s": "{{run.status}}"}},
    }  # fmt: skip


def test_fan_out_condition_and_exit_handler_run_as_pods(kube, cluster, tmp_path: Path) -> None:
    runner = PipelineRunner(kube, Workspace.at(tmp_path / "ws"), grace_period=0.5)
    spec = pipeline_from_dict(pipeline(), tmp_path)
    result = runner.run(spec, {"limit": 20}, RunContext(experiment="flow", run_id="0123456789abcdef0123456789abcdef"))
    assert result.state == "Succeeded", result.message
    squares = [Path(result.steps[f"square[{i}].sq"].outputs["y"]).read_text() for i in range(4)]
    assert squares == ["1", "4", "9", "16"]
    assert Path(result.steps["total"].outputs["t"]).read_text() == "30"
    assert (result.steps["big"].state, result.steps["small"].state) == ("Succeeded", "Skipped")
    assert "verdict big" in Path(result.steps["say"].log_path).read_text()
    assert "final Succeeded" in Path(result.steps["notify"].log_path).read_text()
    # One pod per step instance that ran: split, four iterations, total, big, say, notify (none for `small`).
    assert cluster.requests["CREATE pods"] == 9
