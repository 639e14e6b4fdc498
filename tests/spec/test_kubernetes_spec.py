"""Pod settings (``kubernetes:``) on components and steps: parsing, merging, errors, Katib pod templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import SpecError
from workbench.spec import Component, load_experiment, pipeline_from_dict
from workbench.spec._kubernetes import KubernetesSpec, ResourcesSpec

REPO = Path(__file__).resolve().parents[2]
ECHO = {"name": "echo", "implementation": {"container": {"command": ["echo", "hi"]}}}


def pipeline(component_k8s=None, step_k8s=None):
    comp = dict(ECHO, **({"kubernetes": component_k8s} if component_k8s is not None else {}))
    step = {"name": "s", "component": comp, **({"kubernetes": step_k8s} if step_k8s is not None else {})}
    return pipeline_from_dict({"name": "p", "steps": [step]}, REPO)


def test_resources_shorthands_and_explicit_requests():
    r = ResourcesSpec.model_validate({"cpu": 2, "memory": "4Gi", "gpu": 1, "requests": {"cpu": "500m"}})
    assert r.requirements() == {
        "requests": {"cpu": "500m", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert ResourcesSpec().requirements() == {}


def test_step_settings_merge_over_the_components():
    p = pipeline(
        {"resources": {"cpu": "1", "memory": "1Gi"}, "nodeSelector": {"pool": "cpu"}, "labels": {"team": "a"},
         "tolerations": [{"key": "a", "operator": "Exists"}]},
        {"resources": {"memory": "8Gi", "gpu": 1}, "nodeSelector": {"zone": "b"},
         "tolerations": [{"key": "b", "operator": "Exists"}], "retain": True},
    )  # fmt: skip
    settings = p.steps[0].pod_settings()
    assert settings["resources"]["cpu"] == "1" and settings["resources"]["memory"] == "8Gi"
    assert settings["resources"]["gpu"] == 1
    assert settings["nodeSelector"] == {"pool": "cpu", "zone": "b"}
    assert settings["tolerations"] == [{"key": "b", "operator": "Exists"}]  # lists are replaced
    assert settings["labels"] == {"team": "a"} and settings["retain"] is True


def test_no_settings_means_an_empty_mapping_and_the_same_digest():
    plain = Component.model_validate(ECHO)
    assert pipeline().steps[0].pod_settings() == {}
    with_k8s = Component.model_validate(dict(ECHO, kubernetes={"resources": {"cpu": "1"}}))
    assert plain.digest() != with_k8s.digest()
    assert "kubernetes" not in plain.to_dict()
    # The digest of a component without pod settings is what it was before they existed.
    import hashlib
    import json

    data = plain.model_dump(mode="json", by_alias=True)
    data.pop("kubernetes")
    assert plain.digest() == hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize(
    "settings, path, words",
    [
        ({"resources": {"cpu": "lots"}}, "steps[0].kubernetes.resources.cpu", "not a Kubernetes quantity"),
        ({"resources": {"limits": {"memory": "1 GB"}}}, "steps[0].kubernetes.resources.limits.memory", "quantity"),
        ({"resources": {"gpu": -1}}, "steps[0].kubernetes.resources.gpu", "greater than or equal to 0"),
        ({"nodeSelectr": {}}, "steps[0].kubernetes.nodeSelectr", "did you mean 'nodeSelector'"),
        ({"tolerations": [{"key": "a", "operator": "Maybe"}]}, "steps[0].kubernetes.tolerations[0].operator",
         "Equal or Exists"),
        ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, "steps[0].kubernetes.tolerations[0].efect",
         "unknown toleration field"),
        ({"affinity": {"nodeAfinity": {}}}, "steps[0].kubernetes.affinity.nodeAfinity", "unknown affinity field"),
        ({"securityContext": {"privileged": True, "runAsUsr": 0}}, "steps[0].kubernetes.securityContext.runAsUsr",
         "unknown container securityContext field"),
        ({"serviceAccountName": "Bad_Name"}, "steps[0].kubernetes.serviceAccountName", "not a valid Kubernetes name"),
        ({"labels": {"team": "a b"}}, "steps[0].kubernetes.labels.team", "not a valid label value"),
        ({"imagePullPolicy": "Sometimes"}, "steps[0].kubernetes.imagePullPolicy", "Always"),
    ],
)
def test_bad_settings_are_errors_naming_the_field(settings, path, words):
    with pytest.raises(SpecError) as info:
        pipeline(step_k8s=settings)
    assert info.value.path == path, info.value
    assert words in str(info.value)


def test_image_pull_secrets_take_either_form():
    spec = KubernetesSpec.model_validate({"imagePullSecrets": ["a", {"name": "b"}]})
    assert spec.image_pull_secrets == ["a", "b"]


def test_katib_trial_spec_becomes_the_pod_template():
    spec = load_experiment(REPO / "examples" / "katib-random.yaml")
    settings = spec.trial_template.pipeline.steps[0].pod_settings()
    assert settings["primaryContainer"] == "training-container"
    container = settings["podTemplate"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"}}
    assert "${trialParameters.learningRate}" in " ".join(container["command"])


def test_settings_survive_the_stored_document():
    from workbench.spec import experiment_from_dict, experiment_to_document

    spec = load_experiment(REPO / "examples" / "katib-random.yaml")
    again = experiment_from_dict(experiment_to_document(spec))
    assert again.trial_template.pipeline == spec.trial_template.pipeline
