"""Katib kubeflow.org/v1beta1 Experiment YAML: valid documents load unchanged, bad ones name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_helpers import KATIB_POD_FILE_JSON, KATIB_RANDOM, load, raises_spec, write

from workbench.spec import (
    DEFAULT_METRICS_FORMAT,
    ExperimentSpec,
    ParameterSpec,
    experiment_from_dict,
    load_experiment,
    trial_bindings,
)


def katib(text: str = KATIB_RANDOM) -> dict[str, Any]:
    return load(text)


def from_doc(doc: dict[str, Any], tmp_path: Path | None = None) -> ExperimentSpec:
    return experiment_from_dict(doc, tmp_path or Path("."))


def container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]


# --------------------------------------------------------------------------- valid documents


def test_random_example_with_job_trial_spec(tmp_path: Path) -> None:
    path = write(tmp_path, "random.yaml", KATIB_RANDOM)
    spec = load_experiment(path)
    assert spec.name == "random" and spec.namespace == "kubeflow"
    assert spec.objective.type == "maximize" and spec.objective.goal == 0.99
    assert spec.objective.objective_metric_name == "Validation-accuracy"
    assert spec.metric_names == ["Validation-accuracy", "Train-accuracy"]
    assert spec.objective.strategy("Validation-accuracy") == "max"  # Katib: follows the objective type
    assert spec.objective.strategy("Train-accuracy") == "latest"
    assert spec.algorithm.algorithm_name == "random" and spec.algorithm.settings() == {}
    assert (spec.parallel_trial_count, spec.max_trial_count, spec.max_failed_trial_count) == (3, 12, 3)
    lr, layers, opt = spec.parameters
    assert (lr.parameter_type, lr.feasible_space.min, lr.feasible_space.max) == ("double", 0.01, 0.03)
    assert (layers.feasible_space.min, layers.feasible_space.max) == (2, 5)
    assert opt.feasible_space.choices == ["sgd", "adam", "ftrl"]
    assert spec.metrics_collector_spec.collector.kind == "StdOut"
    assert spec.metrics_collector_spec.metrics_formats == [DEFAULT_METRICS_FORMAT]
    # The trial is a one-step pipeline running the primary container's command.
    pipeline = spec.trial_template.pipeline
    assert pipeline is not None and pipeline.base_dir == str(tmp_path.resolve())
    assert [p.name for p in pipeline.parameters] == ["learningRate", "numberLayers", "optimizer"]
    (step,) = pipeline.steps
    assert step.name == "training-container"
    assert step.arguments == {
        "learningRate": "{{params.learningRate}}",
        "numberLayers": "{{params.numberLayers}}",
        "optimizer": "{{params.optimizer}}",
    }
    impl = step.component.implementation.container
    assert impl is not None and impl.image == "docker.io/kubeflowkatib/mxnet-mnist:latest"
    assert impl.command[:3] == ["python3", "/opt/mxnet-mnist/mnist.py", "--batch-size=64"]
    assert impl.command[3] == {"concat": ["--lr=", {"inputValue": "learningRate"}]}
    assert trial_bindings(spec) == {"learningRate": "lr", "numberLayers": "num-layers", "optimizer": "optimizer"}
    # The Kubernetes manifest is kept for the cluster backend.
    assert spec.trial_template.trial_spec is not None and spec.trial_template.trial_spec["kind"] == "Job"
    assert spec.trial_template.primary_container_name == "training-container"


def test_pod_trial_spec_with_file_json_collector() -> None:
    spec = from_doc(katib(KATIB_POD_FILE_JSON))
    mc = spec.metrics_collector_spec
    assert mc.collector.kind == "File"
    assert mc.source is not None and mc.source.file_system_path is not None
    assert (mc.source.file_system_path.path, mc.source.file_system_path.format) == ("/var/log/metrics.json", "JSON")
    assert spec.parallel_trial_count == 3 and spec.max_trial_count == 4
    assert spec.algorithm.settings() == {"random_state": "7"}  # Katib values are strings
    assert spec.early_stopping is not None and spec.early_stopping.settings() == {"min_trials_required": "2"}
    assert spec.parameters[0].feasible_space.distribution == "logUniform"
    assert spec.parameters[1].feasible_space.choices == ["16", "32", "64"]
    assert spec.objective.strategy("loss") == "latest"
    (step,) = spec.trial_template.pipeline.steps  # type: ignore[union-attr]
    impl = step.component.implementation.container
    assert step.name == "main"  # primaryContainerName picks the second container
    assert impl is not None and impl.command == ["sh", "-c"] and impl.working_dir == "/work"
    assert impl.env == {"MODE": "fast"}  # valueFrom is for Kubernetes only
    assert impl.args[0]["concat"][1] == {"inputValue": "x"}
    assert trial_bindings(spec)["trialName"] == "${trialSpec.Name}"


def test_file_collector_text_and_custom_metrics_format() -> None:
    doc = katib()
    regex = r"(\w+)\s*:\s*([+-]?\d+(?:\.\d+)?)"
    doc["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "File"},
        "source": {
            "fileSystemPath": {"path": "/tmp/out.log", "kind": "File", "format": "TEXT"},
            "filter": {"metricsFormat": [regex]},
        },
    }
    spec = from_doc(doc)
    assert spec.metrics_collector_spec.metrics_formats == [regex]


def test_stdout_with_custom_metrics_format() -> None:
    doc = katib()
    doc["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "StdOut"},
        "source": {"filter": {"metricsFormat": ["([\\w|-]+)\\s*:\\s*((-?\\d+)(\\.\\d+)?)"]}},
    }
    spec = from_doc(doc)
    assert spec.metrics_collector_spec.metrics_formats == ["([\\w|-]+)\\s*:\\s*((-?\\d+)(\\.\\d+)?)"]


def test_push_and_none_collectors_load() -> None:
    for kind in ("Push", "None"):
        doc = katib()
        doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": kind}}
        assert from_doc(doc).metrics_collector_spec.collector.kind == kind


def test_unknown_algorithm_name_is_left_to_the_search_layer() -> None:
    doc = katib()
    doc["spec"]["algorithm"] = {
        "algorithmName": "no-such-algorithm",
        "algorithmSettings": [{"name": "x", "value": 1.5}],
    }
    spec = from_doc(doc)
    assert spec.algorithm.algorithm_name == "no-such-algorithm"
    assert spec.algorithm.settings() == {"x": "1.5"}


def test_numbers_may_be_numbers_or_strings_and_parallelism_is_clamped() -> None:
    doc = katib()
    doc["spec"]["parameters"][0]["feasibleSpace"] = {"min": 0.01, "max": "3e-2", "step": "0.005"}
    doc["spec"]["parameters"][1]["feasibleSpace"] = {"min": 2, "max": "5.0"}
    doc["spec"]["maxTrialCount"] = 2
    doc["spec"]["maxFailedTrialCount"] = 0
    spec = from_doc(doc)
    assert spec.parameters[0].feasible_space.max == pytest.approx(0.03)
    assert spec.parameters[0].feasible_space.step == 0.005
    assert spec.parallel_trial_count == 2


def test_resume_policy_and_trial_template_extras() -> None:
    doc = katib()
    doc["spec"]["resumePolicy"] = "Never"
    tt = doc["spec"]["trialTemplate"]
    tt.update(
        successCondition="status.succeeded",
        failureCondition="status.failed",
        retain=True,
        primaryPodLabels={"training.kubeflow.org/job-role": "master"},
    )
    spec = from_doc(doc)
    assert spec.resume_policy == "Never" and spec.trial_template.retain is True


# --------------------------------------------------------------------------- feasible spaces


@pytest.mark.parametrize(
    ("index", "space", "path", "fragments"),
    [
        (0, {"min": "0.5", "max": "0.1"}, "spec.parameters[0].feasibleSpace.min", ("0.5", "greater than max (0.1)")),
        (0, {"max": "0.1"}, "spec.parameters[0].feasibleSpace.min", ("needs min and max",)),
        (0, {"min": "x", "max": "1"}, "spec.parameters[0].feasibleSpace.min", ("expected a number", "'x'")),
        (0, {"min": ".nan", "max": "1"}, "spec.parameters[0].feasibleSpace.min", ("finite",)),
        (0, {"min": 10**400, "max": "1"}, "spec.parameters[0].feasibleSpace.min", ("too large",)),
        (0, {"min": [1], "max": "1"}, "spec.parameters[0].feasibleSpace.min", ("expected a number",)),
        (0, {"min": "0", "max": "1", "step": "0"}, "spec.parameters[0].feasibleSpace.step", ("positive",)),
        (
            0,
            {"min": "0", "max": "1", "distribution": "logUniform"},
            "spec.parameters[0].feasibleSpace.min",
            ("logUniform", "min > 0"),
        ),
        (
            0,
            {"min": "-1", "max": "1", "distribution": "logUniform"},
            "spec.parameters[0].feasibleSpace.min",
            ("logUniform",),
        ),
        (
            0,
            {"min": "0.1", "max": "1", "distribution": "normal"},
            "spec.parameters[0].feasibleSpace.distribution",
            ("'normal' is not supported", "Optuna", "uniform", "logUniform"),
        ),
        (
            0,
            {"min": "0.1", "max": "1", "distribution": "logNormal"},
            "spec.parameters[0].feasibleSpace.distribution",
            ("'logNormal' is not supported",),
        ),
        (
            0,
            {"min": "0.1", "max": "1", "distribution": "gaussian"},
            "spec.parameters[0].feasibleSpace.distribution",
            ("uniform",),
        ),
        (0, {"min": "0.1", "max": "1", "list": ["a"]}, "spec.parameters[0].feasibleSpace.list", ("not a list",)),
        (1, {"min": "1.5", "max": "5"}, "spec.parameters[1].feasibleSpace.min", ("whole number",)),
        (1, {"min": "1", "max": "5", "step": "0.5"}, "spec.parameters[1].feasibleSpace.step", ("whole number",)),
        (2, {"list": []}, "spec.parameters[2].feasibleSpace.list", ("non-empty list",)),
        (2, {}, "spec.parameters[2].feasibleSpace.list", ("non-empty list",)),
        (2, {"list": ["a", "b", "a"]}, "spec.parameters[2].feasibleSpace.list[2]", ("duplicate",)),
        (2, {"list": ["a", {"b": 1}]}, "spec.parameters[2].feasibleSpace.list[1]", ("expected a string or a number",)),
        (2, {"list": ["a", None]}, "spec.parameters[2].feasibleSpace.list[1]", ("null",)),
        (2, {"list": ["a"], "min": "1"}, "spec.parameters[2].feasibleSpace.min", ("takes a list",)),
        (
            2,
            {"list": ["a"], "distribution": "uniform"},
            "spec.parameters[2].feasibleSpace.distribution",
            ("takes a list",),
        ),
        (2, {"list": "a,b"}, "spec.parameters[2].feasibleSpace.list", ("expected a list",)),
        (2, {"list": ["a"], "choices": ["b"]}, "spec.parameters[2].feasibleSpace.choices", ("unknown field",)),
    ],
)
def test_bad_feasible_space(index: int, space: dict[str, Any], path: str, fragments: tuple[str, ...]) -> None:
    doc = katib()
    if isinstance(space.get("min"), str) and space["min"] == ".nan":
        space = {**space, "min": float("nan")}
    doc["spec"]["parameters"][index]["feasibleSpace"] = space
    with raises_spec(path, *fragments):
        from_doc(doc)


def test_discrete_needs_numbers() -> None:
    doc = katib()
    doc["spec"]["parameters"][2] = {
        "name": "optimizer",
        "parameterType": "discrete",
        "feasibleSpace": {"list": ["1", "2.5", "adam"]},
    }
    with raises_spec("spec.parameters[2].feasibleSpace.list[2]", "needs numbers", "'adam'"):
        from_doc(doc)
    doc["spec"]["parameters"][2]["feasibleSpace"]["list"] = ["1", ""]
    with raises_spec("spec.parameters[2].feasibleSpace.list[1]", "needs numbers"):
        from_doc(doc)
    doc["spec"]["parameters"][2]["feasibleSpace"]["list"] = ["1", "2.5", 4]
    assert from_doc(doc).parameters[2].feasible_space.choices == ["1", "2.5", "4"]


def test_bad_parameter_entries() -> None:
    doc = katib()
    doc["spec"]["parameters"][1]["parameterType"] = "float"
    with raises_spec("spec.parameters[1].parameterType", "'double'", "'float'"):
        from_doc(doc)
    doc = katib()
    doc["spec"]["parameters"][2]["name"] = "lr"
    with raises_spec("spec.parameters[2].name", "duplicate parameter name 'lr'"):
        from_doc(doc)
    doc = katib()
    doc["spec"]["parameters"] = []
    with raises_spec("spec.parameters", "at least one parameter"):
        from_doc(doc)
    doc = katib()
    del doc["spec"]["parameters"][0]["feasibleSpace"]
    with raises_spec("spec.parameters[0].feasibleSpace", "required field is missing"):
        from_doc(doc)


def test_parameter_spec_model_directly() -> None:
    p = ParameterSpec.model_validate(
        {
            "name": "lr",
            "parameterType": "double",
            "feasibleSpace": {"min": "1e-4", "max": "1", "distribution": "logUniform"},
        }
    )
    assert p.feasible_space.min == 1e-4
    assert p.to_dict() == {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": 1e-4, "max": 1.0, "distribution": "logUniform"},
    }


# --------------------------------------------------------------------------- objective, budget, collector


@pytest.mark.parametrize(
    ("mutate", "path", "fragments"),
    [
        (
            lambda s: s["objective"].pop("objectiveMetricName"),
            "spec.objective.objectiveMetricName",
            ("required field is missing",),
        ),
        (lambda s: s["objective"].update(objectiveMetricName=""), "spec.objective.objectiveMetricName", ("missing",)),
        (lambda s: s["objective"].pop("type"), "spec.objective.type", ("minimize or maximize",)),
        (lambda s: s["objective"].update(type="max"), "spec.objective.type", ("'minimize' or 'maximize'",)),
        (lambda s: s["objective"].update(goal="high"), "spec.objective.goal", ("expected a number",)),
        (
            lambda s: s["objective"].update(additionalMetricNames=["Validation-accuracy"]),
            "spec.objective.additionalMetricNames[0]",
            ("already an objective",),
        ),
        (
            lambda s: s["objective"].update(metricStrategies=[{"name": "a", "value": "avg"}]),
            "spec.objective.metricStrategies[0].value",
            ("'latest'",),
        ),
        (
            lambda s: s["objective"].update(objectives=[{"metricName": "a", "type": "minimize"}]),
            "spec.objective.objectiveMetricName",
            ("either objectives",),
        ),
        (lambda s: s.pop("objective"), "spec.objective", ("required field is missing",)),
        (lambda s: s.update(objective="loss"), "spec.objective", ("expected a mapping",)),
        (lambda s: s["algorithm"].pop("algorithmName"), "spec.algorithm.algorithmName", ("required",)),
        (lambda s: s["algorithm"].update(algorithmName=""), "spec.algorithm.algorithmName", ("empty",)),
        (
            lambda s: s["algorithm"].update(algorithmSettings=[{"name": "a"}]),
            "spec.algorithm.algorithmSettings[0].value",
            ("required",),
        ),
        (
            lambda s: s["algorithm"].update(algorithmSettings={"a": "1"}),
            "spec.algorithm.algorithmSettings",
            ("expected a list",),
        ),
        (lambda s: s.update(parallelTrialCount=0), "spec.parallelTrialCount", ("greater than or equal to 1",)),
        (lambda s: s.update(maxTrialCount="many"), "spec.maxTrialCount", ("whole number", "'many'")),
        (lambda s: s.update(maxTrialCount=1.5), "spec.maxTrialCount", ("whole number",)),
        (lambda s: s.update(maxFailedTrialCount=-1), "spec.maxFailedTrialCount", ("greater than or equal to 0",)),
        (
            lambda s: s.update(maxFailedTrialCount=13),
            "spec.maxFailedTrialCount",
            ("not be greater than maxTrialCount",),
        ),
        (lambda s: s.update(resumePolicy="Sometimes"), "spec.resumePolicy", ("LongRunning",)),
        (
            lambda s: s.update(paralelTrialCount=2),
            "spec.paralelTrialCount",
            ("unknown field", "did you mean 'parallelTrialCount'"),
        ),
        (lambda s: s.update(nasConfig={}), "spec.nasConfig", ("not supported",)),
        (lambda s: s["objective"].update(extra=1), "spec.objective.extra", ("unknown field",)),
        (
            lambda s: s.update(metricsCollectorSpec={"collector": {"kind": "File"}}),
            "spec.metricsCollectorSpec.source.fileSystemPath",
            ("needs source.fileSystemPath.path",),
        ),
        (
            lambda s: s.update(
                metricsCollectorSpec={
                    "collector": {"kind": "File"},
                    "source": {"fileSystemPath": {"path": "/m", "kind": "Directory"}},
                }
            ),
            "spec.metricsCollectorSpec.source.fileSystemPath.kind",
            ("File",),
        ),
        (
            lambda s: s.update(
                metricsCollectorSpec={
                    "collector": {"kind": "File"},
                    "source": {
                        "fileSystemPath": {"path": "/m", "format": "JSON"},
                        "filter": {"metricsFormat": ["(a)(b)"]},
                    },
                }
            ),
            "spec.metricsCollectorSpec.source.filter",
            ("JSON",),
        ),
        (
            lambda s: s.update(
                metricsCollectorSpec={
                    "collector": {"kind": "File"},
                    "source": {"fileSystemPath": {"path": "/m", "format": "CSV"}},
                }
            ),
            "spec.metricsCollectorSpec.source.fileSystemPath.format",
            ("'TEXT' or 'JSON'",),
        ),
        (
            lambda s: s.update(metricsCollectorSpec={"source": {"filter": {"metricsFormat": ["(unclosed"]}}}),
            "spec.metricsCollectorSpec.source.filter.metricsFormat[0]",
            ("not a valid regular expression",),
        ),
        (
            lambda s: s.update(metricsCollectorSpec={"source": {"filter": {"metricsFormat": ["(\\w+)=\\d+"]}}}),
            "spec.metricsCollectorSpec.source.filter.metricsFormat[0]",
            ("two groups",),
        ),
        (
            lambda s: s.update(metricsCollectorSpec={"collector": {"kind": "TensorFlowEvent"}}),
            "spec.metricsCollectorSpec.collector.kind",
            ("not supported", "StdOut"),
        ),
        (
            lambda s: s.update(metricsCollectorSpec={"collector": {"kind": "Sidecar"}}),
            "spec.metricsCollectorSpec.collector.kind",
            ("'StdOut'",),
        ),
    ],
)
def test_bad_experiment_fields(mutate: Any, path: str, fragments: tuple[str, ...]) -> None:
    doc = katib()
    mutate(doc["spec"])
    with raises_spec(path, *fragments):
        from_doc(doc)


# --------------------------------------------------------------------------- trial template


def test_trial_parameter_reference_names_unknown_parameter() -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"][1]["reference"] = "layers"
    with raises_spec("spec.trialTemplate.trialParameters[1].reference", "'layers' names no parameter", "num-layers"):
        from_doc(doc)


def test_trial_parameter_metadata_references_are_allowed() -> None:
    doc = katib()
    tt = doc["spec"]["trialTemplate"]
    tt["trialParameters"].append({"name": "jobName", "reference": "${trialSpec.Name}"})
    tt["trialParameters"].append({"name": "role", "reference": "${trialSpec.Labels[job-role]}"})
    container(doc)["args"] = ["--job=${trialParameters.jobName}", "--role=${trialParameters.role}"]
    assert trial_bindings(from_doc(doc))["role"] == "${trialSpec.Labels[job-role]}"
    tt["trialParameters"][-1]["reference"] = "${trialSpec.Owner}"
    with raises_spec("spec.trialTemplate.trialParameters[4].reference", "'${trialSpec.Owner}' names no parameter"):
        from_doc(doc)


def test_placeholder_used_but_not_declared() -> None:
    doc = katib()
    container(doc)["command"].append("--momentum=${trialParameters.momentum}")
    with raises_spec(
        "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[6]",
        "${trialParameters.momentum} is used but not declared",
    ):
        from_doc(doc)


def test_placeholder_undeclared_anywhere_in_the_manifest() -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialSpec"]["metadata"] = {"labels": {"lr": "${trialParameters.rate}"}}
    with raises_spec("spec.trialTemplate.trialSpec.metadata.labels.lr", "${trialParameters.rate}"):
        from_doc(doc)


def test_declared_trial_parameter_must_be_used() -> None:
    doc = katib()
    container(doc)["command"] = container(doc)["command"][:5]  # drops --optimizer=${trialParameters.optimizer}
    with raises_spec("spec.trialTemplate.trialParameters[2].name", "'optimizer' is not used in trialSpec"):
        from_doc(doc)


def test_search_parameter_not_used_by_the_trial_template() -> None:
    doc = katib()
    doc["spec"]["parameters"].append(
        {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}}
    )
    with raises_spec("spec.parameters[3]", "'momentum' is not used by the trial template"):
        from_doc(doc)


def test_duplicate_trial_parameters() -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"][2]["name"] = "learningRate"
    with raises_spec("spec.trialTemplate.trialParameters[2].name", "duplicate trial parameter 'learningRate'"):
        from_doc(doc)


@pytest.mark.parametrize(
    ("mutate", "path", "fragments"),
    [
        (
            lambda tt: tt.update(primaryContainerName="trainer"),
            "spec.trialTemplate.primaryContainerName",
            ("no container named 'trainer'", "training-container"),
        ),
        (lambda tt: tt["trialSpec"].update(kind="TFJob"), "spec.trialTemplate.trialSpec.kind", ("Job or Pod", "TFJob")),
        (lambda tt: tt["trialSpec"].pop("kind"), "spec.trialTemplate.trialSpec.kind", ("Job or Pod",)),
        (lambda tt: tt["trialSpec"].update(spec=[]), "spec.trialTemplate.trialSpec.spec", ("expected a mapping",)),
        (
            lambda tt: tt["trialSpec"]["spec"].pop("template"),
            "spec.trialTemplate.trialSpec.spec.template",
            ("pod template",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"].update(containers=[]),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers",
            ("non-empty list",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"].update(containers=["main"]),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0]",
            ("a container",),
        ),
        (lambda tt: tt.update(trialSpec="job.yaml"), "spec.trialTemplate.trialSpec", ("expected a mapping",)),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0].update(command="python x"),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command",
            ("expected a list of strings",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"].append({"a": 1}),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[6]",
            ("expected a string",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0].pop("command"),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0]",
            ("no command or args",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0].update(env=["A=1"]),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].env[0]",
            ("{name: NAME, value: VALUE}",),
        ),
        (
            lambda tt: tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0].update(
                env=[{"name": "LR", "value": "${trialParameters.learningRate}"}]
            ),
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].env[0].value",
            ("command or args",),
        ),
        (
            lambda tt: tt.update(
                configMap={"configMapName": "t", "configMapNamespace": "k", "templatePath": "p"}, trialSpec=None
            ),
            "spec.trialTemplate.configMap",
            ("ConfigMap need a cluster",),
        ),
        (lambda tt: tt.update(template="x"), "spec.trialTemplate", ("exactly one of", "template", "trialSpec")),
        (lambda tt: tt.pop("trialSpec"), "spec.trialTemplate", ("exactly one of", "none")),
        (
            lambda tt: tt["trialParameters"][0].update(name="learning rate"),
            "spec.trialTemplate.trialParameters[0].name",
            ("invalid trial parameter name",),
        ),
        (
            lambda tt: tt["trialParameters"][0].update(name="${x}"),
            "spec.trialTemplate.trialParameters[0].name",
            ("invalid",),
        ),
        (
            lambda tt: tt.update(trialParameters={"lr": "lr"}),
            "spec.trialTemplate.trialParameters",
            ("expected a list",),
        ),
        (
            lambda tt: tt.update(primaryPodLabels={"a": ["b"]}),
            "spec.trialTemplate.primaryPodLabels.a",
            ("expected a string",),
        ),
    ],
)
def test_bad_trial_template(mutate: Any, path: str, fragments: tuple[str, ...]) -> None:
    doc = katib()
    mutate(doc["spec"]["trialTemplate"])
    with raises_spec(path, *fragments):
        from_doc(doc)


def test_missing_trial_template() -> None:
    doc = katib()
    del doc["spec"]["trialTemplate"]
    with raises_spec("spec.trialTemplate", "required field is missing"):
        from_doc(doc)
    doc["spec"]["trialTemplate"] = ["x"]
    with raises_spec("spec.trialTemplate", "expected a mapping"):
        from_doc(doc)


def test_katib_document_errors_name_the_file(tmp_path: Path) -> None:
    doc = katib()
    doc["spec"]["parameters"][0]["feasibleSpace"]["min"] = "0.5"
    path = write(tmp_path, "bad.yaml", doc)
    with raises_spec("spec.parameters[0].feasibleSpace.min") as info:
        load_experiment(path)
    assert info.value.source == str(path.resolve())
    assert str(info.value).startswith(f"{path.resolve()}: spec.parameters[0].feasibleSpace.min: ")


def test_metadata_name_rules() -> None:
    doc = katib()
    del doc["metadata"]["name"]
    with raises_spec("metadata.name", "required field is missing"):
        from_doc(doc)
    doc["metadata"] = {"name": "random", "labels": {"team": "ml"}, "annotations": {"a": "b"}}
    assert from_doc(doc).namespace == "default"
    doc["metadata"] = ["random"]
    with raises_spec("metadata", "expected a mapping"):
        from_doc(doc)
