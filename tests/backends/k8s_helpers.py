"""Helpers for the Kubernetes backend tests: a test cluster, a backend on it, step launches."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.backends import StepLaunch
from workbench.backends.kubernetes import KubernetesBackend, KubernetesSettings
from workbench.testing.k8s_server import FakeCluster

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

