"""Kubeflow Pipelines v1 component.yaml: every placeholder kind loads; bad placeholders name their path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_helpers import KFP_COMPONENT, experiment_doc, load, raises_spec, write

from workbench.spec import Component, IOSpec, SpecError, experiment_from_dict, load_component, pipeline_from_dict


def kfp() -> dict[str, Any]:
    return load(KFP_COMPONENT)


def test_component_with_every_placeholder_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "component.yaml", KFP_COMPONENT)
    comp = load_component(path)
    assert comp.name == "Train model" and comp.description == "Trains a model."
    assert comp.metadata == {"annotations": {"author": "someone"}}
    assert [i.name for i in comp.inputs] == ["Training data", "learning_rate", "epochs", "checkpoint", "verbose"]
    data, lr, epochs, ckpt, verbose = comp.inputs
    assert data.is_artifact and data.type == "Dataset"
    assert (lr.type, lr.default, lr.optional) == ("Float", "0.1", False)
    assert ckpt.type == "GCSPath" and ckpt.optional  # structured KFP types keep their name
    assert not verbose.is_artifact
    assert [o.name for o in comp.outputs] == ["model", "metrics"]
    container = comp.implementation.container
    assert container is not None and comp.implementation.python is None
    kinds = {next(iter(item)) for item in container.command if isinstance(item, dict)}
    assert kinds == {"inputPath", "inputUri", "concat", "inputValue", "outputPath", "outputUri", "if"}
    assert container.env == {"PYTHONUNBUFFERED": "1"}
    assert comp.input("epochs") == IOSpec(name="epochs", type="Integer")
    assert comp.output("nope") is None


def test_relative_reference_is_resolved_against_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "components/train.yaml", KFP_COMPONENT)
    assert load_component("components/train.yaml", tmp_path).name == "Train model"


def test_digest_is_stable_and_sensitive() -> None:
    a, b = Component.model_validate(kfp()), Component.model_validate(kfp())
    assert a.digest() == b.digest()
    changed = kfp()
    changed["implementation"]["container"]["image"] = "python:3.12"
    assert Component.model_validate(changed).digest() != a.digest()


def test_component_round_trips_through_json() -> None:
    comp = load_component(kfp())
    again = Component.model_validate(comp.model_dump(by_alias=True, mode="json"))
    assert again == comp


def test_env_as_mapping_and_literals_in_command() -> None:
    doc = {
        "name": "c",
        "implementation": {"container": {"command": ["sleep", 1, 0.5, True], "env": {"A": 1, "B": None}}},
    }
    comp = load_component(doc)
    assert comp.implementation.container is not None
    assert comp.implementation.container.env == {"A": "1", "B": ""}


@pytest.mark.parametrize(
    ("item", "path", "fragments"),
    [
        ({"inputValue": "lr"}, "implementation.container.command[0].inputValue", ("no input named 'lr'",)),
        ({"inputPath": "Training data "}, "implementation.container.command[0].inputPath", ("no input named",)),
        ({"inputUri": ["epochs"]}, "implementation.container.command[0].inputUri", ("expected the name of an input",)),
        ({"outputPath": "epochs"}, "implementation.container.command[0].outputPath", ("no output named 'epochs'",)),
        ({"outputUri": {"x": 1}}, "implementation.container.command[0].outputUri", ("expected the name of an output",)),
        ({"inputValue": "epochs", "outputPath": "model"}, "implementation.container.command[0]", ("one placeholder",)),
        ({"executorInput": None}, "implementation.container.command[0]", ("unknown placeholder 'executorInput'",)),
        (None, "implementation.container.command[0]", ("expected a string or one placeholder",)),
        (["a"], "implementation.container.command[0]", ("expected a string or one placeholder",)),
        ({"concat": "a"}, "implementation.container.command[0].concat", ("expected a list",)),
        (
            {"concat": ["a", {"inputValue": "nope"}]},
            "implementation.container.command[0].concat[1].inputValue",
            ("no input named 'nope'",),
        ),
        (
            {"if": {"cond": {"isPresent": "nope"}, "then": ["x"]}},
            "implementation.container.command[0].if.cond.isPresent",
            ("no input named 'nope'",),
        ),
        ({"if": {"cond": {"isPresent": "epochs"}}}, "implementation.container.command[0].if", ("then",)),
        ({"if": {"cond": [1], "then": ["x"]}}, "implementation.container.command[0].if.cond", ("isPresent",)),
        (
            {"if": {"cond": True, "then": ["x"], "otherwise": []}},
            "implementation.container.command[0].if.otherwise",
            ("unknown field",),
        ),
        (
            {"if": {"cond": "true", "then": [{"outputPath": "x"}]}},
            "implementation.container.command[0].if.then[0].outputPath",
            ("no output named 'x'",),
        ),
        (
            {"if": {"cond": False, "then": "a", "else": {"inputUri": "x"}}},
            "implementation.container.command[0].if.else[0].inputUri",
            ("no input named 'x'",),
        ),
    ],
)
def test_bad_placeholders(item: Any, path: str, fragments: tuple[str, ...]) -> None:
    doc = kfp()
    doc["implementation"]["container"]["command"] = [item]
    with raises_spec(path, *fragments):
        load_component(doc)


def test_deeply_nested_placeholders_are_refused() -> None:
    item: Any = "x"
    for _ in range(60):
        item = {"concat": [item]}
    doc = {"name": "c", "implementation": {"container": {"command": [item]}}}
    with pytest.raises(SpecError) as info:
        load_component(doc)
    assert "nested too deeply" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "path", "fragments"),
    [
        (lambda d: d.pop("name"), "name", ("required field is missing",)),
        (lambda d: d.update(name="  "), "name", ("must not be empty",)),
        (lambda d: d.pop("implementation"), "implementation", ("required field is missing",)),
        (lambda d: d.update(implementation={}), "implementation", ("exactly one of 'container' or 'python'",)),
        (lambda d: d.update(implementation={"graph": {"tasks": {}}}), "implementation.graph", ("unknown field",)),
        (lambda d: d.update(graph={}), "graph", ("not supported",)),
        (lambda d: d["inputs"].append({"name": "epochs"}), "inputs[5].name", ("duplicate name 'epochs'",)),
        (lambda d: d["outputs"].append({"name": "model"}), "outputs[2].name", ("duplicate name 'model'",)),
        (lambda d: d["inputs"].append({"name": ""}), "inputs[5].name", ("must not be empty",)),
        (lambda d: d["inputs"].append({"name": "a{b}"}), "inputs[5].name", ("'{'",)),
        (lambda d: d["inputs"].append({"type": "String"}), "inputs[5].name", ("required field is missing",)),
        (lambda d: d["inputs"].append({"name": "x", "tpye": "String"}), "inputs[5].tpye", ("did you mean 'type'",)),
        (
            lambda d: d["inputs"].append({"name": "x", "default": {1: "a"}}),
            "inputs[5].default",
            ("keys must be strings",),
        ),
        (lambda d: d["inputs"].append({"name": "x", "default": float("inf")}), "inputs[5].default", ("finite",)),
        (lambda d: d.update(inputs={"epochs": "Integer"}), "inputs", ("expected a list",)),
        (
            lambda d: d["implementation"]["container"].update(command="python train.py"),
            "implementation.container.command",
            ("expected a list",),
        ),
        (
            lambda d: d["implementation"]["container"].update(env=[{"value": "1"}]),
            "implementation.container.env[0]",
            ("{name: NAME, value: VALUE}",),
        ),
        (
            lambda d: d["implementation"]["container"].update(env=[{"name": "A", "value": [1]}]),
            "implementation.container.env[0].value",
            ("expected a string",),
        ),
        (
            lambda d: d["implementation"]["container"].update(fileOutputs={"a": "/b"}),
            "implementation.container.fileOutputs",
            ("unknown field",),
        ),
        (
            lambda d: d.update(metadata={"annotations": {"when": {1, 2}}}),
            "metadata.annotations.when",
            ("expected a string, number",),
        ),
    ],
)
def test_bad_component_fields(mutate: Any, path: str, fragments: tuple[str, ...]) -> None:
    doc = kfp()
    mutate(doc)
    with raises_spec(path, *fragments):
        load_component(doc)


def test_component_file_errors_name_the_file(tmp_path: Path) -> None:
    doc = kfp()
    doc["implementation"]["container"]["command"].append({"inputValue": "nope"})
    path = write(tmp_path, "bad.yaml", doc)
    with raises_spec("implementation.container.command[17].inputValue", "no input named 'nope'") as info:
        load_component(path)
    assert info.value.source == str(path.resolve())
    with raises_spec("", "not found", "missing.yaml"):
        load_component("missing.yaml", tmp_path)
    write(tmp_path, "list.yaml", "- a\n- b\n")
    with raises_spec("", "must be a mapping", "a list"):
        load_component("list.yaml", tmp_path)
    with raises_spec("", "expected a component file"):
        load_component(42)  # type: ignore[arg-type]
    with raises_spec("", "empty string"):
        load_component("  ")


def test_kfp_component_as_a_pipeline_step(tmp_path: Path) -> None:
    write(tmp_path, "train.yaml", KFP_COMPONENT)
    pipeline = pipeline_from_dict(
        {
            "name": "p",
            "parameters": [{"name": "epochs", "type": "Integer", "default": 3}],
            "steps": [
                {
                    "name": "train",
                    "component": "train.yaml",
                    "arguments": {"Training data": "/data/train.csv", "epochs": "{{params.epochs}}"},
                }
            ],
        },
        tmp_path,
    )
    assert pipeline.steps[0].component.name == "Train model"
    assert pipeline.steps[0].arguments["Training data"] == "/data/train.csv"


def test_kfp_component_as_the_trial_template(tmp_path: Path) -> None:
    comp = {
        "name": "Fit model",
        "inputs": [{"name": "Learning rate", "type": "Float"}, {"name": "data", "type": "Dataset", "optional": True}],
        "implementation": {"container": {"command": ["fit", {"inputValue": "Learning rate"}]}},
    }
    write(tmp_path, "fit.yaml", comp)
    params = [{"name": "learning-rate", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "1"}}]
    spec = experiment_from_dict(experiment_doc({"component": "fit.yaml"}, params), tmp_path)
    pipeline = spec.trial_template.pipeline
    assert pipeline is not None and pipeline.name == "fit-model"
    assert [p.name for p in pipeline.parameters] == ["learning-rate"]  # "Learning rate" as a parameter name
    assert pipeline.steps[0].arguments == {"Learning rate": "{{params.learning-rate}}"}
    assert spec.trial_template.component == "fit.yaml"
    # Inline components work too.
    inline = experiment_from_dict(experiment_doc({"component": comp}, params), tmp_path)
    assert inline.trial_template.component == comp
    assert inline.trial_template.pipeline == pipeline


def test_component_trial_template_errors(tmp_path: Path) -> None:
    with raises_spec("spec.trialTemplate.component", "not found", "nope.yaml"):
        experiment_from_dict(experiment_doc({"component": "nope.yaml"}), tmp_path)
    bad = kfp()
    bad["implementation"]["container"]["command"] = [{"inputValue": "nope"}]
    with raises_spec("spec.trialTemplate.component.implementation.container.command[0].inputValue", "'nope'"):
        experiment_from_dict(experiment_doc({"component": bad}), tmp_path)
    with raises_spec("spec.trialTemplate.component", "expected a string"):
        experiment_from_dict(experiment_doc({"component": 12}), tmp_path)
