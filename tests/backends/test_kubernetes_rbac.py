"""RBAC: the controller's Role grants exactly the API calls the in-cluster controller makes.

The test API server records every call with the attributes the API server authorizes it by (verb,
API group, resource/subresource, namespace). The in-cluster controller (what the Job of ``workbench
submit`` and the CronJob of ``workbench schedule create --backend kubernetes`` run, under the
``workbench-controller`` ServiceAccount) runs an experiment on the test cluster, with faults that
drive its rarer paths (a create whose answer is lost, read back with a GET while the watch lags).
Every call must be allowed by the Role (else it lacks a verb) and every verb it grants must have
been used (else it grants too much). ``submit``, ``logs`` and ``status`` run on the user's
machine with the user's kubeconfig, not under this Role: their calls are listed for the README.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import restricted_violations, wait_for
from typer.testing import CliRunner

from workbench.backends._bundle import make_bundle
from workbench.backends._k8s_manifests import CONTROLLER_ACCOUNT, deployment_manifests
from workbench.cli import app
from workbench.spec import experiment_to_document, load_experiment
from workbench.testing.k8s_server import FakeCluster, rbac_attributes

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "workbench"
Call = tuple[str, str, str, str]


def generated_role() -> dict[str, Any]:
    return next(o for o in deployment_manifests(NAMESPACE) if o["kind"] == "Role")


def deployed_role() -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO / "deploy" / "k8s" / "base" / "rbac.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "Role" and d["metadata"]["name"] == CONTROLLER_ACCOUNT)


def allows(rule: dict[str, Any], call: Call) -> bool:
    verb, group, resource, _ = call
    return (
        group in rule.get("apiGroups", [])
        and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
        and (verb in rule["verbs"] or "*" in rule["verbs"])
    )


def role_diff(role: dict[str, Any], calls: set[Call], namespace: str) -> tuple[list[Call], list[str]]:
    """(calls the Role does not allow, grants no call used)."""
    denied = [c for c in sorted(calls) if c[3] != namespace or not any(allows(r, c) for r in role["rules"])]
    unused = [
        f"{verb} {'/'.join(filter(None, (group, resource)))}"
        for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
        for verb in rule["verbs"]
        if not any(c[:3] == (verb, group, resource) for c in calls)
    ]  # fmt: skip
    return denied, unused


# ---------------------------------------------------------------------------------------------- verbs


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "1"}, ("watch", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "false"}, ("list", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods/p", {}, ("get", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods/p/log", {"follow": "true"}, ("get", "", "pods/log", "ns")),
        ("POST", "/api/v1/namespaces/ns/pods", {}, ("create", "", "pods", "ns")),
        ("POST", "/api/v1/namespaces/ns/pods/p/eviction", {}, ("create", "", "pods/eviction", "ns")),
        ("DELETE", "/api/v1/namespaces/ns/pods/p", {}, ("delete", "", "pods", "ns")),
        ("DELETE", "/api/v1/namespaces/ns/pods", {}, ("deletecollection", "", "pods", "ns")),
        ("PATCH", "/api/v1/namespaces/ns/pods/p", {}, ("patch", "", "pods", "ns")),
        ("PUT", "/api/v1/namespaces/ns/pods/p/status", {}, ("update", "", "pods/status", "ns")),
        ("POST", "/apis/batch/v1/namespaces/ns/jobs", {}, ("create", "batch", "jobs", "ns")),
        ("GET", "/apis/batch/v1/namespaces/ns/cronjobs/c", {}, ("get", "batch", "cronjobs", "ns")),
        ("GET", "/api/v1/pods", {}, ("list", "", "pods", "")),
        ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "namespaces", "")),
        ("GET", "/version", {}, ("get", "", "/version", "")),
    ],
)
def test_requests_map_to_rbac_verbs(method, path, query, expected):
    assert rbac_attributes(method, path, query) == expected


def test_the_server_records_what_a_client_calls(tmp_path):
    from kubernetes import client

    with FakeCluster(default_workdir=str(tmp_path)) as cluster:
        core = client.CoreV1Api(client.ApiClient(cluster.configuration()))
        core.list_namespaced_config_map("a")
        core.create_namespaced_config_map("a", {"metadata": {"name": "c"}, "data": {}})
        core.delete_namespaced_config_map("c", "a")
        assert set(cluster.calls) == {("list", "", "configmaps", "a"), ("create", "", "configmaps", "a"),
                                      ("delete", "", "configmaps", "a")}  # fmt: skip


def test_a_role_missing_a_verb_or_granting_too_much_is_caught():
    role = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]}]}
    calls = {("get", "", "pods", "ns"), ("list", "", "pods", "ns"), ("watch", "", "pods", "ns"),
             ("get", "", "pods", "other"), ("get", "", "pods/log", "ns")}  # fmt: skip
    denied, unused = role_diff(role, calls, "ns")
    assert denied == [("get", "", "pods", "other"), ("get", "", "pods/log", "ns"), ("watch", "", "pods", "ns")]
    assert unused == ["patch pods"]


# ---------------------------------------------------------------------------------------------- the controller


@pytest.mark.slow
def test_the_in_cluster_controller_runs_the_submitted_experiment_within_its_role(tmp_path):
    """What the controller Job does, on the test cluster: lay out the bundle, run the experiment with pods;
    the Role grants exactly the calls it made."""
    cluster = FakeCluster(default_workdir=str(tmp_path), validate=True).start()
    done = threading.Event()
    try:
        # The first pod's create takes effect but its answer is lost, while the watch lags: the
        # controller retries, gets 409 Conflict, and reads the pod back (GET) to know it is its own.
        cluster.faults.fail_requests(500, count=1, method="POST", path=r"/pods$", commit=True)
        cluster.faults.watch_lag = 2.0
        get = ("get", "", "pods", NAMESPACE)

        def catch_up() -> None:  # the watch catches up once the GET happened: the rest runs at full speed
            while not done.is_set() and not cluster.calls[get]:
                done.wait(0.05)
            cluster.faults.watch_lag = 0.0

        threading.Thread(target=catch_up, daemon=True).start()
        doc = experiment_to_document(load_experiment(REPO / "examples" / "kfp" / "experiment.yaml"))
        doc["spec"]["maxTrialCount"] = 2
        doc["spec"]["maxFailedTrialCount"] = 1
        workspace = tmp_path / "ws"
        contents, layout = make_bundle(doc, "kfp-rbac", workspace=str(workspace))
        bundle = tmp_path / "bundle"
        for item in layout["items"]:
            target = bundle / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(contents["data"][item["key"]])
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        env.update(WORKBENCH_HOME=str(workspace), WORKBENCH_K8S_HOST=cluster.url, WORKBENCH_K8S_NAMESPACE=NAMESPACE,
                   WORKBENCH_K8S_MOUNT_PATH=str(workspace),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
        result = subprocess.run(
            [str(Path(sys.executable).with_name("workbench")), "k8s", "controller", "--bundle", str(bundle),
             "--target", layout["target"]], env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert (Path(layout["target"]) / "root" / str(REPO / "examples/kfp/steps.py").lstrip("/")).is_file()
        assert cluster.requests["CREATE pods"] >= 6  # generate, preprocess, train (+ model-card) per trial
        assert not cluster.invalid
        created = cluster.created[0]["spec"]["containers"][0]
        assert created["workingDir"].startswith(str(workspace))
        assert json.dumps(created["command"]).count(layout["target"]) >= 1
        assert len({p["metadata"]["name"] for p in cluster.created}) == len(cluster.created)  # none twice
        assert not [v for p in cluster.created for v in restricted_violations(p["spec"], p["metadata"]["name"])]
        assert cluster.injected["500 after commit"] == 1
        wait_for(lambda: not cluster.pods(), 10, "every pod to be deleted")
        calls = set(cluster.calls)
        assert get in calls, "the lost create answer was not read back: the scenario did not run its rare path"
        assert not cluster.objects("configmaps") and not cluster.objects("jobs")
    finally:
        done.set()
        cluster.stop()
    # /version and the like need no Role (system:public-info-viewer); anything else must be namespaced.
    resource_calls = {c for c in calls if not c[2].startswith("/")}
    assert {c[2] for c in calls - resource_calls} <= {"/version", "/api", "/apis"}
    for role, where in ((generated_role(), "the generator (_k8s_manifests.CONTROLLER_RULES)"),
                        (deployed_role(), "deploy/k8s/base/rbac.yaml")):  # fmt: skip
        denied, unused = role_diff(role, resource_calls, NAMESPACE)
        assert not denied, f"the Role of {where} lacks: {denied}"
        assert not unused, f"the Role of {where} grants verbs the controller never uses: {unused}"


def test_submit_logs_and_status_use_the_users_rights_only_for_what_they_show(tmp_path, monkeypatch):
    """The user's side: what a user's kubeconfig must allow in the namespace (README, "Run on a cluster")."""
    with FakeCluster(default_workdir=str(tmp_path)) as cluster:
        monkeypatch.setenv("WORKBENCH_K8S_HOST", cluster.url)
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
        runner = CliRunner()
        assert runner.invoke(app, ["submit", str(REPO / "examples" / "katib-random.yaml")]).exit_code == 0
        assert runner.invoke(app, ["submit", str(REPO / "examples" / "katib-random.yaml")]).exit_code == 1
        job = cluster.objects("jobs", "kubeflow")[0]
        cluster.create("pods", "kubeflow", {
            "metadata": {"name": "ctl", "labels": job["spec"]["template"]["metadata"]["labels"]},
            "spec": {"containers": [{"name": "controller", "image": "workbench",
                                     "command": ["python3", "-c", "print('hi')"]}]},
        })  # fmt: skip
        wait_for(lambda: cluster.pods("kubeflow")[0]["status"]["phase"] == "Succeeded", what="the controller pod")
        assert runner.invoke(app, ["logs", "katib-random", "-n", "kubeflow"]).exit_code == 0
        assert runner.invoke(app, ["status", "katib-random", "-n", "kubeflow"]).exit_code == 0
        assert {c[:3] for c in cluster.calls if c[3] == "kubeflow"} == {
            ("create", "", "configmaps"), ("delete", "", "configmaps"), ("create", "batch", "jobs"),
            ("list", "batch", "jobs"), ("list", "", "pods"), ("get", "", "pods/log"),
        }
