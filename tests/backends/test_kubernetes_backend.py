"""The Kubernetes backend against the test API server: real HTTP, the official client, local processes as pods.

Every pod the backend creates is checked by the test server against the Kubernetes OpenAPI schema
(strict mode) and refused if invalid, as a real API server would; the ``cluster`` fixture fails a
test that produced one.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from k8s_helpers import backend, launch, py, wait_for

from workbench.backends import StepLaunchError
from workbench.backends._k8s_pod import LABEL_RETAIN, LABEL_RUN, LABEL_STEP, LABEL_TRIAL

GATED = """
import os, sys, time
gate = sys.argv[1]
print("started", flush=True)
while os.path.exists(gate):
    time.sleep(0.02)
print("done", flush=True)
"""


def gate(tmp_path: Path, name: str = "gate") -> Path:
    path = tmp_path / name
    path.write_text("x")
    return path


# ------------------------------------------------------------------------------------------ basics


def test_step_runs_as_a_pod_streams_its_log_and_is_deleted(kube, cluster, tmp_path):
    handle = kube.start(launch(py("print('a'); print('loss=0.5'); raise SystemExit(3)"), tmp_path))
    assert list(handle.lines()) == ["a", "loss=0.5"]
    assert handle.wait() == 3
    wait_for(lambda: not cluster.pods(), what="the pod to be deleted")
    pod = cluster.created[0]
    labels = pod["metadata"]["labels"]
    assert labels[LABEL_RUN] == "0123456789abcdef0123456789abcdef" and labels[LABEL_STEP] == "train"
    assert labels[LABEL_TRIAL] == "0" and labels["workbench.io/experiment"] == "exp"
    assert pod["metadata"]["name"] == "exp-0-train-01234567-1"
    assert pod["spec"]["restartPolicy"] == "Never"
    # create, log, delete; the list and the watch are shared by every step of the experiment
    assert cluster.requests["CREATE pods"] == 1 and cluster.requests["GET log"] == 1
    assert cluster.requests["DELETE pods"] == 1 and cluster.requests["LIST pods"] == 1


def test_pods_are_secure_by_default_and_loosened_only_explicitly(kube, cluster, tmp_path):
    kube.start(launch(py("print(1)"), tmp_path, step="a")).wait(10)
    loose = {"securityContext": {"runAsNonRoot": False, "runAsUser": 0}}
    kube.start(launch(py("print(1)"), tmp_path, step="b", kubernetes=loose)).wait(10)
    secure, root = cluster.created
    pod_ctx = secure["spec"]["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True and pod_ctx["runAsUser"] == 1000
    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = secure["spec"]["containers"][0]["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["runAsNonRoot"] is True and ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert secure["spec"]["automountServiceAccountToken"] is False
    loosened = root["spec"]["containers"][0]["securityContext"]
    assert loosened["runAsNonRoot"] is False and loosened["runAsUser"] == 0
    assert loosened["capabilities"] == {"drop": ["ALL"]}  # what was not loosened stays


def test_arguments_reach_the_step_literally(kube, tmp_path):
    hostile = ["$(HOME)", "$$(HOME)", "a $ b", "; ls", "`id`", "'q'"]
    handle = kube.start(launch(py("import sys; print(repr(sys.argv[1:]))") + hostile, tmp_path))
    assert list(handle.lines()) == [repr(hostile)]
    assert handle.wait() == 0


def test_the_controllers_environment_stays_behind(kube, tmp_path, monkeypatch):
    monkeypatch.setenv("CONTROLLER_SECRET", "s3cr3t")
    code = "import os; print(os.environ.get('CONTROLLER_SECRET'), os.environ.get('MINE'), os.environ['WORKBENCH_STEP'])"
    step = launch(py(code), tmp_path)
    step.env = {**os.environ, **step.env}
    step.own_env = {"MINE": "yes"}
    handle = kube.start(step)
    assert list(handle.lines()) == ["None yes train"]


def test_log_lines_arrive_while_the_pod_runs(kube, tmp_path):
    g = gate(tmp_path)
    handle = kube.start(launch(py(GATED) + [str(g)], tmp_path))
    lines = handle.lines()
    assert next(lines) == "started"  # while the pod still runs
    assert handle.wait(timeout=0.2) is None
    g.unlink()
    assert list(lines) == ["done"]
    assert handle.wait(10) == 0


def test_one_watch_and_one_list_serve_every_step(kube, cluster, tmp_path):
    handles = [kube.start(launch(py(f"print({i})"), tmp_path, step=f"s{i}")) for i in range(6)]
    assert [list(h.lines()) for h in handles] == [[str(i)] for i in range(6)]
    assert [h.wait(10) for h in handles] == [0] * 6
    assert cluster.requests["WATCH pods"] == 1 and cluster.requests["LIST pods"] == 1
    assert "GET pods" not in cluster.requests  # no per-pod polling


def test_steps_starting_at_the_same_moment_share_the_one_watch(kube, cluster):
    # The first trials of a sweep start together: each asks for the experiment's watch at once.
    rounds, racers = 20, 12
    errors: list[BaseException] = []
    for n in range(rounds):
        barrier = threading.Barrier(racers)

        def first_step(experiment: str = f"exp{n}", barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                kube.watch_for(experiment, "default")
            except BaseException as err:  # any error is the failure
                errors.append(err)

        threads = [threading.Thread(target=first_step) for _ in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    wait_for(lambda: cluster.requests["WATCH pods"] == rounds, what="one watch per experiment")
    assert cluster.requests["LIST pods"] == rounds


def test_resources_scheduling_and_deadline_reach_the_pod(kube, cluster, tmp_path):
    settings = {
        "resources": {"cpu": "500m", "memory": "1Gi", "gpu": 1},
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "serviceAccountName": "trainer",
        "imagePullSecrets": ["regcred"],
        "priorityClassName": "batch-low",
        "image": "registry.example.com/train:1",
    }  # fmt: skip
    kube.start(launch(py("print(1)"), tmp_path, kubernetes=settings, timeout=30)).wait(10)
    spec = cluster.created[0]["spec"]
    main = spec["containers"][0]
    assert main["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
    }
    assert main["image"] == "registry.example.com/train:1"
    assert spec["nodeSelector"] == {"pool": "gpu"} and spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["serviceAccountName"] == "trainer" and spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["priorityClassName"] == "batch-low" and spec["activeDeadlineSeconds"] == 90
    assert "affinity" in spec


def test_the_workspace_volume_is_mounted_at_the_same_path(kube, cluster, tmp_path):
    kube.start(launch(py("print(1)"), tmp_path / "runs" / "r1" / "train")).wait(10)
    spec = cluster.created[0]["spec"]
    claim = {"claimName": "workbench-artifacts"}
    assert spec["volumes"] == [{"name": "workbench-workspace", "persistentVolumeClaim": claim}]
    main = spec["containers"][0]
    assert main["volumeMounts"] == [{"name": "workbench-workspace", "mountPath": str(tmp_path)}]
    assert main["workingDir"] == str(tmp_path / "runs" / "r1" / "train")


def test_retained_pods_stay(kube, cluster, tmp_path):
    handle = kube.start(launch(py("print(1)"), tmp_path, kubernetes={"retain": True}))
    assert list(handle.lines()) == ["1"] and handle.wait(10) == 0
    time.sleep(0.3)
    (pod,) = cluster.pods()
    assert pod["status"]["phase"] == "Succeeded" and pod["metadata"]["labels"][LABEL_RETAIN] == "true"


# ------------------------------------------------------------------------------------------ failures


def test_oom_killed_is_exit_137_with_a_clear_line(kube, cluster, tmp_path):
    cluster.faults.oom(after=0.2)
    step = launch(py("import time; print('x', flush=True); time.sleep(30)"), tmp_path,
                  kubernetes={"resources": {"memory": "64Mi"}})  # fmt: skip
    handle = kube.start(step)
    lines = list(handle.lines())
    assert handle.wait(10) == 137
    assert lines[0] == "x"
    assert "OOMKilled" in lines[-1] and "64Mi" in lines[-1] and lines[-1].startswith("[kubernetes]")


def test_evicted_pod_fails_with_the_reason(kube, cluster, tmp_path):
    cluster.faults.evict(after=0.2)
    handle = kube.start(launch(py("import time; time.sleep(30)"), tmp_path))
    lines = list(handle.lines())
    assert handle.wait(10) == 137
    assert "evicted" in lines[-1] and "low on resource: memory" in lines[-1]


def test_an_eviction_due_while_the_kubelet_thread_was_not_scheduled_still_happens(kube, cluster, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    # A busy machine: the pod's process ends (0.3 s) before the kubelet thread gets to watch it. The
    # eviction was due at 0.1 s of running, so the pod is evicted, not Succeeded (the fault suite's retry
    # accounting counts on every injected fault happening).
    cluster.faults.evict(after=0.1)
    set_phase = cluster._set_phase

    def late(ns: str, name: str, phase: str | None = None, *args: object, **kw: object) -> bool:
        if phase == "Running":
            time.sleep(0.8)
        return set_phase(ns, name, phase, *args, **kw)

    monkeypatch.setattr(cluster, "_set_phase", late)
    handle = kube.start(launch(py("import time; time.sleep(0.3); print('done')"), tmp_path))
    lines = list(handle.lines())
    assert handle.wait(10) == 137
    assert "evicted" in lines[-1]


def test_image_pull_error_fails_fast_without_retries(kube, cluster, tmp_path):
    cluster.faults.image_pull_error()
    t0 = time.monotonic()
    with pytest.raises(StepLaunchError, match=r"image cannot be pulled \(ErrImagePull, image 'nope:1'\)"):
        kube.start(launch(py("print(1)"), tmp_path, image="nope:1"))
    assert time.monotonic() - t0 < 5
    assert cluster.requests["CREATE pods"] == 1  # no retry storm
    wait_for(lambda: not cluster.pods(), what="the pod to be deleted")


def test_a_command_missing_from_the_image_fails_at_once(kube, tmp_path):
    with pytest.raises(StepLaunchError, match="cannot run in the image"):
        kube.start(launch(["no-such-command-xyz"], tmp_path))


def test_unschedulable_longer_than_the_limit_fails(cluster, tmp_path):
    cluster.faults.unschedulable()
    b = backend(cluster, tmp_path, unschedulable_timeout=0.5)
    try:
        with pytest.raises(StepLaunchError, match=r"could not be scheduled for 0.5s: 0/1 nodes are available"):
            b.start(launch(py("print(1)"), tmp_path))
        wait_for(lambda: not cluster.pods(), what="the pod to be deleted")
    finally:
        b.close()


def test_slow_scheduling_only_delays(kube, cluster, tmp_path):
    cluster.faults.schedule_delay = 0.3
    cluster.faults.unschedulable(duration=0.3)
    handle = kube.start(launch(py("print('ran')"), tmp_path))
    assert list(handle.lines()) == ["ran"] and handle.wait(10) == 0


def test_throttling_and_server_errors_are_retried(kube, cluster, tmp_path):
    faults = cluster.faults
    faults.fail_requests(429, count=3, method="POST", path=r"/pods$", retry_after=0)
    faults.fail_requests(500, count=2, method="GET", path=r"/log$")
    faults.fail_requests(503, count=2, method="DELETE")
    handle = kube.start(launch(py("print('ok')"), tmp_path))
    assert list(handle.lines()) == ["ok"] and handle.wait(10) == 0
    wait_for(lambda: not cluster.pods(), what="the pod to be deleted")
    assert cluster.requests["CREATE pods"] == 1  # the 429s were answered before the pod existed
    assert kube.stats["retry"] == 7


def test_an_api_that_keeps_failing_is_a_launch_error(cluster, tmp_path):
    b = backend(cluster, tmp_path, api_retries=2)
    try:
        b.watch_for("exp", "default")
        cluster.faults.fail_requests(500, count=10, method="POST")
        with pytest.raises(StepLaunchError, match="API is unavailable"):
            b.start(launch(py("print(1)"), tmp_path))
    finally:
        b.close()


def test_a_pod_deleted_by_someone_else_fails_the_step(kube, cluster, tmp_path):
    from kubernetes import client

    handle = kube.start(launch(py("import time; print('up', flush=True); time.sleep(30)"), tmp_path))
    api = client.CoreV1Api(client.ApiClient(cluster.configuration()))
    api.delete_namespaced_pod(cluster.pods()[0]["metadata"]["name"], "default", grace_period_seconds=0)
    assert handle.wait(10) == 137
    assert "was deleted before its step finished" in list(handle.lines())[-1]


def test_active_deadline_from_the_timeout(cluster, tmp_path):
    b = backend(cluster, tmp_path, deadline_slack=0)
    try:
        handle = b.start(launch(py("import time; time.sleep(30)"), tmp_path, timeout=0.5))
        lines = list(handle.lines())
        assert handle.wait(10) != 0
        assert "activeDeadlineSeconds" in lines[-1]
        assert cluster.created[0]["spec"]["activeDeadlineSeconds"] == 1
    finally:
        b.close()


# ------------------------------------------------------------------------------------------ cancel


def test_cancel_deletes_the_pod_with_a_grace_period(kube, cluster, tmp_path):
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('bye', flush=True), sys.exit(0)))\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    handle = kube.start(launch(py(code), tmp_path))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(handle.lines()))
    reader.start()
    wait_for(lambda: lines, what="the first line")
    t0 = time.monotonic()
    handle.cancel(grace=5)
    assert time.monotonic() - t0 < 4
    reader.join(10)
    assert lines == ["up", "bye"]
    wait_for(lambda: not cluster.pods(), what="the pod to be gone")
    assert cluster.wait_idle(5)
    handle.cancel()  # idempotent


def test_cancel_while_pending_stops_waiting(cluster, tmp_path):
    cluster.faults.unschedulable()
    b = backend(cluster, tmp_path)
    try:
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        handle = b.start(launch(py("print(1)"), tmp_path, cancel=cancel))
        handle.cancel(1)
        assert handle.wait(1) is not None
        wait_for(lambda: not cluster.pods(), what="the pod to be deleted")
    finally:
        b.close()


# ------------------------------------------------------------------------------------------ watch and logs


def test_a_dropped_watch_resumes_from_the_last_resource_version(kube, cluster, tmp_path):
    g = gate(tmp_path)
    handle = kube.start(launch(py(GATED) + [str(g)], tmp_path))
    assert wait_for(lambda: cluster.drop_watches(), what="open streams") >= 1
    g.unlink()
    assert list(handle.lines()) == ["started", "done"]
    assert handle.wait(10) == 0
    assert cluster.requests["WATCH pods"] >= 2 and cluster.requests["LIST pods"] == 1  # resumed, not relisted


def test_410_gone_relists(kube, cluster, tmp_path):
    g = gate(tmp_path)
    handle = kube.start(launch(py(GATED) + [str(g)], tmp_path))
    cluster.faults.expire_watches(1)
    wait_for(lambda: cluster.drop_watches(), what="open streams")
    g.unlink()
    assert handle.wait(10) == 0
    assert list(handle.lines()) == ["started", "done"]
    assert cluster.requests["LIST pods"] == 2
    assert kube.stats["relists"] == 2


def test_a_dropped_log_stream_resumes_without_duplicates(kube, cluster, tmp_path):
    code = "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.02)\n"
    handle = kube.start(launch(py(code), tmp_path))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(handle.lines()))
    reader.start()
    for _ in range(3):
        time.sleep(0.15)
        cluster.drop_watches()
    reader.join(20)
    assert lines == [str(i) for i in range(40)]
    assert handle.wait(10) == 0
    assert cluster.requests["GET log"] >= 2


# ------------------------------------------------------------------------------------------ adoption


def test_a_new_controller_adopts_running_pods_and_deletes_orphans(cluster, tmp_path):
    g = gate(tmp_path)
    first = backend(cluster, tmp_path)
    run, orphan = "a" * 32, "b" * 32
    handle = first.start(launch(py(GATED) + [str(g)], tmp_path, run_id=run))
    assert next(handle.lines()) == "started"
    first.start(launch(py(GATED) + [str(g)], tmp_path, run_id=orphan, step="other"))
    first.close()  # the controller dies: its pods keep running
    assert len(cluster.pods()) == 2

    second = backend(cluster, tmp_path)
    try:
        assert second.adoptable_runs("exp", "default") == {run, orphan}
        assert second.cleanup("exp", "default", keep={run}) == 1
        wait_for(lambda: len(cluster.pods()) == 1, what="the orphan to be deleted")
        adopted = second.start(launch(py(GATED) + [str(g)], tmp_path, run_id=run))
        assert cluster.requests["CREATE pods"] == 2  # no duplicate
        g.unlink()
        assert list(adopted.lines()) == ["started", "done"]  # the whole log, from the start
        assert adopted.wait(10) == 0
        wait_for(lambda: not cluster.pods(), what="the adopted pod to be deleted")
    finally:
        second.close()


def test_a_create_whose_answer_was_lost_is_not_duplicated(kube, cluster, tmp_path):
    from workbench.backends._k8s_pod import PodConfig, build_pod

    step = launch(py("print('once')"), tmp_path)
    body = build_pod(step, PodConfig(volume_claim="workbench-artifacts", mount_path=str(tmp_path)),
                     "exp-0-train-01234567-1", "default")  # fmt: skip
    cluster.create("pods", "default", json.loads(json.dumps(body)))  # it went through; the answer did not
    handle = kube.start(step)
    assert list(handle.lines()) == ["once"] and handle.wait(10) == 0
    assert len(cluster.created) == 1


# ------------------------------------------------------------------------------------------ Katib pod templates


def test_a_katib_trial_spec_becomes_the_pod_it_describes(kube, cluster, tmp_path):
    template = {
        "metadata": {"labels": {"team": "vision"}, "annotations": {"sidecar.istio.io/inject": "false"}},
        "spec": {
            "containers": [
                {"name": "training-container", "image": "python:3.11-slim", "command": ["python3", "train.py"],
                 "env": [{"name": "LR", "value": "${trialParameters.lr}"}],
                 "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
                {"name": "sidecar", "image": "busybox", "command": ["python3", "-c", "print('side')"]},
            ],
            "restartPolicy": "OnFailure",
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }  # fmt: skip
    step = launch(
        ["python3", "-c", "import os; print('lr', os.environ['LR'])"], tmp_path, step="training-container",
        kubernetes={"podTemplate": template, "primaryContainer": "training-container"}, parameters={"lr": 0.01},
    )  # fmt: skip
    handle = kube.start(step)
    assert list(handle.lines()) == ["lr 0.01"] and handle.wait(10) == 0
    pod = cluster.created[0]
    assert pod["metadata"]["labels"]["team"] == "vision"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    main, side = spec["containers"]
    assert main["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"}}
    assert {"name": "LR", "value": "0.01"} in main["env"]
    assert side["securityContext"]["allowPrivilegeEscalation"] is False
    assert [v["name"] for v in spec["volumes"]] == ["data", "workbench-workspace"]


def test_python_components_run_with_the_images_python(kube, cluster, tmp_path):
    handle = kube.start(launch([sys.executable, "-m", "workbench.runtime.launch", "{}"], tmp_path))
    handle.wait(10)
    assert cluster.created[0]["spec"]["containers"][0]["command"][:3] == ["python", "-m", "workbench.runtime.launch"]


# ------------------------------------------------------------------------------------------ settings


def test_settings_come_from_the_workspace_then_the_environment(tmp_path, monkeypatch):
    from workbench.backends import get_backend
    from workbench.backends.kubernetes import KubernetesBackend
    from workbench.errors import SpecError
    from workbench.workspace import Workspace

    monkeypatch.delenv("WORKBENCH_BACKEND", raising=False)
    (tmp_path / "workbench.yaml").write_text(
        "backend: kubernetes\nkubernetes:\n  namespace: ml\n  unschedulableTimeout: 2m\n  host: http://127.0.0.1:9\n"
    )
    monkeypatch.setenv("WORKBENCH_K8S_IMAGE", "reg.example.com/wb:1")
    b = get_backend(None, Workspace.at(tmp_path))
    try:
        assert isinstance(b, KubernetesBackend)
        s = b.settings
        assert (s.namespace, s.unschedulable_timeout, s.image) == ("ml", 120.0, "reg.example.com/wb:1")
        assert s.mount_path == str(tmp_path)  # the workspace folder, the same path in every pod
        assert b.namespace_for("default") == "ml" and b.namespace_for("kubeflow") == "kubeflow"
    finally:
        b.close()
    (tmp_path / "workbench.yaml").write_text("kubernetes:\n  namespce: ml\n")
    with pytest.raises(SpecError, match="unknown Kubernetes setting 'namespce'"):
        get_backend("kubernetes", Workspace.at(tmp_path))
    with pytest.raises(SpecError, match="available: local, kubernetes"):
        get_backend("slurm")
