"""Cluster commands: ``workbench submit``, ``logs``, ``status`` and ``workbench k8s manifests``.

``submit`` puts the experiment (and the files it uses) in a ConfigMap and creates a Job that runs
the controller in the cluster, so the laptop can close; ``logs`` follows that controller and
``status`` shows its Job and the experiment's step pods. Because the experiment's state lives in
the shared stores, a restarted controller Job resumes the experiment.

Registered on the main app by :func:`register` (``workbench.cli``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from workbench.errors import SpecError, WorkbenchError

k8s_app = typer.Typer(name="k8s", help="Kubernetes: deployment manifests and the in-cluster controller.",
                      no_args_is_help=True)  # fmt: skip

NamespaceOption = typer.Option(None, "--namespace", "-n", help="Namespace (default: the experiment's, else the "
                               "`kubernetes.namespace` setting).")  # fmt: skip
HomeOption = typer.Option(None, "--home", help="Workspace folder holding the settings (default: $WORKBENCH_HOME).")


def _settings(home: Path | None, **overrides: Any) -> Any:
    from workbench.backends.kubernetes import KubernetesSettings
    from workbench.workspace import Workspace

    workspace = Workspace.at(home) if home else Workspace.from_env()
    return KubernetesSettings.load(workspace, **{k: v for k, v in overrides.items() if v is not None})


def _api(settings: Any) -> Any:
    from workbench.backends._k8s_api import Api

    return Api(settings.api_client(), retries=settings.api_retries, backoff=settings.api_backoff,
               max_backoff=settings.api_max_backoff)  # fmt: skip


def _api_error(err: Exception, what: str) -> WorkbenchError:
    from workbench.backends._k8s_api import error_message

    return WorkbenchError(f"{what}: {error_message(err)}")


# ---------------------------------------------------------------------------------------------- submit


def submit(
    spec_file: Path = typer.Argument(..., help="Experiment YAML (Workbench or Katib v1beta1)."),
    namespace: str | None = NamespaceOption,
    image: str | None = typer.Option(None, "--image", help="Workbench image (default: the kubernetes.image setting)."),
    home: Path | None = HomeOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the ConfigMap and the Job instead of creating them."),
) -> None:
    """Run an experiment's controller in the cluster (a Job), so this machine can go offline."""
    from kubernetes.client.exceptions import ApiException

    from workbench.backends._bundle import BundleError
    from workbench.backends._k8s_api import ApiUnavailable
    from workbench.backends._k8s_manifests import controller_objects, to_yaml
    from workbench.spec import experiment_to_document, load_experiment

    spec = load_experiment(spec_file)
    settings = _settings(home, image=image)
    ns = namespace or (spec.namespace if spec.namespace != "default" else settings.namespace)
    try:
        store_env = {"WORKBENCH_K8S_ARTIFACT_STORE": settings.artifact_store,
                     "WORKBENCH_K8S_ARTIFACT_STORE_SECRET": settings.artifact_store_secret,
                     "WORKBENCH_S3_ENDPOINT_URL": settings.artifact_store_endpoint} if settings.artifact_store else {}
        objects = controller_objects(experiment_to_document(spec), spec.name, ns, settings.image,
                                     settings_env={k: v for k, v in store_env.items() if v},
                                     store_secret=settings.artifact_store_secret)  # fmt: skip
    except BundleError as err:
        raise SpecError(str(err), source=str(spec_file)) from None
    if dry_run:
        sys.stdout.write(to_yaml(objects))
        return
    config_map, job = objects
    api = _api(settings)
    try:
        try:
            api.call("create", api.core.create_namespaced_config_map, ns, config_map, _preload_content=False)
        except ApiException as err:
            if err.status != 409:
                raise
            api.call("delete", api.core.delete_namespaced_config_map, config_map["metadata"]["name"], ns,
                     _preload_content=False)  # fmt: skip
            api.call("create", api.core.create_namespaced_config_map, ns, config_map, _preload_content=False)
        try:
            api.call("create", api.batch.create_namespaced_job, ns, job, _preload_content=False)
        except ApiException as err:
            if err.status == 409:
                raise WorkbenchError(
                    f"a controller Job for {spec.name!r} already exists in {ns} (follow it with: workbench logs "
                    f"{spec.name}; delete it with: kubectl -n {ns} delete job {job['metadata']['name']})"
                ) from None
            raise
    except ApiException as err:
        raise _api_error(err, f"cannot submit {spec.name!r} to namespace {ns}") from None
    except ApiUnavailable as err:
        raise WorkbenchError(f"the Kubernetes API is unavailable: {err}") from None
    typer.echo(f"submitted {spec.name!r}: job {ns}/{job['metadata']['name']}")
    typer.echo(f"follow it with: workbench logs {spec.name} -n {ns}   (state: workbench status {spec.name} -n {ns})")


# ---------------------------------------------------------------------------------------------- logs / status


def _controller_pods(api: Any, name: str, ns: str) -> list[dict[str, Any]]:
    from workbench.backends._k8s_pod import CONTROLLER_COMPONENT, LABEL_COMPONENT, LABEL_EXPERIMENT, label_value

    selector = f"{LABEL_EXPERIMENT}={label_value(name)},{LABEL_COMPONENT}={CONTROLLER_COMPONENT}"
    resp = api.call("list", api.core.list_namespaced_pod, ns, label_selector=selector, _preload_content=False)
    pods = json.loads(resp.data).get("items") or []
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")


def logs(
    name: str = typer.Argument(..., help="Experiment name."),
    namespace: str | None = NamespaceOption,
    follow: bool = typer.Option(True, "--follow/--no-follow", "-f", help="Keep streaming while the controller runs."),
    home: Path | None = HomeOption,
) -> None:
    """The output of an experiment's controller in the cluster (the newest controller pod)."""
    from kubernetes.client.exceptions import ApiException

    from workbench.backends._k8s_api import response_lines

    settings = _settings(home)
    ns = namespace or settings.namespace
    api = _api(settings)
    try:
        pods = _controller_pods(api, name, ns)
        if not pods:
            raise WorkbenchError(f"no controller of {name!r} in namespace {ns} (start one with: workbench submit)")
        pod = pods[-1]["metadata"]["name"]
        resp = api.call("log", api.core.read_namespaced_pod_log, pod, ns, follow=follow, _preload_content=False)
        for line in response_lines(resp):
            typer.echo(line)
    except ApiException as err:
        raise _api_error(err, f"cannot read the controller log of {name!r}") from None


def status(
    name: str = typer.Argument(..., help="Experiment name."),
    namespace: str | None = NamespaceOption,
    home: Path | None = HomeOption,
) -> None:
    """The controller Job of an experiment in the cluster and its step pods by phase."""
    from kubernetes.client.exceptions import ApiException

    from workbench.backends._k8s_manifests import CONTROLLER_COMPONENT
    from workbench.backends._k8s_pod import LABEL_COMPONENT, LABEL_EXPERIMENT, experiment_selector, label_value

    settings = _settings(home)
    ns = namespace or settings.namespace
    api = _api(settings)
    try:
        selector = f"{LABEL_EXPERIMENT}={label_value(name)},{LABEL_COMPONENT}={CONTROLLER_COMPONENT}"
        jobs = json.loads(api.call("list", api.batch.list_namespaced_job, ns, label_selector=selector,
                                   _preload_content=False).data).get("items") or []  # fmt: skip
        steps = json.loads(api.call("list", api.core.list_namespaced_pod, ns, label_selector=experiment_selector(name),
                                    _preload_content=False).data).get("items") or []  # fmt: skip
        controllers = _controller_pods(api, name, ns)
    except ApiException as err:
        raise _api_error(err, f"cannot read the state of {name!r}") from None
    if not jobs and not steps:
        raise WorkbenchError(f"nothing of {name!r} in namespace {ns}")
    for job in jobs:
        st = job.get("status") or {}
        state = "Succeeded" if st.get("succeeded") else "Failed" if _job_failed(st) else "Running"
        typer.echo(
            f"controller job {job['metadata']['name']}: {state} (active {st.get('active', 0)}, "
            f"failed {st.get('failed', 0)}, succeeded {st.get('succeeded', 0)}; started {st.get('startTime', '-')})"
        )
    for pod in controllers:
        typer.echo(f"  pod {pod['metadata']['name']}: {(pod.get('status') or {}).get('phase', 'Pending')}")
    phases: dict[str, int] = {}
    for pod in steps:
        phase = (pod.get("status") or {}).get("phase", "Pending")
        phases[phase] = phases.get(phase, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(phases.items())) or "none"
    typer.echo(f"step pods: {summary}")
    typer.echo(f"trials and results: workbench show {name} (with the cluster's stores: WORKBENCH_OPTUNA_URL, ...)")


def _job_failed(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True" for c in status.get("conditions") or [])


# ---------------------------------------------------------------------------------------------- k8s sub-app


PostgresPassword = typer.Option(None, "--postgres-password", envvar="WORKBENCH_POSTGRES_PASSWORD",
                                help="Password of the bundled PostgreSQL (default: a new random one).")  # fmt: skip
MinioPassword = typer.Option(None, "--minio-password", envvar="WORKBENCH_MINIO_PASSWORD",
                             help="Password of the bundled MinIO (default: a new random one).")  # fmt: skip


def _credentials(postgres_password: str | None, minio_password: str | None) -> dict[str, str]:
    from workbench.backends._k8s_manifests import store_credentials

    if not (postgres_password and minio_password):
        typer.echo("generated random store passwords (keep them: the databases keep their first password; pass "
                   "--postgres-password/--minio-password to print the same ones again)", err=True)  # fmt: skip
    return store_credentials(postgres_password, minio_password)


@k8s_app.command("manifests")
def manifests(
    namespace: str = typer.Option("workbench", "--namespace", "-n", help="Namespace to deploy into."),
    image: str = typer.Option("workbench:latest", "--image", help="The Workbench image."),
    storage_class: str | None = typer.Option(None, "--storage-class", help="Storage class of the volumes "
                                             "(the artifacts volume needs ReadWriteMany)."),  # fmt: skip
    postgres_password: str | None = PostgresPassword,
    minio_password: str | None = MinioPassword,
) -> None:
    """Print the manifests of a Workbench deployment (apply with: workbench k8s manifests | kubectl apply -f -).

    The store passwords in its Secret come from the options (or WORKBENCH_POSTGRES_PASSWORD and
    WORKBENCH_MINIO_PASSWORD), else are new random ones.
    """
    from workbench.backends._k8s_manifests import deployment_manifests, to_yaml

    credentials = _credentials(postgres_password, minio_password)
    sys.stdout.write(to_yaml(deployment_manifests(namespace, image, storage_class, credentials=credentials)))


@k8s_app.command("stores-env")
def stores_env(
    postgres_password: str | None = PostgresPassword,
    minio_password: str | None = MinioPassword,
) -> None:
    """Print the stores.env of the kustomize base (workbench k8s stores-env > deploy/k8s/base/stores.env)."""
    from workbench.backends._k8s_manifests import stores_env as render

    sys.stdout.write(render(_credentials(postgres_password, minio_password)))


@k8s_app.command("controller", hidden=True)
def controller(
    bundle: Path = typer.Option(..., "--bundle", help="The mounted ConfigMap of `workbench submit`."),
    target: Path = typer.Option(..., "--target", help="Where the experiment's files go on the shared volume."),
) -> None:
    """Inside the controller Job: lay the experiment's files out on the shared volume, then run (or resume) it."""
    from workbench.backends._bundle import unpack_bundle

    unpack_bundle(bundle, target)
    experiment = str(target / "experiment.yaml")
    os.execvp("workbench", ["workbench", "run", experiment, "--backend", "kubernetes"])


def register(app: typer.Typer) -> None:
    """Add ``submit``, ``logs``, ``status`` and the ``k8s`` group to the main app."""
    app.command("submit")(submit)
    app.command("logs")(logs)
    app.command("status")(status)
    app.add_typer(k8s_app, name="k8s")


__all__ = ["k8s_app", "register"]
