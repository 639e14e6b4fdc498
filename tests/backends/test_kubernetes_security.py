"""Every pod Workbench generates runs non-root under the "restricted" Pod Security Standard.

Step pods (every example experiment, with the shared volume and with an object store), the
controller Job of ``workbench submit``, the CronJob of ``workbench schedule create --backend
kubernetes`` and every workload of the deployment (generated and in ``deploy/k8s/base``).
Only a step that asks for it explicitly is loosened.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from k8s_helpers import EXAMPLES, launch, pod_specs, restricted_violations, step_launches

from workbench.backends._k8s_manifests import controller_objects, deployment_manifests
from workbench.backends.kubernetes import KubernetesSettings, pod_manifest
from workbench.schedule import Trigger
from workbench.schedule._cronjob import cronjob_objects
from workbench.spec import experiment_to_document, load_experiment, pipeline_to_document

REPO = Path(__file__).resolve().parents[2]
SHARED = KubernetesSettings(mount_path="/workbench")
OBJECT_STORE = KubernetesSettings(mount_path="/workbench", artifact_store="s3://workbench-artifacts/team",
                                  artifact_store_secret="s3-creds", artifact_root="/workbench/artifacts")  # fmt: skip


def generated_manifests() -> list[tuple[str, dict]]:
    """(where, manifest) for every manifest with pods that Workbench writes."""
    out: list[tuple[str, dict]] = []
    for example in EXAMPLES:
        for settings, how in ((SHARED, "shared volume"), (OBJECT_STORE, "object store")):
            for step in step_launches(example):
                out.append((f"{example.name} step {step.step} ({how})", pod_manifest(step, settings)))
    spec = load_experiment(REPO / "examples" / "kfp" / "experiment.yaml")
    for secret in ("", "s3-creds"):
        for obj in controller_objects(experiment_to_document(spec), spec.name, "ml", "wb:1", store_secret=secret):
            out.append((f"workbench submit {obj['kind']}", obj))
    pipeline = pipeline_to_document(spec.trial_template.pipeline)
    for obj in cronjob_objects("nightly", pipeline, Trigger.parse(cron="0 2 * * *"), "ml", "wb:1"):
        out.append((f"workbench schedule {obj['kind']}", obj))
    for obj in deployment_manifests("ml", "wb:1", "nfs"):
        out.append((f"workbench k8s manifests {obj['kind']}/{obj['metadata']['name']}", obj))
    for path in sorted((REPO / "deploy" / "k8s" / "base").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                name = (doc.get("metadata") or {}).get("name", "")  # the Kustomization has none
                out.append((f"deploy/k8s/base/{path.name} {doc['kind']}/{name}", doc))
    return out


def test_every_pod_workbench_generates_is_restricted():
    checked: dict[str, int] = {}
    problems: list[str] = []
    for where, manifest in generated_manifests():
        for spec in pod_specs(manifest):
            checked[manifest["kind"]] = checked.get(manifest["kind"], 0) + 1
            problems += restricted_violations(spec, where)
    assert not problems, "\n".join(problems)
    # Every kind of pod Workbench writes was looked at: step pods, the controller Job, the CronJob, the stores.
    assert set(checked) == {"Pod", "Job", "CronJob", "Deployment", "StatefulSet"}, checked
    assert checked["Pod"] >= 2 * len(EXAMPLES)


def test_only_an_explicit_setting_loosens_a_step_pod():
    loose = launch(["python3", "-c", "print(1)"], Path("/workbench/runs/r/step"),
                   kubernetes={"securityContext": {"runAsNonRoot": False, "runAsUser": 0}})  # fmt: skip
    problems = restricted_violations(pod_manifest(loose, SHARED)["spec"], "loose")
    assert problems == ["loose: container main: runAsNonRoot is not true", "loose: container main: runAsUser is 0"]
    escalated = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    template = {"podTemplate": {"spec": {
        "hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "main", "securityContext": escalated}],
    }}}  # fmt: skip
    problems = restricted_violations(pod_manifest(launch(["true"], Path("/tmp"), kubernetes=template), SHARED)["spec"])
    assert problems == [
        "pod: hostNetwork is set", "pod: volume h is ['hostPath']", "pod: container main: privileged",
        "pod: container main: capabilities add ['SYS_ADMIN']",
    ]  # what the template asks for stays; everything it leaves out is restricted


def test_the_namespace_warns_and_audits_against_the_restricted_standard():
    namespace = next(o for o in deployment_manifests() if o["kind"] == "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    # Enforced at baseline only: a step may ask to run as root (explicitly, see above).
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
