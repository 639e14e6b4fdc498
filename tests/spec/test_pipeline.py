"""Our pipeline format: references, conditions, retry and timeout; a broken graph names the step and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from spec_helpers import STEPS_PY, echo_component, pipeline_doc, raises_spec, write

from workbench.spec import (
    Pipeline,
    RetryPolicy,
    Step,
    load_pipeline,
    pipeline_from_dict,
    pipeline_to_document,
    references,
    split_output_ref,
)


def spec_of(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]


def test_pipeline_with_references_condition_retry_and_timeout(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline.yaml", pipeline_doc())
    p = load_pipeline(path)
    assert p.name == "train-eval" and p.description == "prepare, train, evaluate, deploy"
    assert p.base_dir == str(tmp_path.resolve())
    assert [x.name for x in p.parameters] == ["lr", "deploy", "tag"]
    assert p.topological_order() == ["prepare", "train", "deploy"]
    train = p.step("train")
    assert train.retry == RetryPolicy(limit=2, backoff=2.0, factor=3.0, max_backoff=60.0)
    assert train.timeout == 600.0
    assert train.upstream() == {"prepare"}
    deploy = p.step("deploy")
    assert deploy.retry.limit == 1 and deploy.retry.backoff == 1.0  # "retry: 1" is a limit
    assert deploy.upstream() == {"train"}
    assert deploy.env == {"TARGET": "staging"}
    assert deploy.when is not None and "{{params.deploy}}" in deploy.when
    assert references(deploy.arguments) == ["steps.train.outputs.model", "params.lr", "params.tag"]
    with pytest.raises(KeyError):
        p.step("nope")


def test_step_order_follows_after_and_conditions() -> None:
    p = Pipeline.model_validate(
        {
            "name": "p",
            "parameters": [{"name": "go", "default": True}],
            "steps": [
                {"name": "c", "component": echo_component(), "after": ["b"]},
                {"name": "b", "component": echo_component(), "when": "{{steps.a.outputs.flag}} == 'yes'"},
                {"name": "a", "component": echo_component(outputs=["flag"]), "when": "{{params.go}}"},
            ],
        }
    )
    assert p.topological_order() == ["a", "b", "c"]


def test_output_names_with_spaces_can_be_referenced() -> None:
    producer = {
        "name": "kfp",
        "outputs": [{"name": "Output data"}],
        "implementation": {"container": {"command": ["x", {"outputPath": "Output data"}]}},
    }
    p = Pipeline.model_validate(
        {
            "name": "p",
            "steps": [
                {"name": "make", "component": producer},
                {
                    "name": "use",
                    "component": echo_component(["x"]),
                    "arguments": {"x": "{{ steps.make.outputs.Output data }}"},
                },
            ],
        }
    )
    assert p.step("use").upstream() == {"make"}
    assert split_output_ref(references(p.step("use").arguments)[0]) == ("make", "Output data")


def test_pipeline_round_trip() -> None:
    p = pipeline_from_dict(pipeline_doc(), Path("/tmp"))
    dumped = p.model_dump(by_alias=True, mode="json")
    assert Pipeline.model_validate(dumped) == p
    assert Pipeline.model_validate(json.loads(json.dumps(dumped))) == p
    doc = pipeline_to_document(p)
    assert doc["apiVersion"] == "workbench.io/v1alpha1" and doc["kind"] == "Pipeline"
    assert pipeline_from_dict(json.loads(json.dumps(doc))) == p


def test_pipeline_with_a_python_component(tmp_path: Path) -> None:
    write(tmp_path, "steps.py", STEPS_PY)
    doc = {
        "name": "py",
        "parameters": [{"name": "rows", "type": "Integer", "default": 100}, {"name": "lr", "type": "Float"}],
        "steps": [
            {"name": "data", "component": "steps.py:make_data", "arguments": {"rows": "{{params.rows}}"}},
            {
                "name": "train",
                "component": "steps.py:train",
                "arguments": {"data": "{{steps.data.outputs.data}}", "lr": "{{params.lr}}"},
            },
            {
                "name": "evaluate",
                "component": "steps.py:evaluate",
                "arguments": {"model": "{{steps.train.outputs.model}}"},
            },
        ],
    }
    p = pipeline_from_dict(doc, tmp_path)
    train = p.step("train").component
    assert train.name == "train" and train.description == "Train a model and return its validation loss."
    assert [(i.name, i.type) for i in train.inputs] == [("data", "Dataset"), ("lr", "Float"), ("penalty", "String")]
    assert [(o.name, o.type) for o in train.outputs] == [("model", "Model"), ("Output", "Float")]
    assert train.input("lr").default == 0.1  # type: ignore[union-attr]
    assert train.implementation.python is not None
    assert train.implementation.python.file == str((tmp_path / "steps.py").resolve())
    assert train.implementation.python.function == "train"
    evaluate = p.step("evaluate").component
    assert [o.name for o in evaluate.outputs] == ["accuracy", "f1"]  # an undecorated function works too
    assert Pipeline.model_validate(p.model_dump(by_alias=True, mode="json")) == p


def test_optional_annotations_keep_their_type(tmp_path: Path) -> None:
    write(
        tmp_path,
        "opt.py",
        "from typing import Optional\n\ndef f(a: Optional[float] = None, b: 'int | None' = 2) -> None: ...\n",
    )
    comp = (
        pipeline_from_dict({"name": "p", "steps": [{"name": "s", "component": "opt.py:f"}]}, tmp_path)
        .steps[0]
        .component
    )
    assert [(i.name, i.type, i.optional) for i in comp.inputs] == [("a", "Float", True), ("b", "Integer", False)]


def test_python_component_errors(tmp_path: Path) -> None:
    write(tmp_path, "steps.py", STEPS_PY)
    write(tmp_path, "broken.py", "import no_such_module_here\n")
    write(tmp_path, "exits.py", "import sys\nsys.exit(3)\n")
    write(tmp_path, "badhints.py", "def f(x: 'NoSuchType') -> None: ...\nvalue = 3\n")
    write(tmp_path, "varargs.py", "def f(*args: int) -> None: ...\n")
    cases = [
        ("steps.py:nope", "steps[0].component", "defines no function 'nope'"),
        ("missing.py:f", "steps[0].component", "not found"),
        ("badhints.py:f", "steps[0].component", "cannot read the signature"),
        ("badhints.py:value", "steps[0].component", "is not a function"),
        ("varargs.py:f", "steps[0].component", "*args and **kwargs cannot be inputs"),
    ]
    for ref, path, fragment in cases:
        with raises_spec(path, fragment):
            pipeline_from_dict({"name": "p", "steps": [{"name": "s", "component": ref}]}, tmp_path)
    for ref in ("broken.py:f", "exits.py:f"):
        with raises_spec("", "importing it failed") as info:
            pipeline_from_dict({"name": "p", "steps": [{"name": "s", "component": ref}]}, tmp_path)
        assert info.value.source == str((tmp_path / ref.split(":")[0]).resolve())
    with raises_spec("steps[0].component.implementation.python.file", "not found"):
        pipeline_from_dict(
            {
                "name": "p",
                "steps": [
                    {
                        "name": "s",
                        "component": {"name": "c", "implementation": {"python": {"file": "nope.py", "function": "f"}}},
                    }
                ],
            },
            tmp_path,
        )


def with_step(index: int, **changes: Any) -> dict[str, Any]:
    doc = pipeline_doc()
    spec_of(doc)["steps"][index].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "path", "fragments"),
    [
        # A cycle: the message shows it.
        (
            with_step(0, arguments={"tag": "{{steps.deploy.outputs.x}}"}),
            "spec.steps[0].arguments.tag",
            ("produces no output 'x'",),
        ),
        (with_step(0, after=["deploy"]), "spec.steps", ("cycle", "prepare -> deploy -> train -> prepare")),
        (with_step(1, after=["train"]), "spec.steps", ("cycle", "train -> train")),
        # A step consuming an output nobody produces.
        (
            with_step(2, arguments={"model": "{{steps.train.outputs.weights}}"}),
            "spec.steps[2].arguments.model",
            ("step 'train' produces no output 'weights'", "['model', 'loss']"),
        ),
        (
            with_step(2, arguments={"model": "{{steps.fit.outputs.model}}"}),
            "spec.steps[2].arguments.model",
            ("names no step 'fit'",),
        ),
        # An argument for an unknown input.
        (
            with_step(2, arguments={"model": "m", "note": "n", "notes": "x"}),
            "spec.steps[2].arguments.notes",
            ("has no input 'notes'", "['model', 'note']"),
        ),
        # A reference to an unknown pipeline parameter.
        (
            with_step(2, arguments={"model": "m", "note": "{{params.learning_rate}}"}),
            "spec.steps[2].arguments.note",
            ("{{params.learning_rate}} names no pipeline parameter", "['deploy', 'lr', 'tag']"),
        ),
        (with_step(2, when="{{params.ship}}"), "spec.steps[2].when", ("{{params.ship}} names no pipeline parameter",)),
        (with_step(2, when="{{steps.train.outputs.acc}} > 1"), "spec.steps[2].when", ("no output 'acc'",)),
        (with_step(2, when="deploy == true"), "spec.steps[2].when", ("unknown name 'deploy'",)),
        (with_step(2, when="{{params.deploy}} ="), "spec.steps[2].when", ("not a valid expression",)),
        (
            with_step(2, arguments={"model": "m", "note": "{{param.lr}}"}),
            "spec.steps[2].arguments.note",
            ("malformed reference {{param.lr}}",),
        ),
        (
            with_step(2, arguments={"model": "m", "note": ["{{steps.train.output.model}}"]}),
            "spec.steps[2].arguments.note[0]",
            ("malformed reference",),
        ),
        (with_step(2, arguments={"note": "n"}), "spec.steps[2].arguments", ("required input 'model'",)),
        (with_step(2, after=["nope"]), "spec.steps[2].after[0]", ("no step named 'nope'",)),
        (with_step(1, name="prepare"), "spec.steps[1].name", ("duplicate step name 'prepare'",)),
        (with_step(1, name="tr/ain"), "spec.steps[1].name", ("invalid step name", "'/'")),
        (with_step(1, name="a..b"), "spec.steps[1].name", ("invalid step name",)),
        (with_step(1, name="my step"), "spec.steps[1].name", ("invalid step name",)),
        (with_step(1, name="s" * 64), "spec.steps[1].name", ("invalid step name",)),
        (with_step(1, timeout="soon"), "spec.steps[1].timeout", ("duration such as 30s",)),
        (with_step(1, timeout=0), "spec.steps[1].timeout", ("positive",)),
        (with_step(1, timeout="-5s"), "spec.steps[1].timeout", ("duration",)),
        (with_step(1, timeout=float("inf")), "spec.steps[1].timeout", ("finite",)),
        (with_step(1, timeout=10**400), "spec.steps[1].timeout", ("too large",)),
        (with_step(1, retry={"limit": -1}), "spec.steps[1].retry.limit", ("greater than or equal to 0",)),
        (
            with_step(1, retry={"limit": 1, "factor": 0.5}),
            "spec.steps[1].retry.factor",
            ("greater than or equal to 1",),
        ),
        (with_step(1, retry={"limit": 1, "backof": "1s"}), "spec.steps[1].retry.backof", ("did you mean 'backoff'",)),
        (with_step(1, retry=True), "spec.steps[1].retry", ("expected a mapping",)),
        (with_step(1, env={"A": [1]}), "spec.steps[1].env.A", ("expected a string",)),
        (with_step(1, component=42), "spec.steps[1].component", ("expected a component file",)),
        (with_step(1, arguments={"data": float("nan"), "lr": 1}), "spec.steps[1].arguments.data", ("finite",)),
        (with_step(1, arguments=["lr"]), "spec.steps[1].arguments", ("expected a mapping",)),
        (with_step(1, retires=2), "spec.steps[1].retires", ("unknown field", "did you mean 'retry'")),
    ],
)
def test_bad_pipelines(doc: dict[str, Any], path: str, fragments: tuple[str, ...]) -> None:
    with raises_spec(path, *fragments):
        pipeline_from_dict(doc, Path("."))


def test_cycle_between_two_steps_shows_the_cycle() -> None:
    doc = {
        "name": "loop",
        "steps": [
            {"name": "a", "component": echo_component(["x"], ["y"]), "arguments": {"x": "{{steps.b.outputs.y}}"}},
            {"name": "b", "component": echo_component(["x"], ["y"]), "arguments": {"x": "{{steps.a.outputs.y}}"}},
        ],
    }
    with raises_spec("steps", "the pipeline has a cycle: a -> b -> a"):
        pipeline_from_dict(doc)


@pytest.mark.parametrize(
    ("change", "path", "fragments"),
    [
        ({"parameters": [{"name": "lr"}, {"name": "lr"}]}, "spec.parameters[1].name", ("duplicate parameter 'lr'",)),
        ({"parameters": [{"name": "learning rate"}]}, "spec.parameters[0].name", ("invalid parameter name",)),
        ({"parameters": [{"name": "a/b"}]}, "spec.parameters[0].name", ("invalid parameter name",)),
        ({"parameters": {"lr": 1}}, "spec.parameters", ("expected a list",)),
        ({"steps": []}, "spec.steps", ("at least one step",)),
        ({"steps": "train"}, "spec.steps", ("expected a list",)),
        ({"description": ["x"]}, "spec.description", ("expected a string",)),
        ({"stepz": []}, "spec.stepz", ("did you mean 'steps'",)),
    ],
)
def test_bad_pipeline_fields(change: dict[str, Any], path: str, fragments: tuple[str, ...]) -> None:
    doc = pipeline_doc()
    del doc["metadata"]["description"]
    spec_of(doc).update(change)
    with raises_spec(path, *fragments):
        pipeline_from_dict(doc)


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "has space", "x" * 64, "-lead", "", "tab\t", "nl\n"])
def test_invalid_pipeline_names(name: str) -> None:
    doc = pipeline_doc()
    doc["metadata"]["name"] = name
    with raises_spec("metadata.name", "invalid pipeline name"):
        pipeline_from_dict(doc)
    bare = dict(spec_of(pipeline_doc()), name=name)
    with raises_spec("name", "invalid pipeline name"):
        pipeline_from_dict(bare)


@pytest.mark.parametrize("name", ["a", "train-eval", "v1.2_final", "x" * 63, "7up"])
def test_valid_pipeline_names(name: str) -> None:
    doc = pipeline_doc()
    doc["metadata"]["name"] = name
    assert pipeline_from_dict(doc).name == name


def test_pipeline_documents(tmp_path: Path) -> None:
    doc = pipeline_doc()
    doc["kind"] = "Experiment"
    with raises_spec("kind", "expected kind 'Pipeline', got 'Experiment'"):
        pipeline_from_dict(doc)
    doc = pipeline_doc()
    doc["apiVersion"] = "kubeflow.org/v1beta1"
    with raises_spec("apiVersion", "unsupported apiVersion", "workbench.io/v1alpha1"):
        pipeline_from_dict(doc)
    doc = pipeline_doc()
    doc["spec"]["name"] = "other"
    with raises_spec("spec.name", "conflicts with metadata.name"):
        pipeline_from_dict(doc)
    doc = pipeline_doc()
    del doc["spec"]
    with raises_spec("spec", "required field is missing"):
        pipeline_from_dict(doc)
    with raises_spec("", "expected a mapping", "a list"):
        load_pipeline(write(tmp_path, "list.yaml", "- a\n"))
    with raises_spec("", "file not found"):
        load_pipeline(tmp_path / "nope.yaml")


def test_step_model_defaults() -> None:
    step = Step.model_validate({"name": "s", "component": echo_component()})
    assert step.retry == RetryPolicy() and step.timeout is None and step.when is None and step.after == []
    assert Step.model_validate({"name": "s", "component": echo_component(), "timeout": 90}).timeout == 90.0
    assert Step.model_validate({"name": "s", "component": echo_component(), "timeout": "1.5h"}).timeout == 5400.0


# --------------------------------------------------------------------------- control flow (issue 8)


def typed_component(name: str = "c", inputs=(), outputs=()) -> dict[str, Any]:
    """A container component with typed inputs/outputs: ``inputs=[("x", "Integer")]``."""
    command: list[Any] = ["echo"] + [{"inputValue": n} for n, _ in inputs] + [{"outputPath": n} for n, _ in outputs]
    return {
        "name": name,
        "inputs": [{"name": n, "type": t} for n, t in inputs],
        "outputs": [{"name": n, "type": t} for n, t in outputs],
        "implementation": {"container": {"command": command}},
    }


def control_flow_doc() -> dict[str, Any]:
    """Every construct at once: loops (literal, parameter, output), branches, one-of, nesting, exit handler."""
    inner = {
        "name": "fold",
        "parameters": [{"name": "k", "type": "Integer"}],
        "steps": [{"name": "fit", "component": typed_component("fit", [("x", "Integer")], [("score", "Float")]),
                   "arguments": {"x": "{{params.k}}"}}],
        "outputs": [{"name": "score", "type": "Float", "from": "{{steps.fit.outputs.score}}"}],
    }  # fmt: skip
    return {
        "name": "flow",
        "parameters": [{"name": "ks", "type": "JsonArray", "default": [1, 2]}, {"name": "go", "type": "Boolean"}],
        "steps": [
            {"name": "split", "component": typed_component("split", outputs=[("parts", "JsonArray")])},
            {"name": "each", "component": typed_component("each", [("x", "String")], [("y", "Float")]),
             "arguments": {"x": "{{item}}"}, "forEach": {"items": "{{steps.split.outputs.parts}}", "parallelism": 3}},
            {"name": "lit", "component": typed_component("lit", [("x", "String")]),
             "arguments": {"x": "{{item.a}}"}, "forEach": [{"a": 1}, {"a": 2}]},
            {"name": "cv", "component": inner, "arguments": {"k": "{{item}}"},
             "forEach": {"items": "{{params.ks}}", "ignoreFailures": True}},
            {"name": "hi", "component": typed_component("hi", outputs=[("v", "String")]), "when": "{{params.go}}"},
            {"name": "lo", "component": typed_component("lo", outputs=[("v", "String")]), "when": "not {{params.go}}"},
            {"name": "use", "component": typed_component("use", [("v", "String"), ("s", "JsonArray")]),
             "arguments": {"v": "{{oneOf(steps.hi.outputs.v, steps.lo.outputs.v)}}", "s": "{{steps.cv.outputs.score}}"},
             "displayName": "Use it"},
        ],
        "onExit": {"name": "notify", "component": typed_component("notify", [("status", "String")]),
                   "arguments": {"status": "{{run.status}}"}},
    }  # fmt: skip


def test_control_flow_spec_and_round_trip(tmp_path: Path) -> None:
    p = pipeline_from_dict(control_flow_doc(), tmp_path)
    each = p.step("each")
    assert each.for_each is not None and each.for_each.parallelism == 3 and each.upstream() == {"split"}
    assert p.step("lit").for_each.items == [{"a": 1}, {"a": 2}]
    assert p.step("cv").is_pipeline and p.step("cv").for_each.ignore_failures
    assert p.step("use").upstream() == {"hi", "lo", "cv"}
    assert p.step("use").display_name == "Use it"
    assert p.on_exit is not None and p.on_exit.name == "notify"
    assert [name for name, _ in p.walk()] == ["split", "each", "lit", "cv", "cv.fit", "hi", "lo", "use", "notify"]
    doc = pipeline_to_document(p)
    assert pipeline_from_dict(json.loads(json.dumps(doc))) == p
    path = write(tmp_path, "flow.yaml", json.loads(json.dumps(doc)))
    assert load_pipeline(path) == p


def with_step(index: int, **changes: Any) -> dict[str, Any]:
    doc = control_flow_doc()
    doc["steps"][index] = {**doc["steps"][index], **changes}
    return doc


@pytest.mark.parametrize(
    ("doc", "path", "fragments"),
    [
        (with_step(2, forEach={"items": 3}), "steps[2].forEach.items", ("a loop runs over a list, got int",)),
        (with_step(2, forEach="{{params.go}}"), "steps[2].forEach.items", ("parameter 'go' is Boolean",)),
        (with_step(1, forEach="{{steps.lit.outputs.nope}}"), "steps[1].forEach.items", ("produces no output 'nope'",)),
        (with_step(2, forEach="just text"), "steps[2].forEach.items", ("expected a list",)),
        (with_step(2, forEach=[{"a": 1}, 5]), "steps[2].forEach.items[1]", ("must be a mapping with ['a']",)),
        (with_step(4, when="{{steps.split.outputs.missing}} == 1"), "steps[4].when", ("produces no output 'missing'",)),
        (with_step(4, when="{{steps.ghost.outputs.v}}"), "steps[4].when", ("names no step 'ghost'",)),
        (with_step(4, when="{{item}} > 1"), "steps[4].when", ("only defined in a step with forEach",)),
        (with_step(4, when="{{run.status}} == 'Failed'"), "steps[4].when", ("use it in the exit handler",)),
        (with_step(4, when=None), "steps[6].arguments.v", ("step 'hi' has no condition", "always runs")),
        (with_step(6, arguments={"v": "{{oneOf(steps.hi.outputs.v)}}"}), "steps[6].arguments.v", ("two or more",)),
        (with_step(6, arguments={"v": "{{items}}"}), "steps[6].arguments.v", ("malformed reference {{items}}",)),
    ],
)
def test_control_flow_errors_name_the_field(tmp_path: Path, doc: dict[str, Any], path: str, fragments: tuple) -> None:
    with raises_spec(path, *fragments):
        pipeline_from_dict(doc, tmp_path)


def test_loop_over_a_non_list_output_is_refused(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["steps"][0]["component"] = typed_component("split", outputs=[("parts", "Float")])
    with raises_spec("steps[1].forEach.items", "output 'parts' of step 'split' is Float"):
        pipeline_from_dict(doc, tmp_path)


def test_loop_over_a_parameter_whose_default_is_not_a_list(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["parameters"][0] = {"name": "ks", "default": 3}
    with raises_spec("steps[3].forEach.items", "the default of parameter 'ks' is int"):
        pipeline_from_dict(doc, tmp_path)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"status": "{{steps.split.outputs.parts}}"}, "step behind {{steps.split.outputs.parts}} may not have run"),
        ({"status": "{{oneOf(steps.hi.outputs.v, steps.lo.outputs.v)}}"}, "may not have run"),
    ],
)
def test_exit_handler_may_not_consume_step_outputs(tmp_path: Path, arguments: dict[str, Any], fragment: str) -> None:
    doc = control_flow_doc()
    doc["onExit"]["arguments"] = arguments
    with raises_spec("onExit.arguments.status", fragment):
        pipeline_from_dict(doc, tmp_path)


def test_exit_handler_takes_no_after_and_no_clashing_name(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["onExit"]["after"] = ["split"]
    with raises_spec("onExit.after", "takes no after"):
        pipeline_from_dict(doc, tmp_path)
    doc = control_flow_doc()
    doc["onExit"]["name"] = "split"
    with raises_spec("onExit.name", "also a step's name"):
        pipeline_from_dict(doc, tmp_path)


def test_nested_pipeline_errors_name_the_inner_field(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["steps"][3]["component"]["steps"][0]["arguments"] = {"x": "{{params.nope}}"}
    with raises_spec("steps[3].component.steps[0].arguments.x", "names no pipeline parameter"):
        pipeline_from_dict(doc, tmp_path)
    doc = control_flow_doc()
    doc["steps"][3]["component"]["outputs"][0]["from"] = "{{steps.fit.outputs.nope}}"
    with raises_spec("steps[3].component.outputs[0].from", "produces no output 'nope'"):
        pipeline_from_dict(doc, tmp_path)
    doc = control_flow_doc()
    doc["steps"][3]["arguments"] = {"k": "{{item}}", "bogus": 1}
    with raises_spec("steps[3].arguments.bogus", "pipeline 'fold' has no input 'bogus'"):
        pipeline_from_dict(doc, tmp_path)


def test_nested_pipeline_files_and_recursion(tmp_path: Path) -> None:
    write(tmp_path, "inner.yaml", {"apiVersion": "workbench.io/v1alpha1", "kind": "Pipeline",
                                   "metadata": {"name": "inner"},
                                   "spec": {"steps": [{"name": "a", "component": echo_component()}]}})  # fmt: skip
    write(tmp_path, "outer.yaml", {"name": "outer", "steps": [{"name": "sub", "component": "inner.yaml"}]})
    outer = load_pipeline(tmp_path / "outer.yaml")
    assert outer.step("sub").is_pipeline and outer.step("sub").component.name == "inner"
    # a.yaml -> b.yaml -> a.yaml
    write(tmp_path, "a.yaml", {"name": "a", "steps": [{"name": "to-b", "component": "b.yaml"}]})
    write(tmp_path, "b.yaml", {"name": "b", "steps": [{"name": "to-a", "component": "a.yaml"}]})
    with raises_spec("steps[0].component", "recursion", "a.yaml -> b.yaml -> a.yaml") as info:
        load_pipeline(tmp_path / "a.yaml")
    assert info.value.source == str((tmp_path / "b.yaml").resolve())
    write(tmp_path, "self.yaml", {"name": "me", "steps": [{"name": "again", "component": "self.yaml"}]})
    with raises_spec("steps[0].component", "recursion: pipeline self.yaml uses itself"):
        load_pipeline(tmp_path / "self.yaml")


def test_nested_step_names_must_not_clash(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["steps"].append({"name": "cv.fit", "component": echo_component()})
    with raises_spec("steps[7].name", "clashes with the steps of the nested pipeline 'cv'"):
        pipeline_from_dict(doc, tmp_path)


def test_an_exit_handler_of_a_nested_pipeline_is_refused(tmp_path: Path) -> None:
    doc = control_flow_doc()
    doc["steps"][3]["component"]["onExit"] = {"name": "bye", "component": echo_component()}
    with raises_spec("steps[3].component.onExit", "runs only for the top-level pipeline"):
        pipeline_from_dict(doc, tmp_path)


# --------------------------------------------------------------------------- the metrics a pipeline declares


def _declaring(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    doc = pipeline_doc()
    spec_of(doc)["metrics"] = metrics
    return doc


def test_a_pipeline_declares_the_metrics_it_reports(tmp_path: Path) -> None:
    p = load_pipeline(write(tmp_path, "p.yaml", _declaring([{"name": "acc", "goal": "maximize"}, {"name": "n"}])))
    assert p.metric_names() == ["acc", "n"] and p.metrics[0].goal == "maximize" and p.metrics[1].goal is None
    plain = load_pipeline(write(tmp_path, "q.yaml", pipeline_doc()))
    assert p.digest() == plain.digest()  # a declaration runs nothing: cached steps of nested pipelines stay valid
    assert pipeline_from_dict(pipeline_to_document(p)).metrics == p.metrics


def test_bad_metric_declarations_name_the_field(tmp_path: Path) -> None:
    with raises_spec("spec.metrics[1].name", "declared twice"):
        load_pipeline(write(tmp_path, "p.yaml", _declaring([{"name": "acc"}, {"name": "acc"}])))
    with raises_spec("spec.metrics[0].goal"):
        load_pipeline(write(tmp_path, "q.yaml", _declaring([{"name": "acc", "goal": "up"}])))


def test_every_catalog_template_declares_its_metrics() -> None:
    from workbench.spec import list_templates

    declared = {name: load_pipeline(path).metric_names() for name, path in list_templates().items()}
    assert declared["quadratic"] == ["loss"]
    assert declared["kfold-cv"][0] == "accuracy" and "accuracy" in declared["sklearn-classifier"]
