"""Loading Workbench documents: templates, Python components, bindings, names, documents, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from spec_helpers import (
    KATIB_POD_FILE_JSON,
    KATIB_RANDOM,
    STEPS_PY,
    echo_component,
    experiment_doc,
    load,
    pipeline_doc,
    raises_spec,
    write,
)

from workbench.spec import (
    API_VERSION,
    ExperimentSpec,
    experiment_from_dict,
    experiment_to_document,
    list_templates,
    load_experiment,
    trial_bindings,
)

TEMPLATE_PIPELINE = {
    "apiVersion": "workbench.io/v1alpha1",
    "kind": "Pipeline",
    "metadata": {"name": "fit"},
    "spec": {
        "parameters": [
            {"name": "lr", "type": "Float"},
            {"name": "penalty", "type": "String", "default": "l2"},
            {"name": "rows", "type": "Integer"},
        ],
        "steps": [
            {"name": "data", "component": "steps.py:make_data", "arguments": {"rows": "{{params.rows}}"}},
            {
                "name": "train",
                "component": "steps.py:train",
                "arguments": {
                    "data": "{{steps.data.outputs.data}}",
                    "lr": "{{params.lr}}",
                    "penalty": "{{params.penalty}}",
                },
                "retry": 2,
                "timeout": "5m",
            },
        ],
    },
}

LR = {
    "name": "lr",
    "parameterType": "double",
    "feasibleSpace": {"min": "0.001", "max": "0.1", "distribution": "logUniform"},
}
PENALTY = {"name": "penalty", "parameterType": "categorical", "feasibleSpace": {"list": ["l1", "l2"]}}


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A template catalog with one template, ``fit-template``, found through $WORKBENCH_TEMPLATES."""
    root = tmp_path / "catalog"
    write(root / "fit-template", "pipeline.yaml", TEMPLATE_PIPELINE)
    write(root / "fit-template", "steps.py", STEPS_PY)
    (root / "not-a-template").mkdir()
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(root))
    return root


def template_experiment(**arguments: Any) -> dict[str, Any]:
    return experiment_doc({"template": "fit-template", "arguments": {"rows": 100, **arguments}}, [LR, PENALTY])


# --------------------------------------------------------------------------- valid documents


def test_template_experiment(catalog: Path, tmp_path: Path) -> None:
    assert list_templates()["fit-template"] == (catalog / "fit-template" / "pipeline.yaml").resolve()
    assert "not-a-template" not in list_templates()
    path = write(tmp_path / "exp", "experiment.yaml", template_experiment())
    spec = load_experiment(path)
    pipeline = spec.trial_template.pipeline
    assert pipeline is not None and pipeline.name == "fit"
    assert pipeline.base_dir == str((catalog / "fit-template").resolve())
    assert pipeline.step("train").retry.limit == 2 and pipeline.step("train").timeout == 300.0
    assert trial_bindings(spec) == {"lr": "lr", "penalty": "penalty"}
    assert spec.trial_template.arguments == {"rows": 100}


def test_template_by_path_and_pipeline_file(catalog: Path, tmp_path: Path) -> None:
    doc = experiment_doc({"template": str(catalog / "fit-template"), "arguments": {"rows": 1}}, [LR])
    assert experiment_from_dict(doc, tmp_path).trial_template.pipeline.name == "fit"  # type: ignore[union-attr]
    doc = experiment_doc({"pipeline": "catalog/fit-template/pipeline.yaml", "arguments": {"rows": 1}}, [LR])
    spec = experiment_from_dict(doc, tmp_path)
    assert spec.trial_template.pipeline is not None and spec.trial_template.pipeline.name == "fit"


def test_python_component_experiment(tmp_path: Path) -> None:
    write(tmp_path, "steps.py", STEPS_PY)
    doc = experiment_doc({"component": "steps.py:objective", "arguments": {"note": "hi"}}, [LR, PENALTY])
    spec = experiment_from_dict(doc, tmp_path)
    pipeline = spec.trial_template.pipeline
    assert pipeline is not None and pipeline.name == "objective"
    assert [p.name for p in pipeline.parameters] == ["lr", "penalty", "note"]
    assert pipeline.steps[0].arguments == {
        "lr": "{{params.lr}}",
        "penalty": "{{params.penalty}}",
        "note": "{{params.note}}",
    }
    assert pipeline.steps[0].component.implementation.python.function == "objective"  # type: ignore[union-attr]
    # A component needing an input artifact cannot be a trial on its own.
    doc = experiment_doc({"component": "steps.py:train"}, [LR, PENALTY])
    with raises_spec("spec.trialTemplate.component", "needs the input artifact 'data'"):
        experiment_from_dict(doc, tmp_path)


def test_inline_pipeline_experiment_with_workbench_extras() -> None:
    pipeline = pipeline_doc()
    doc = experiment_doc({"pipeline": pipeline, "arguments": {"deploy": True}})
    doc["spec"]["objective"] = {
        "objectives": [{"metricName": "loss", "type": "minimize"}, {"metricName": "latency", "type": "minimize"}]
    }
    doc["spec"]["warmStart"] = {"enqueue": [{"lr": 0.01}], "csv": "known.csv"}
    spec = experiment_from_dict(doc)
    assert spec.objective.is_multi and spec.objective.directions == ["minimize", "minimize"]
    assert spec.warm_start is not None and spec.warm_start.enqueue == [{"lr": 0.01}]
    assert spec.trial_template.pipeline is not None and spec.trial_template.pipeline.name == "train-eval"


def test_bare_spec_without_document_wrapper() -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})["spec"]
    doc["name"] = "bare"
    doc["namespace"] = "team-a"
    spec = experiment_from_dict(doc)
    assert (spec.name, spec.namespace) == ("bare", "team-a")
    del doc["name"]
    with raises_spec("name", "required field is missing"):
        experiment_from_dict(doc)


# --------------------------------------------------------------------------- bindings


def test_search_parameter_not_used_by_the_pipeline() -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()}, [LR, PENALTY])
    with raises_spec("spec.parameters[1]", "'penalty' is not used by the trial template", "['deploy', 'lr', 'tag']"):
        experiment_from_dict(doc)


def test_required_pipeline_parameter_left_unbound(catalog: Path) -> None:
    doc = experiment_doc({"template": "fit-template"}, [LR])
    with raises_spec("spec.trialTemplate", "pipeline parameter 'rows' has no default and no value"):
        experiment_from_dict(doc)


def test_argument_for_unknown_or_already_bound_parameter(catalog: Path) -> None:
    with raises_spec("spec.trialTemplate.arguments.epochs", "has no parameter 'epochs'", "['lr', 'penalty', 'rows']"):
        experiment_from_dict(template_experiment(epochs=3))
    with raises_spec("spec.trialTemplate.arguments.lr", "already set by the search parameter 'lr'"):
        experiment_from_dict(template_experiment(lr=0.1))


def test_trial_parameters_with_a_workbench_pipeline(catalog: Path) -> None:
    doc = template_experiment()
    doc["spec"]["parameters"] = [dict(LR, name="learning-rate")]
    doc["spec"]["trialTemplate"]["trialParameters"] = [{"name": "lr", "reference": "learning-rate"}]
    assert trial_bindings(experiment_from_dict(doc)) == {"lr": "learning-rate"}
    doc["spec"]["trialTemplate"]["trialParameters"].append({"name": "epochs", "reference": "learning-rate"})
    with raises_spec("spec.trialTemplate.trialParameters[1].name", "'epochs' is not a parameter of pipeline 'fit'"):
        experiment_from_dict(doc)


def test_unknown_template_lists_known_templates(catalog: Path) -> None:
    doc = experiment_doc({"template": "fit-templat"})
    with raises_spec("spec.trialTemplate.template", "no trial template 'fit-templat'", "'fit-template'") as info:
        experiment_from_dict(doc)
    assert "known templates: [" in info.value.message


def test_template_errors_name_the_template_file(catalog: Path) -> None:
    broken = json.loads(json.dumps(TEMPLATE_PIPELINE))
    broken["spec"]["steps"][1]["arguments"]["lr"] = "{{params.learning_rate}}"
    write(catalog / "fit-template", "pipeline.yaml", broken)
    with raises_spec("spec.steps[1].arguments.lr", "names no pipeline parameter") as info:
        experiment_from_dict(template_experiment())
    assert info.value.source == str((catalog / "fit-template" / "pipeline.yaml").resolve())


def test_missing_pipeline_file(tmp_path: Path) -> None:
    with raises_spec("spec.trialTemplate.pipeline", "pipeline file", "not found"):
        experiment_from_dict(experiment_doc({"pipeline": "nope.yaml"}), tmp_path)
    with raises_spec("spec.trialTemplate.pipeline", "expected a pipeline file or an inline pipeline"):
        experiment_from_dict(experiment_doc({"pipeline": 3}), tmp_path)


def test_two_trial_template_forms(catalog: Path) -> None:
    doc = experiment_doc({"template": "fit-template", "pipeline": pipeline_doc()})
    with raises_spec("spec.trialTemplate", "exactly one of", "'pipeline', 'template'"):
        experiment_from_dict(doc)


def test_inline_pipeline_errors_have_full_paths() -> None:
    pipeline = pipeline_doc()
    pipeline["spec"]["steps"][2]["arguments"]["note"] = "{{params.nope}}"
    with raises_spec("spec.trialTemplate.pipeline.spec.steps[2].arguments.note", "{{params.nope}}"):
        experiment_from_dict(experiment_doc({"pipeline": pipeline}))
    bare = pipeline["spec"] | {"name": "p"}
    with raises_spec("spec.trialTemplate.pipeline.steps[2].arguments.note", "{{params.nope}}"):
        experiment_from_dict(experiment_doc({"pipeline": bare}))


# --------------------------------------------------------------------------- documents and names


@pytest.mark.parametrize(
    ("change", "path", "fragments"),
    [
        ({"kind": "Trial"}, "kind", ("expected kind 'Experiment', got 'Trial'",)),
        ({"kind": None}, "kind", ("required field is missing",)),
        ({"apiVersion": "kubeflow.org/v1alpha3"}, "apiVersion", ("unsupported apiVersion", "kubeflow.org/v1beta1")),
        ({"apiVersion": None}, "apiVersion", ("required field is missing",)),
        ({"apiVersion": ["x"]}, "apiVersion", ("unsupported apiVersion",)),
        ({"spec": None}, "spec", ("required field is missing",)),
        ({"spec": "x"}, "spec", ("expected a mapping", "a string")),
        ({"specs": {}}, "specs", ("unknown field", "apiVersion, kind, metadata and spec")),
        ({"metadata": {"name": 12}}, "metadata.name", ("expected a string experiment name",)),
        ({"metadata": {"name": "exp", "namespace": "a b"}}, "metadata.namespace", ("invalid namespace",)),
    ],
)
def test_bad_documents(change: dict[str, Any], path: str, fragments: tuple[str, ...]) -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})
    for key, value in change.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    with raises_spec(path, *fragments):
        experiment_from_dict(doc)


@pytest.mark.parametrize("name", ["a/b", "../etc", "a..b", "..", "with space", "x" * 64, "", "-x", ".hidden", "ü"])
def test_invalid_names(name: str) -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})
    doc["metadata"]["name"] = name
    with raises_spec("metadata.name", "invalid experiment name"):
        experiment_from_dict(doc)
    doc = experiment_doc({"pipeline": pipeline_doc()}, [dict(LR, name=name)])
    with raises_spec("spec.parameters[0].name", "invalid parameter name"):
        experiment_from_dict(doc)


def test_valid_names() -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})
    for name in ("a", "exp-1", "Exp_2.v3", "x" * 63):
        doc["metadata"]["name"] = name
        assert experiment_from_dict(doc).name == name


def test_unknown_fields_are_errors_with_suggestions() -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})
    doc["spec"]["objective"]["objectiveMetric"] = "loss"
    with raises_spec("spec.objective.objectiveMetric", "unknown field", "did you mean 'objectiveMetricName'"):
        experiment_from_dict(doc)
    doc = experiment_doc({"pipeline": pipeline_doc(), "argument": {}})
    with raises_spec("spec.trialTemplate.argument", "did you mean 'arguments'"):
        experiment_from_dict(doc)
    doc = experiment_doc({"pipeline": pipeline_doc()})
    doc["spec"]["zzz"] = 1
    with raises_spec("spec.zzz", "unknown field", "expected one of", "parallelTrialCount"):
        experiment_from_dict(doc)


def test_snake_case_keys_are_accepted_too() -> None:
    doc = experiment_doc({"pipeline": pipeline_doc()})
    doc["spec"]["max_trial_count"] = doc["spec"].pop("maxTrialCount")
    doc["spec"]["trial_template"] = doc["spec"].pop("trialTemplate")
    assert experiment_from_dict(doc).max_trial_count == 5


# --------------------------------------------------------------------------- round trips


def reload(spec: ExperimentSpec) -> ExperimentSpec:
    """Store as JSON (as the controller does in the Optuna study) and load again."""
    doc = experiment_to_document(spec)
    assert doc["apiVersion"] == API_VERSION and doc["kind"] == "Experiment"
    assert doc["metadata"] == {"name": spec.name, "namespace": spec.namespace}
    assert "name" not in doc["spec"] and "namespace" not in doc["spec"]
    return experiment_from_dict(json.loads(json.dumps(doc)), Path("/nonexistent"))


def test_round_trip_katib_job() -> None:
    spec = experiment_from_dict(load(KATIB_RANDOM), Path("."))
    assert reload(spec) == spec


def test_round_trip_katib_pod_with_file_collector() -> None:
    spec = experiment_from_dict(load(KATIB_POD_FILE_JSON), Path("."))
    assert reload(spec) == spec


def test_round_trip_template(catalog: Path) -> None:
    spec = experiment_from_dict(template_experiment())
    again = reload(spec)
    assert again == spec
    assert again.trial_template.template == "fit-template"
    # The stored pipeline is used as is: the experiment resumes even if the catalog changed.
    (catalog / "fit-template" / "pipeline.yaml").unlink()
    assert reload(spec) == spec


def test_round_trip_python_component_and_inline_pipeline(tmp_path: Path) -> None:
    write(tmp_path, "steps.py", STEPS_PY)
    doc = experiment_doc({"component": "steps.py:objective"}, [LR, PENALTY])
    doc["spec"]["earlyStopping"] = {
        "algorithmName": "medianstop",
        "algorithmSettings": [{"name": "start_step", "value": 2}],
    }
    doc["spec"]["warmStart"] = {"enqueue": [{"lr": 0.01, "penalty": "l1"}]}
    spec = experiment_from_dict(doc, tmp_path)
    assert reload(spec) == spec
    multi = experiment_doc({"pipeline": pipeline_doc(), "arguments": {"tag": "v2"}})
    multi["spec"]["objective"] = {
        "objectives": [{"metricName": "loss", "type": "minimize"}, {"metricName": "acc", "type": "maximize"}]
    }
    multi["metadata"]["namespace"] = "team-b"
    spec = experiment_from_dict(multi)
    assert reload(spec) == spec and reload(spec).namespace == "team-b"


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    spec = experiment_from_dict(load(KATIB_RANDOM), tmp_path)
    path = write(tmp_path, "stored.yaml", yaml.safe_dump(experiment_to_document(spec)))
    assert load_experiment(path) == spec


def test_document_of_a_python_built_spec_reloads() -> None:
    spec = experiment_from_dict(experiment_doc({"pipeline": pipeline_doc()}))
    rebuilt = ExperimentSpec.model_validate(spec.model_dump())
    assert rebuilt == spec
    assert reload(rebuilt) == spec


def test_resolved_pipeline_alone_is_not_enough_to_mix_forms(catalog: Path) -> None:
    pipeline = {
        "name": "p",
        "steps": [{"name": "s", "component": echo_component(["lr"]), "arguments": {"lr": "{{params.lr}}"}}],
        "parameters": [{"name": "lr"}],
    }
    ok = experiment_doc({"template": "fit-template", "pipeline": {**pipeline, "baseDir": "/x"}}, [LR])
    assert experiment_from_dict(ok).trial_template.pipeline.base_dir == "/x"  # type: ignore[union-attr]
