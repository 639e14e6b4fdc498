"""The Python pipeline DSL: ``@workbench.pipeline`` functions are specs equal to their YAML, and run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import workbench
from workbench._dsl_pipeline import pipeline_from_ref, to_yaml
from workbench.backends import LocalBackend
from workbench.cli import app
from workbench.engine import PipelineRunner, RunContext
from workbench.errors import SpecError
from workbench.spec import load_pipeline, pipeline_from_dict
from workbench.workspace import Workspace

COMPONENTS = """
from workbench import component, Input, Output, Dataset

@component
def load(data: Output[Dataset], rows: int = 3):
    open(data.path, "w").write(",".join(str(i) for i in range(rows)))

@component
def folds(k: int) -> list:
    return [{"fold": i, "seed": 10 + i} for i in range(k)]

@component
def train(data: Input[Dataset], fold: int, alpha: float = 0.5) -> float:
    rows = len(open(data.path).read().split(","))
    return rows + fold * alpha

@component
def scale(x: float, by: float = 2.0) -> float:
    return x * by

@component
def average(scores: list) -> float:
    return sum(scores) / len(scores)

@component
def label(text: str) -> str:
    return text

@component
def fail(code: int = 3):
    raise SystemExit(code)

@component
def notify(status: str, failed: list = [], tag: str = ""):
    print(f"notify {status} {failed} {tag}")
"""

PIPELINES = '''
from workbench import dsl, pipeline
from components import load, folds, train, scale, average, label, fail, notify


@pipeline
def cv(k: int = 3, alpha: float = 0.5, threshold: float = 3.0):
    """K-fold cross-validation with a publish decision."""
    data = load(rows=4)
    split = folds(k=k)
    with dsl.ParallelFor(split.output, parallelism=2) as f:
        fit = train(data=data.outputs["data"], fold=f["fold"], alpha=alpha).retry(2, backoff="0.1s").timeout("1m")
    mean = average(scores=fit.output).display_name("mean score")
    with dsl.If(mean.output > threshold):
        high = label(text="high")
    with dsl.Elif(mean.output > 1.0):
        mid = label(text="mid")
    with dsl.Else():
        low = label(text="low")
    decision = label(text=dsl.OneOf(high.output, mid.output, low.output))
    dsl.ExitHandler(notify(status=dsl.run.status, failed=dsl.run.failed_steps, tag=f"k={k}"))
    return {"mean": mean.output, "decision": decision.output}


@pipeline
def body_loop(items: list = [1, 2, 3]):
    data = load(rows=2)
    with dsl.ParallelFor(items) as x:
        t = train(data=data.outputs["data"], fold=x)
        s = scale(x=t.output, by=10.0)
    average(scores=s.output)


@pipeline
def options(n: int = 1):
    a = label(text="a").retry(3, backoff="2s", factor=3).timeout("5m").cache(False, max_staleness="1d")
    b = label(text=f"n={n}").resources(cpu="500m", memory="1Gi", gpu=1).env({"A": "1"}, B=2)
    b.display_name("Bee").after(a)


@pipeline
def inner(x: float = 1.0):
    return scale(x=x, by=3.0).output


@pipeline
def outer(x: float = 2.0):
    twice = inner(x=x)
    with dsl.ParallelFor([1.0, 2.0]) as v:
        each = inner(x=v)
    label(text=f"{twice.output} {each.output}")


@pipeline
def failing():
    fail(code=3)
    dsl.ExitHandler(notify(status=dsl.run.status, failed=dsl.run.failed_steps))


@pipeline
def loops_forever(x: float = 1.0):
    loops_forever(x=x)


@pipeline
def exit_uses_output():
    a = label(text="a")
    dsl.ExitHandler(notify(status=a.output))
'''


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dsl")
    (folder / "components.py").write_text(textwrap.dedent(COMPONENTS))
    (folder / "pipelines.py").write_text(textwrap.dedent(PIPELINES))
    return folder


def spec(pipes: Path, name: str) -> Any:
    return pipeline_from_ref(f"pipelines.py:{name}", str(pipes))


def run(pipeline: Any, tmp_path: Path, arguments: dict[str, Any] | None = None) -> Any:
    runner = PipelineRunner(LocalBackend(), Workspace.at(tmp_path / "ws"), grace_period=0.5)
    return runner.run(pipeline, arguments or {}, RunContext(experiment="dsl", run_id="run1"))


def out(result: Any, step: str, name: str = "Output") -> str:
    return Path(result.steps[step].outputs[name]).read_text()


# --------------------------------------------------------------------------- the spec


def test_function_parameters_are_pipeline_parameters(pipes):
    p = spec(pipes, "cv")
    assert p.name == "cv" and p.description == "K-fold cross-validation with a publish decision."
    assert [(x.name, x.type, x.default) for x in p.parameters] == [
        ("k", "Integer", 3), ("alpha", "Float", 0.5), ("threshold", "Float", 3.0),
    ]  # fmt: skip
    assert p.base_dir == str(pipes.resolve())
    assert [s.name for s in p.steps] == ["load", "folds", "train", "average", "label", "label-2", "label-3", "label-4"]


def test_a_one_step_loop_is_that_step_with_for_each(pipes):
    train = spec(pipes, "cv").step("train")
    assert train.for_each is not None and train.for_each.items == "{{steps.folds.outputs.Output}}"
    assert train.for_each.parallelism == 2
    assert train.arguments == {
        "data": "{{steps.load.outputs.data}}", "fold": "{{item.fold}}", "alpha": "{{params.alpha}}",
    }  # fmt: skip
    assert train.retry.limit == 2 and train.retry.backoff == 0.1 and train.timeout == 60.0
    assert spec(pipes, "cv").step("average").arguments == {"scores": "{{steps.train.outputs.Output}}"}


def test_if_elif_else_become_exclusive_conditions_and_one_of(pipes):
    p = spec(pipes, "cv")
    cond, cond2 = "{{steps.average.outputs.Output}} > {{params.threshold}}", "{{steps.average.outputs.Output}} > 1.0"
    assert p.step("label").when == cond
    assert p.step("label-2").when == f"not ({cond}) and ({cond2})"
    assert p.step("label-3").when == f"not ({cond}) and not ({cond2})"
    assert p.step("label-4").arguments["text"] == (
        "{{oneOf(steps.label.outputs.Output, steps.label-2.outputs.Output, steps.label-3.outputs.Output)}}"
    )
    assert p.on_exit is not None and p.on_exit.arguments == {
        "status": "{{run.status}}", "failed": "{{run.failedSteps}}", "tag": "k={{params.k}}",
    }  # fmt: skip
    assert [(o.name, o.from_) for o in p.outputs] == [
        ("mean", "{{steps.average.outputs.Output}}"), ("decision", "{{steps.label-4.outputs.Output}}"),
    ]  # fmt: skip


def test_step_options_chain(pipes):
    p = spec(pipes, "options")
    a, b = p.step("label"), p.step("label-2")
    assert (a.retry.limit, a.retry.backoff, a.retry.factor) == (3, 2.0, 3.0)
    assert a.timeout == 300.0 and a.cache is False and a.max_cache_staleness == 86400.0
    assert b.kubernetes is not None and b.kubernetes.resources.requirements() == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
    }
    assert b.env == {"A": "1", "B": "2"} and b.display_name == "Bee" and b.after == ["label"]
    assert b.arguments == {"text": "n={{params.n}}"}


def test_a_multi_step_loop_becomes_a_nested_pipeline(pipes):
    p = spec(pipes, "body_loop")
    loop = p.step("for-each-1")
    assert loop.is_pipeline and loop.for_each.items == "{{params.items}}"
    body = loop.component
    assert [s.name for s in body.steps] == ["train", "scale"]
    assert loop.arguments == {"load-data": "{{steps.load.outputs.data}}", "item": "{{item}}"}
    assert body.step("train").arguments == {"data": "{{params.load-data}}", "fold": "{{params.item}}"}
    assert [(o.name, o.from_) for o in body.outputs] == [("scale-Output", "{{steps.scale.outputs.Output}}")]
    assert p.step("average").arguments == {"scores": "{{steps.for-each-1.outputs.scale-Output}}"}


@pytest.mark.parametrize("name", ["cv", "body_loop", "options", "outer", "failing"])
def test_yaml_export_loads_back_to_an_identical_spec(pipes, tmp_path, name):
    p = spec(pipes, name)
    text = to_yaml(p)
    assert pipeline_from_dict(yaml.safe_load(text)) == p
    (tmp_path / "p.yaml").write_text(text)
    assert load_pipeline(tmp_path / "p.yaml") == p


def test_cli_export_writes_the_yaml(pipes, tmp_path, monkeypatch):
    monkeypatch.chdir(pipes)
    target = tmp_path / "out" / "cv.yaml"
    result = CliRunner().invoke(app, ["pipeline", "export", "pipelines.py:cv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert load_pipeline(target) == spec(pipes, "cv")
    printed = CliRunner().invoke(app, ["pipeline", "export", "pipelines.py:options"])
    assert printed.exit_code == 0 and yaml.safe_load(printed.stdout)["metadata"]["name"] == "options"


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("pipelines.py:nope", "defines no 'nope'"),
        ("missing.py:cv", "not found"),
        ("components.py:train", "is not a @workbench.pipeline function"),
        ("pipelines.py:loops_forever", "recursion: pipeline 'loops-forever' uses itself"),
        ("pipelines.py:exit_uses_output", "onExit.arguments.status"),
    ],
)
def test_cli_export_errors_exit_2_and_write_nothing(pipes, tmp_path, monkeypatch, ref, fragment):
    monkeypatch.chdir(pipes)
    target = tmp_path / "never.yaml"
    result = CliRunner().invoke(app, ["pipeline", "export", ref, "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert fragment in result.output.replace("\n", "")
    assert not target.exists() and not list(tmp_path.iterdir())


def test_pipeline_of_a_python_file_in_yaml(pipes, tmp_path):
    """A step whose component is FILE.py:FUNCTION of a @pipeline function is a nested pipeline."""
    (tmp_path / "p.yaml").write_text(
        yaml.safe_dump({"name": "wrap", "steps": [{"name": "sub", "component": f"{pipes}/pipelines.py:inner"}]})
    )
    p = load_pipeline(tmp_path / "p.yaml")
    assert p.step("sub").is_pipeline and p.step("sub").component == spec(pipes, "inner")


# --------------------------------------------------------------------------- misuse


BAD = {
    "elif_alone": ("with dsl.Elif(label(text='x').output == 'x'):\n        label(text='y')", "must directly follow"),
    "python_if": ("if label(text='x').output:\n        pass", "use `with dsl.If(...)`"),
    "positional": ("label('x')", "pass the inputs of 'label' by name"),
    "unknown_input": ("label(txt='x')", "has no input 'txt'"),
    "bad_output": ("label(text='x').outputs['nope']", "has no output 'nope'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_misuse_is_a_clear_error(pipes, tmp_path, case):
    body, fragment = BAD[case]
    (tmp_path / "bad.py").write_text(
        f"from workbench import dsl, pipeline\nfrom components import label\n\n@pipeline\ndef bad():\n    {body}\n"
    )
    sys.path.insert(0, str(pipes))
    try:
        with pytest.raises((SpecError, TypeError, KeyError)) as info:
            pipeline_from_ref("bad.py:bad", str(tmp_path))
    finally:
        sys.path.remove(str(pipes))
    assert fragment in str(info.value)


def test_components_and_pipelines_outside_a_pipeline(pipes):
    sys.path.insert(0, str(pipes))
    try:
        import components
        import pipelines
    finally:
        sys.path.remove(str(pipes))
    assert components.scale(2.0, by=4.0) == 8.0  # a component called outside a pipeline is the plain function
    with pytest.raises(TypeError, match="runs as a step of another @pipeline"):
        pipelines.inner(x=1.0)
    assert workbench.pipeline is workbench.dsl.pipeline


def test_importing_workbench_does_not_load_the_builder():
    code = "import sys, workbench, workbench.dsl; print('workbench._dsl_pipeline' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "False"


# --------------------------------------------------------------------------- running


def test_cv_runs_folds_branches_and_the_exit_handler(pipes, tmp_path):
    result = run(spec(pipes, "cv"), tmp_path, {"k": 3, "alpha": 0.5, "threshold": 4.0})
    assert result.state == "Succeeded", result.message
    assert [out(result, f"train[{i}]") for i in range(3)] == ["4.0", "4.5", "5.0"]
    assert out(result, "average") == "4.5"
    assert {n: result.steps[n].state for n in ("label", "label-2", "label-3")} == {
        "label": "Succeeded", "label-2": "Skipped", "label-3": "Skipped",
    }  # fmt: skip
    assert out(result, "label-4") == "high"
    log = Path(result.steps["notify"].log_path).read_text()
    assert "notify Succeeded [] k=3" in log
    low = run(spec(pipes, "cv"), tmp_path / "low", {"k": 1, "threshold": 10.0, "alpha": 0.0})
    assert out(low, "average") == "4.0" and out(low, "label-4") == "mid"


def test_multi_step_loop_and_nested_pipelines_run(pipes, tmp_path):
    loop = run(spec(pipes, "body_loop"), tmp_path / "loop", {"items": [1, 2]})
    assert loop.state == "Succeeded", loop.message
    assert out(loop, "for-each-1[1].scale") == "30.0"  # (2 rows + 2 * 0.5) * 10
    assert out(loop, "average") == "27.5"  # (25 + 30) / 2
    nested = run(spec(pipes, "outer"), tmp_path / "nested")
    assert nested.state == "Succeeded", nested.message
    assert out(nested, "inner.scale") == "6.0"
    assert out(nested, "label") == "6.0 [3.0, 6.0]"


def test_exit_handler_sees_the_failure(pipes, tmp_path):
    result = run(spec(pipes, "failing"), tmp_path)
    assert result.state == "Failed"
    assert "notify Failed ['fail'] " in Path(result.steps["notify"].log_path).read_text()


def test_yaml_component_in_a_python_pipeline(pipes, tmp_path):
    (tmp_path / "echo.yaml").write_text(yaml.safe_dump({
        "name": "shout", "inputs": [{"name": "text", "type": "String"}], "outputs": [{"name": "loud"}],
        "implementation": {"container": {"command": [sys.executable, "-c",
            "import sys; open(sys.argv[2], 'w').write(sys.argv[1].upper())", {"inputValue": "text"},
            {"outputPath": "loud"}]}},
    }))  # fmt: skip
    (tmp_path / "mixed.py").write_text(
        textwrap.dedent("""
        from workbench import dsl, pipeline
        shout = dsl.load_component("echo.yaml")

        @pipeline
        def mixed(word: str = "hi"):
            with dsl.ParallelFor([word, "there"]) as w:
                shout(text=w)
    """)
    )
    p = pipeline_from_ref("mixed.py:mixed", str(tmp_path))
    assert p.step("shout").for_each.items == ["{{params.word}}", "there"]
    result = run(p, tmp_path, {"word": "hey"})
    assert result.state == "Succeeded", result.message
    assert [out(result, f"shout[{i}]", "loud") for i in range(2)] == ["HEY", "THERE"]
    assert json.loads(json.dumps(p.to_dict()))["steps"][0]["forEach"]["items"] == ["{{params.word}}", "there"]


# --------------------------------------------------------------------------- KFP idioms

KFP_IDIOMS = """
from workbench import dsl, pipeline
from components import label, train, load, average, scale


@pipeline
def kfp_style(threshold: float = 0.5):
    data = load(rows=3)
    flip = label(text="heads")
    with dsl.Condition(flip.output == "heads", name="heads-branch"):
        label(text="won").set_display_name("won").set_retry(2, backoff_duration="1s").set_caching_options(False)
        with dsl.Condition(scale(x=threshold).output > 0.5):
            label(text="twice")
    with dsl.ParallelFor([{"fold": 0, "lr": 0.1, "type": "a"}, {"fold": 1, "lr": 0.2, "type": "b"}]) as item:
        fit = train(data=data.outputs["data"], fold=item.fold, alpha=item.lr)
        label(text=item.type)
    average(scores=fit.output)
"""


@pytest.fixture(scope="module")
def kfp_pipes(pipes: Path) -> Path:
    (pipes / "kfp_idioms.py").write_text(textwrap.dedent(KFP_IDIOMS))
    return pipes


def test_kfp_condition_is_if_and_item_fields_read_as_attributes(kfp_pipes):
    """The regression: `with dsl.Condition(...)` and `item.field` crashed with raw tracebacks."""
    p = pipeline_from_ref("kfp_idioms.py:kfp_style", str(kfp_pipes))
    heads = "{{steps.label.outputs.Output}} == 'heads'"
    won = p.step("label-2")
    assert won.when == heads and won.display_name == "won" and won.retry.limit == 2 and won.cache is False
    assert p.step("label-3").when == f"({heads}) and ({{{{steps.scale.outputs.Output}}}} > 0.5)"
    loop = p.step("for-each-1")
    body = loop.component
    assert body.step("train").arguments == {"data": "{{params.load-data}}", "fold": "{{params.item.fold}}",
                                            "alpha": "{{params.item.lr}}"}  # fmt: skip
    assert loop.arguments["item.fold"] == "{{item.fold}}" and loop.arguments["item.lr"] == "{{item.lr}}"
    assert loop.arguments["item.type"] == "{{item.type}}"  # a field named like an attribute is still a field
    assert pipeline_from_dict(yaml.safe_load(to_yaml(p))) == p


def test_kfp_idioms_run(kfp_pipes, tmp_path):
    result = run(pipeline_from_ref("kfp_idioms.py:kfp_style", str(kfp_pipes)), tmp_path, {"threshold": 0.1})
    assert result.state == "Succeeded", {k: (s.state, s.message) for k, s in result.steps.items()}
    assert out(result, "label-2") == "won" and result.steps["label-3"].state == "Skipped"
    assert json.loads(out(result, "average")) == pytest.approx((3 + 0 * 0.1 + 3 + 1 * 0.2) / 2)
    assert out(result, "for-each-1[1].label") == "b"


KFP_MISUSE = {
    "container_op": ("dsl.ContainerOp(name='x', image='alpine')", "ContainerOp", "dsl.load_component"),
    "cpu_limit": ("label(text='x').set_cpu_limit('2')", "set_cpu_limit", ".resources(cpu=..."),
    "env": ("label(text='x').add_env_variable('A')", "add_env_variable", ".env(NAME=value)"),
    "output_field": ("label(text='x').output.field", "has no attribute 'field'", "step.outputs['name']"),
    "retry_policy": ("label(text='x').set_retry(2, policy='Always')", "policy", "every failure"),
}


@pytest.mark.parametrize("case", sorted(KFP_MISUSE))
def test_kfp_spellings_workbench_lacks_are_clear_errors_naming_the_workbench_spelling(pipes, tmp_path, case):
    body, *fragments = KFP_MISUSE[case]
    (tmp_path / "kfp_bad.py").write_text(
        f"from workbench import dsl, pipeline\nfrom components import label\n\n@pipeline\ndef bad():\n    {body}\n"
    )
    sys.path.insert(0, str(pipes))
    try:
        with pytest.raises(SpecError) as info:
            pipeline_from_ref("kfp_bad.py:bad", str(tmp_path))
    finally:
        sys.path.remove(str(pipes))
    message = str(info.value)
    assert "pipeline 'bad' (kfp_bad.py, line 6)" in message
    for fragment in fragments:
        assert fragment in message


def test_cli_export_of_a_kfp_misuse_is_a_message_not_a_traceback(pipes, tmp_path, monkeypatch):
    (pipes / "kfp_cli_bad.py").write_text(
        "from workbench import dsl, pipeline\nfrom components import label\n\n@pipeline\ndef bad():\n"
        "    label(text='x').set_memory_limit('1Gi')\n"
    )
    monkeypatch.chdir(pipes)
    result = CliRunner().invoke(app, ["pipeline", "export", "kfp_cli_bad.py:bad"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "set_memory_limit" in result.stderr and ".resources(" in result.stderr
