"""Manifests: every pod the backend builds and every object in deploy/ is valid against the Kubernetes OpenAPI
schema (``kubernetes-validate``, strict mode); ``workbench k8s manifests``, ``submit``, ``logs`` and ``status``."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import EXAMPLES, launch, step_launches, validate, wait_for
from typer.testing import CliRunner

from workbench.backends._k8s_manifests import (
    BASE_FILES,
    STORES_SECRET,
    controller_objects,
    deployment_manifests,
)
from workbench.backends._k8s_pod import LABEL_COMPONENT, LABEL_EXPERIMENT
from workbench.backends.kubernetes import KubernetesSettings, pod_manifest
from workbench.cli import app
from workbench.testing.k8s_server import FakeCluster

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


# ------------------------------------------------------------------------------------------ pods


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_pods_of_every_example_are_valid(example):
    settings = KubernetesSettings(mount_path="/workbench")
    for step in step_launches(example):
        pod = pod_manifest(step, settings)
        validate(pod)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_pods_with_every_setting_are_valid():
    full = {
        "image": "registry.example.com/train:1", "imagePullPolicy": "IfNotPresent",
        "resources": {"cpu": "2", "memory": "4Gi", "gpu": 2, "requests": {"ephemeral-storage": "1Gi"}},
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10,
                     "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                         "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
        "serviceAccountName": "trainer", "imagePullSecrets": ["regcred"], "priorityClassName": "batch",
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "readOnlyRootFilesystem": True},
        "podSecurityContext": {"fsGroup": 2000}, "labels": {"team": "a"}, "annotations": {"note": "x"},
        "retain": True,
    }  # fmt: skip
    odd = launch(["echo", "$(HOME)"], Path("/tmp"), step="Step_With.Odd-Name" * 4, experiment="My_Exp." * 10,
                 kubernetes=full, timeout=12.5, attempt=3, trial=12345)  # fmt: skip
    settings = KubernetesSettings(mount_path="/tmp", env_from_secrets=["s3-creds"],
                                  default_resources={"requests": {"cpu": "100m"}})  # fmt: skip
    pod = pod_manifest(odd, settings)
    validate(pod)
    assert len(pod["metadata"]["name"]) <= 63
    assert all(len(v) <= 63 for v in pod["metadata"]["labels"].values())
    assert pod["spec"]["containers"][0]["command"] == ["echo", "$$(HOME)"]


# ------------------------------------------------------------------------------------------ deploy/


def test_every_manifest_in_deploy_is_valid():
    files = sorted((DEPLOY / "base").glob("*.yaml"))
    assert files
    for path in files:
        for doc in documents(path.read_text()):
            if doc.get("kind") != "Kustomization":
                validate(doc)


def test_the_kustomize_base_is_what_the_generator_writes(tmp_path):
    from workbench.backends._k8s_manifests import write_base

    write_base(tmp_path)
    for path in tmp_path.iterdir():
        assert (DEPLOY / "base" / path.name).read_text() == path.read_text(), (
            f"deploy/k8s/base/{path.name} is stale: run python -m workbench.backends._k8s_manifests deploy/k8s/base"
        )
    # stores.env is the user's own (written by `workbench k8s stores-env`, git-ignored), never shipped.
    shipped = sorted(p.name for p in (DEPLOY / "base").iterdir() if p.name != "stores.env")
    assert shipped == sorted(p.name for p in tmp_path.iterdir())


def test_deploy_ships_no_store_passwords():
    """The regression: deploy/k8s/base/stores.env held fixed, usable `change-me` passwords."""
    tracked = subprocess.run(["git", "ls-files", "deploy"], cwd=REPO, capture_output=True, text=True, check=True)
    assert "deploy/k8s/base/stores.env" not in tracked.stdout.split()
    for path in DEPLOY.rglob("*.yaml"):
        text = path.read_text()
        assert "change-me" not in text and "PASSWORD=" not in text, path
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/k8s/base/stores.env"], cwd=REPO)
    assert ignored.returncode == 0, "stores.env must be git-ignored"


def _overlay_copy(tmp_path: Path, overlay: str, stores_env: str | None) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("stores.env"))
    if stores_env is not None:
        (copy / "base" / "stores.env").write_text(stores_env)
    return copy / overlay


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not installed")
@pytest.mark.parametrize("overlay", ["base", "overlays/dev", "overlays/production"])
def test_kustomize_builds_are_valid(overlay, tmp_path):
    env = CliRunner().invoke(app, ["k8s", "stores-env"])
    assert env.exit_code == 0, env.output
    out = subprocess.run([KUBECTL, "kustomize", str(_overlay_copy(tmp_path, overlay, env.stdout))],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    docs = documents(out.stdout)
    for doc in docs:
        validate(doc)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Secret", STORES_SECRET) in kinds and ("StatefulSet", "postgres") in kinds
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert len(namespaces) == 1
    secret = next(d for d in docs if d["kind"] == "Secret")
    password = base64.b64decode(secret["data"]["POSTGRES_PASSWORD"]).decode()
    assert len(password) >= 24 and f"POSTGRES_PASSWORD={password}" in env.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not installed")
def test_kustomize_build_without_stores_env_fails(tmp_path):
    out = subprocess.run([KUBECTL, "kustomize", str(_overlay_copy(tmp_path, "overlays/production", None))],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0 and "stores.env" in out.stderr


def _secret(output: str) -> dict[str, str]:
    return next(d for d in documents(output) if d["kind"] == "Secret")["stringData"]


def test_manifests_generate_store_passwords_or_take_them_from_options(monkeypatch):
    """The regression: `workbench k8s manifests` always emitted `change-me` passwords."""
    runner = CliRunner()
    first, second = (runner.invoke(app, ["k8s", "manifests"]) for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    a, b = _secret(first.stdout), _secret(second.stdout)
    for secret in (a, b):
        assert "change-me" not in " ".join(secret.values())
        assert len(secret["POSTGRES_PASSWORD"]) >= 24 and len(secret["MINIO_ROOT_PASSWORD"]) >= 24
        assert secret["AWS_SECRET_ACCESS_KEY"] == secret["MINIO_ROOT_PASSWORD"]
    assert a["POSTGRES_PASSWORD"] != b["POSTGRES_PASSWORD"] and a["MINIO_ROOT_PASSWORD"] != b["MINIO_ROOT_PASSWORD"]
    assert "generated random store passwords" in first.stderr
    given = runner.invoke(app, ["k8s", "manifests", "--postgres-password", "pg-password-0123",
                                "--minio-password", "minio-password-0123"])  # fmt: skip
    assert given.exit_code == 0, given.output
    secret = _secret(given.stdout)
    assert secret["POSTGRES_PASSWORD"] == "pg-password-0123" and secret["MINIO_ROOT_PASSWORD"] == "minio-password-0123"
    assert "generated" not in given.stderr
    monkeypatch.setenv("WORKBENCH_POSTGRES_PASSWORD", "from-the-env-0123")
    from_env = runner.invoke(app, ["k8s", "manifests"])
    assert _secret(from_env.stdout)["POSTGRES_PASSWORD"] == "from-the-env-0123"


def test_a_password_a_url_cannot_hold_is_refused():
    for bad, fragment in (("short", "at least 12 characters"), ("has@an-at-sign", "'@' is not allowed")):
        result = CliRunner().invoke(app, ["k8s", "manifests", "--postgres-password", bad])
        assert result.exit_code == 2 and fragment in result.output, result.output


def test_the_controller_role_has_only_what_it_needs():
    role = next(o for o in deployment_manifests() if o["kind"] == "Role")
    rules = {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]}
    assert rules == {("pods", ("create", "get", "list", "watch", "delete")), ("pods/log", ("get",))}
    assert all(r["apiGroups"] == [""] for r in role["rules"])


def test_workbench_k8s_manifests_prints_a_valid_deployment():
    result = CliRunner().invoke(app, ["k8s", "manifests", "--namespace", "ml", "--image", "reg.example.com/wb:2",
                                      "--storage-class", "nfs"])  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = documents(result.stdout)
    for doc in docs:
        validate(doc)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"ml"}
    images = {c["image"] for d in docs if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert "reg.example.com/wb:2" in images
    pvc = next(d for d in docs if d["metadata"]["name"] == "workbench-artifacts")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "nfs"
    assert {f for f in BASE_FILES}  # the same objects as deploy/k8s/base


# ------------------------------------------------------------------------------------------ submit


def test_submit_dry_run_is_a_valid_job_and_config_map():
    result = CliRunner().invoke(app, ["submit", str(REPO / "examples" / "kfp" / "experiment.yaml"), "--dry-run",
                                      "-n", "ml", "--image", "reg.example.com/wb:2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    config_map, job = documents(result.output)
    validate(config_map)
    validate(job)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "ml"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "workbench-controller" and pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] > 0  # a dead controller is restarted and resumes
    assert pod["containers"][0]["image"] == "reg.example.com/wb:2"
    experiment = yaml.safe_load(config_map["data"]["experiment.yaml"])
    steps_file = experiment["spec"]["trialTemplate"]["pipeline"]["steps"][0]["component"]["implementation"]
    assert steps_file["python"]["file"].startswith("/workbench/bundles/kfp-svc/root/")
    paths = [i["path"] for i in pod["volumes"][0]["configMap"]["items"]]
    assert f"root{REPO}/examples/kfp/steps.py" in paths and "experiment.yaml" in paths


def test_submit_creates_the_job_and_logs_and_status_follow_it(tmp_path, monkeypatch):
    cluster = FakeCluster(default_workdir=str(tmp_path)).start()
    try:
        monkeypatch.setenv("WORKBENCH_K8S_HOST", cluster.url)
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
        runner = CliRunner()
        result = runner.invoke(app, ["submit", str(REPO / "examples" / "katib-random.yaml")])
        assert result.exit_code == 0, result.output
        (job,) = cluster.objects("jobs", "kubeflow")
        (config_map,) = cluster.objects("configmaps", "kubeflow")
        assert job["metadata"]["labels"][LABEL_EXPERIMENT] == "katib-random"
        assert config_map["metadata"]["name"] == "wb-katib-random-bundle"
        again = runner.invoke(app, ["submit", str(REPO / "examples" / "katib-random.yaml")])
        assert again.exit_code == 1 and "already exists" in again.output

        # The test server stores Jobs without running them: stand in for the Job controller.
        pod_template = job["spec"]["template"]
        cluster.create("pods", "kubeflow", {
            "metadata": {"name": "wb-katib-random-controller-x1", "labels": pod_template["metadata"]["labels"]},
            "spec": {"containers": [{"name": "controller", "image": "workbench",
                                     "command": ["python3", "-c", "print('controller says hi')"]}]},
        })  # fmt: skip
        wait_for(lambda: cluster.pods("kubeflow")[0]["status"]["phase"] == "Succeeded", what="the controller pod")
        logs = runner.invoke(app, ["logs", "katib-random", "-n", "kubeflow"])
        assert logs.exit_code == 0 and "controller says hi" in logs.output, logs.output
        status = runner.invoke(app, ["status", "katib-random", "-n", "kubeflow"])
        assert status.exit_code == 0, status.output
        assert "controller job wb-katib-random-controller" in status.output and "step pods: none" in status.output
        missing = runner.invoke(app, ["logs", "nope", "-n", "kubeflow"])
        assert missing.exit_code == 1 and "no controller of 'nope'" in missing.output
    finally:
        cluster.stop()


def test_a_bundle_too_large_for_a_config_map_is_refused(tmp_path):
    from workbench.backends._bundle import BundleError, make_bundle

    (tmp_path / "big.py").write_text("x = 1\n" * 200_000)
    step = {"name": "s", "component": {"implementation": {"python": {"file": str(tmp_path / "big.py")}}}}
    doc = {"spec": {"trialTemplate": {"pipeline": {"baseDir": str(tmp_path), "steps": [step]}}}}
    with pytest.raises(BundleError, match="more than the 900 KiB a ConfigMap holds; the largest: .*big.py"):
        make_bundle(doc, "big")


def test_label_selector_of_the_controller_is_distinct_from_steps():
    (config_map, job) = controller_objects({"spec": {}}, "e", "ns", "img")
    assert job["spec"]["template"]["metadata"]["labels"][LABEL_COMPONENT] == "controller"


def test_a_mounted_bundle_is_unpacked_without_the_kubelets_links(tmp_path):
    from workbench.backends._bundle import unpack_bundle

    # How the kubelet mounts a ConfigMap: files in a timestamped folder, `..data` pointing at it,
    # and one link per key at the top (nested paths come from the volume's `items`).
    mount = tmp_path / "mount"
    real = mount / "..2026_11_27_03_00_00.1"
    (real / "trial").mkdir(parents=True)
    (real / "experiment.yaml").write_text("kind: Experiment\n")
    (real / "trial" / "steps.py").write_text("print('hi')\n")
    (mount / "..data").symlink_to(real.name)
    (mount / "experiment.yaml").symlink_to("..data/experiment.yaml")
    (mount / "trial").symlink_to("..data/trial")
    target = tmp_path / "work"
    unpack_bundle(mount, target)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == ["experiment.yaml", "trial/steps.py"]
    assert not any(p.is_symlink() for p in target.rglob("*"))
    assert (target / "trial" / "steps.py").read_text() == "print('hi')\n"


def test_submit_namespace_order_is_what_the_readme_says(tmp_path, monkeypatch):
    """The regression (docs drift): the README gave the namespace order of `submit` reversed."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_K8S_NAMESPACE", "from-setting")
    katib = str(REPO / "examples" / "katib-random.yaml")  # metadata.namespace: kubeflow
    plain = str(REPO / "examples" / "kfp" / "experiment.yaml")  # no namespace: default

    def job_namespace(*args: str) -> str:
        result = CliRunner().invoke(app, ["submit", *args, "--dry-run"])
        assert result.exit_code == 0, result.output
        return documents(result.stdout)[1]["metadata"]["namespace"]

    assert job_namespace(katib, "-n", "given") == "given"
    assert job_namespace(katib) == "kubeflow"
    assert job_namespace(plain) == "from-setting"
    readme = " ".join((REPO / "README.md").read_text().split())
    assert (
        "The experiment runs in the namespace of `-n`, else in its `metadata.namespace` (when it is not `default`), "
        "else in the `kubernetes.namespace` setting" in readme
    )
