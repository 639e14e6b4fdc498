"""Helpers for the Kubernetes backend tests: a test cluster, a backend on it, step launches."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.backends import StepLaunch
from workbench.backends.kubernetes import KubernetesBackend, KubernetesSettings
from workbench.spec import load_experiment
from workbench.testing.k8s_server import FakeCluster

#: The example experiments of the repository.
EXAMPLES = sorted(
    p for p in (Path(__file__).resolve().parents[2] / "examples").glob("**/*.yaml")
    if "kind: Experiment" in p.read_text()
)

#: Kubernetes version the manifests are validated against (strict mode): the newest the validator knows.
try:
    import kubernetes_validate

    K8S_VERSION = kubernetes_validate.latest_version()
except ImportError:  # pragma: no cover - a dev dependency
    kubernetes_validate = None
    K8S_VERSION = "1.36.0"


def validate(manifest: dict[str, Any]) -> None:
    """Check one manifest against the Kubernetes OpenAPI schema, strict mode (unknown fields are errors)."""
    assert kubernetes_validate is not None, "pip install kubernetes-validate"
    try:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        kind, name = manifest.get("kind"), (manifest.get("metadata") or {}).get("name")
        where = "/".join(str(p) for p in err.path)
        raise AssertionError(f"{kind} {name}: {where}: {str(err.message).splitlines()[0]}") from None


def settings(cluster: FakeCluster, home: Path | None = None, **extra: Any) -> KubernetesSettings:
    """Backend settings for the test cluster: fast retries, the workspace volume mounted at ``home``."""
    values: dict[str, Any] = dict(
        host=cluster.url,
        api_backoff=0.02,
        api_max_backoff=0.2,
        unschedulable_timeout=30.0,
        volume_claim="workbench-artifacts",
        mount_path=str(home) if home else "/tmp",
        watch_timeout=60,
    )
    values.update(extra)
    return KubernetesSettings(**values)


def backend(cluster: FakeCluster, home: Path | None = None, **extra: Any) -> KubernetesBackend:
    return KubernetesBackend(settings(cluster, home, **extra))


def py(code: str) -> list[str]:
    """A step command running Python code (the interpreter maps to ``python`` in the pod)."""
    return [sys.executable, "-c", code]


def launch(argv: list[str], workdir: Path, step: str = "train", run_id: str = "0123456789abcdef0123456789abcdef",
           trial: int | None = 0, attempt: int = 1, experiment: str = "exp", **extra: Any) -> StepLaunch:  # fmt: skip
    return StepLaunch(
        argv=argv,
        env={"PYTHONUNBUFFERED": "1", "WORKBENCH_RUN_ID": run_id, "WORKBENCH_STEP": step},
        workdir=str(workdir),
        name=f"{run_id[:12]}-{step}",
        experiment=experiment,
        run_id=run_id,
        step=step,
        trial=trial,
        attempt=attempt,
        own_env={},
        **extra,
    )


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "a condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def labelled(key: str, value: str) -> Callable[[dict[str, Any]], bool]:
    """A fault matcher: pods whose label ``key`` is ``value``."""
    return lambda pod: (pod["metadata"].get("labels") or {}).get(key) == value



#: Volume types the "restricted" Pod Security Standard allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}  # fmt: skip


def restricted_violations(spec: dict[str, Any], where: str = "pod") -> list[str]:
    """What in a pod spec breaks the "restricted" Pod Security Standard (Kubernetes 1.25+), as readable lines."""
    out: list[str] = []
    pod_ctx = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"{where}: {key} is set")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            out.append(f"{where}: volume {volume.get('name')} is {sorted(kinds)}")
    if pod_ctx.get("runAsUser") == 0:
        out.append(f"{where}: securityContext.runAsUser is 0")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if not spec.get("containers"):
        out.append(f"{where}: no containers")
    for c in containers:
        name, ctx = f"{where}: container {c.get('name')}", c.get("securityContext") or {}
        if ctx.get("privileged"):
            out.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: capabilities add {caps['add']}")
        non_root = ctx["runAsNonRoot"] if "runAsNonRoot" in ctx else pod_ctx.get("runAsNonRoot")
        if non_root is not True:
            out.append(f"{name}: runAsNonRoot is not true")
        if ctx.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser is 0")
        seccomp = (ctx.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile is {seccomp or 'unset'}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.append(f"{name}: hostPort")
    return out


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs in a manifest: a Pod's, a workload's template, a CronJob's job template (none for others)."""
    kind = obj.get("kind")
    if kind == "Pod":
        return [obj["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [obj["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def step_launches(path: Path) -> list[StepLaunch]:
    """A launch for every step of an example experiment's trial pipeline, with its pod settings."""
    spec = load_experiment(path)
    launches = []
    for step in spec.trial_template.pipeline.steps:
        comp = step.component
        container = comp.implementation.container
        launches.append(launch(
            ["python3", "-c", "print(1)"], Path("/workbench/runs/r/step"), step=step.name, experiment=spec.name,
            image=container.image if container else "", kubernetes=step.pod_settings(), timeout=step.timeout,
            parameters={p.name: "0.5" for p in spec.trial_template.pipeline.parameters},
        ))  # fmt: skip
    return launches
