"""The pod a step runs as: names, labels, security defaults, resources and the Katib pod template.

Pure functions over a :class:`~workbench.backends.StepLaunch` and the backend settings; no API calls.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from workbench.backends._base import StepLaunch

# Labels every step pod carries (the watch selects on experiment + component).
LABEL_EXPERIMENT = "workbench.io/experiment"
LABEL_TRIAL = "workbench.io/trial"
LABEL_RUN = "workbench.io/run"
LABEL_STEP = "workbench.io/step"
LABEL_ATTEMPT = "workbench.io/attempt"
LABEL_RETAIN = "workbench.io/retain"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_EXPERIMENT = "workbench.io/experiment-name"
ANNOTATION_STEP = "workbench.io/step-name"
MANAGED_BY = "workbench"
STEP_COMPONENT = "step"
CONTROLLER_COMPONENT = "controller"
#: The name of the step's container when the pod is not a Katib template.
MAIN_CONTAINER = "main"
#: The volume holding the shared workspace (artifacts, step folders).
WORKSPACE_VOLUME = "workbench-workspace"
#: With an object store: the emptyDir at /tmp where the step runtime stages artifacts.
STAGING_VOLUME = "workbench-staging"
STAGING_PATH = "/tmp"
#: The keys of the object-store credentials Secret (``artifactStoreSecret``), as environment variables.
STORE_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: The step runtime's object-store wrapper (see workbench/runtime/objstore.py).
OBJSTORE_WRAPPER = ["python", "-m", "workbench.runtime.objstore"]

#: The uid/gid the Workbench image runs as (``USER 1000`` in deploy/docker/Dockerfile).
DEFAULT_UID = 1000
POD_SECURITY_DEFAULT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": DEFAULT_UID,
    "runAsGroup": DEFAULT_UID,
    "fsGroup": DEFAULT_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_DEFAULT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: Environment variables a step gets from the engine (the rest of the controller's environment stays behind).
STEP_ENV = (
    "PYTHONUNBUFFERED", "WORKBENCH_EXPERIMENT", "WORKBENCH_NAMESPACE", "WORKBENCH_RUN_ID", "WORKBENCH_STEP",
    "WORKBENCH_TRIAL", "WORKBENCH_METRICS_FILE",
)  # fmt: skip
_TRIAL_PARAM = re.compile(r"\$\{trialParameters\.([^}]+)\}")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


@dataclass
class PodConfig:
    """Backend-wide pod settings: the one definition of every pod-shaping setting.

    ``KubernetesSettings`` (the ``kubernetes:`` section of the workspace settings) extends it with
    how to reach the cluster; :meth:`KubernetesSettings.pod_config` hands these fields to
    :func:`build_pod`.
    """

    namespace: str = "default"
    image: str = "workbench:latest"
    image_pull_policy: str | None = None
    #: A ReadWriteMany claim mounted at ``mount_path`` in every step pod ("" for none; unused with an object store).
    volume_claim: str = "workbench-artifacts"
    #: Where the claim is mounted: the workspace folder, the same path on the controller and in every pod.
    mount_path: str = ""
    service_account: str | None = None
    #: Secrets whose keys become environment variables of every step (object-store credentials, ...).
    env_from_secrets: list[str] = field(default_factory=list)
    #: Extra seconds on top of a step's timeout for ``activeDeadlineSeconds`` (scheduling, image pull).
    deadline_slack: float = 60.0
    default_resources: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``s3://bucket/prefix``: artifacts go through an object store instead of the shared volume.
    artifact_store: str = ""
    #: Environment of the object-store client (region, ...) passed to every step.
    artifact_store_env: dict[str, str] = field(default_factory=dict)
    #: The endpoint of an S3-compatible store (MinIO: ``http://minio:9000``); "" for AWS S3.
    artifact_store_endpoint: str = ""
    #: A Secret with keys ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, referenced by the step pods.
    artifact_store_secret: str = ""
    #: The controller's artifact folder that the store mirrors (``<root>/<path>`` is ``<store>/<path>``).
    artifact_root: str = ""


def slug(text: str, limit: int = 63) -> str:
    """A DNS-label-safe piece of a name: lowercase letters, digits and '-'."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return out or "x"


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a sanitized form with a hash (stable, unique enough)."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:54].strip("-_.")
    return f"{cleaned}-{_digest(text)}" if cleaned else _digest(text)


def pod_base_name(launch: StepLaunch) -> str:
    """``<experiment>-<trial>-<step>-<run8>-<attempt>``, at most 63 characters (a valid hostname too)."""
    if not launch.run_id:
        return slug(launch.name, 50)
    trial = str(launch.trial) if launch.trial is not None else "run"
    tail = f"-{trial}-{{step}}-{launch.run_id[:8].lower()}-{launch.attempt}"
    room = 63 - len(tail.format(step=""))
    step = slug(launch.step or launch.name, max(8, room // 2))
    exp = slug(launch.experiment or "wb", max(1, room - len(step) - 1))
    return f"{exp}{tail.format(step=step)}"[:63].strip("-")


def step_env(launch: StepLaunch) -> dict[str, str]:
    """The environment a step pod gets: what the step defines plus the engine's ``WORKBENCH_*`` variables."""
    if launch.own_env is not None:
        env = dict(launch.own_env)
    else:  # unknown: keep what the engine added to the controller's environment
        env = {k: v for k, v in launch.env.items() if os.environ.get(k) != v and not k.startswith("WORKBENCH_")}
    for key in STEP_ENV:
        if key in launch.env:
            env.setdefault(key, launch.env[key])
    return env


def is_python_step(argv: list[str]) -> bool:
    """A Python-function component (run by ``workbench.runtime.launch``)."""
    return len(argv) > 2 and argv[1:3] == ["-m", "workbench.runtime.launch"]


def _pod_argv(argv: list[str]) -> list[str]:
    """The controller's interpreter (Python components) is ``python`` in the image."""
    if argv and argv[0] == sys.executable:
        return ["python", *argv[1:]]
    return list(argv)


def escape_expansion(text: str) -> str:
    """Kubernetes expands ``$(VAR)`` in command and args; ``$$`` keeps a literal ``$`` (arguments stay literal)."""
    return text.replace("$", "$$")


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """``${trialParameters.x}`` replaced by the value of ``x`` in every string of a manifest."""
    if isinstance(value, str):
        return _TRIAL_PARAM.sub(lambda m: _text(params[m.group(1)]) if m.group(1) in params else m.group(0), value)
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_dict(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``over`` on top, nested mappings merged."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dict(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _under(path: str, root: str) -> bool:
    if not path or not root:
        return False
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class Transfers:
    """What a step's pod moves through the object store (``PATH`` as the controller names it, ``URI``)."""

    #: Downloaded before the command runs.
    inputs: list[tuple[str, str]] = field(default_factory=list)
    #: Uploaded after it exits (what exists), and downloaded by the controller after a success.
    outputs: list[tuple[str, str]] = field(default_factory=list)
    #: Files only the controller has (value files given as paths): it uploads them before the pod starts.
    uploads: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs)


def store_uri(path: str, cfg: PodConfig) -> str | None:
    """The object-store URI of a path under the artifact root, else ``None``."""
    if not cfg.artifact_store or not cfg.artifact_root or not _under(path, cfg.artifact_root):
        return None
    from workbench.runtime.objstore import join_uri

    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(cfg.artifact_root))
    return join_uri(cfg.artifact_store, "" if rel == "." else rel)


def object_transfers(launch: StepLaunch, cfg: PodConfig) -> Transfers:
    """The transfers of a step: its outputs, its input artifacts, and controller-side files its command names.

    Artifacts under the artifact root map to the same relative key under the store; a file the
    command line names that lies in the workspace folder (``mount_path``) but outside the root (a
    value the engine wrote to a file for an ``inputPath``) is uploaded by the controller under
    ``<store>/.inputs/<run>/<step>/<attempt>/``. Other paths (data baked into the image) stay as they are.
    """
    out = Transfers()
    if not cfg.artifact_store:
        return out
    from workbench.runtime.objstore import join_uri

    for name, path in sorted(launch.outputs.items()):
        uri = store_uri(path, cfg) or join_uri(
            cfg.artifact_store, f".outputs/{launch.run_id or launch.name}/{launch.step or launch.name}/{name}"
        )
        out.outputs.append((path, uri))
    seen = {p for p, _ in out.outputs}
    scratch = join_uri(cfg.artifact_store, f".inputs/{launch.run_id or launch.name}/{launch.step or launch.name}/"
                       f"{launch.attempt}")  # fmt: skip
    candidates = list(launch.input_paths) + [a for a in launch.argv if os.path.isabs(a) and len(a) < 4096]
    for path in candidates:
        if path in seen:
            continue
        uri = store_uri(path, cfg)
        if uri is not None:
            out.inputs.append((path, uri))
            seen.add(path)
        elif cfg.mount_path and _under(path, cfg.mount_path) and os.path.isfile(path):
            uri = join_uri(scratch, f"{len(out.uploads)}-{os.path.basename(path)}")
            out.inputs.append((path, uri))
            out.uploads.append((path, uri))
            seen.add(path)
    return out


def wrap_command(argv: list[str], transfers: Transfers) -> list[str]:
    """The pod command that runs ``argv`` through the object-store wrapper."""
    args = list(OBJSTORE_WRAPPER)
    for path, uri in transfers.inputs:
        args += ["--in", f"{path}={uri}"]
    for path, uri in transfers.outputs:
        args += ["--out", f"{path}={uri}"]
    return [*args, "--", *argv]


def wants_retain(launch: StepLaunch, default: bool = False) -> bool:
    value = launch.kubernetes.get("retain")
    return default if value is None else bool(value)


def build_pod(launch: StepLaunch, cfg: PodConfig, name: str, namespace: str, retain: bool = False,
              transfers: Transfers | None = None) -> dict[str, Any]:  # fmt: skip
    """The pod manifest of a step (a plain mapping, as the API takes it).

    With an object store (``cfg.artifact_store``), the command runs through the step runtime's
    wrapper (``python -m workbench.runtime.objstore``) when the step has artifacts to move, the
    credentials come from the ``artifact_store_secret`` Secret (``secretKeyRef``, never a literal)
    and an emptyDir at /tmp holds the staged files; no volume is shared between pods.
    """
    settings = launch.kubernetes or {}
    template = settings.get("podTemplate")
    params = {k: v for k, v in launch.parameters.items()}
    if template:
        template = substitute(copy.deepcopy(template), params)
        spec: dict[str, Any] = copy.deepcopy(template.get("spec") or {})
        meta = template.get("metadata") or {}
    else:
        spec, meta = {"containers": [{"name": MAIN_CONTAINER}]}, {}
    containers: list[dict[str, Any]] = spec.setdefault("containers", [{"name": MAIN_CONTAINER}])
    primary_name = settings.get("primaryContainer")
    main = next((c for c in containers if primary_name and c.get("name") == primary_name), containers[0])

    # The command: argv, literal (escaped) unless it comes from a Katib template, where $(VAR) is the user's.
    argv = _pod_argv(launch.argv)
    if not template:
        argv = [escape_expansion(a) for a in argv]
    original_has_command = bool(main.get("command")) if template else not launch.entrypoint_args
    if transfers is None:
        transfers = object_transfers(launch, cfg)
    if transfers:
        if not original_has_command:
            from workbench.errors import SpecError

            raise SpecError(
                f"step {launch.step or launch.name}: object-store artifacts run the step's command through "
                "workbench.runtime.objstore, so the component must give its command (it gives only args for "
                "the image's entrypoint)",
                path="implementation.container.command",
            )
        argv = [escape_expansion(a) for a in wrap_command([], transfers)] + argv
    if original_has_command:
        main["command"] = argv
        main.pop("args", None)
    else:
        main["args"] = argv
        main.pop("command", None)

    image = launch.image or settings.get("image") or main.get("image") or cfg.image
    main["image"] = image
    pull_policy = settings.get("imagePullPolicy") or cfg.image_pull_policy
    if pull_policy:
        main["imagePullPolicy"] = pull_policy

    env = step_env(launch)
    secret_env: list[dict[str, Any]] = []
    if cfg.artifact_store:
        env.update(cfg.artifact_store_env)
        if cfg.artifact_store_endpoint:
            env["WORKBENCH_S3_ENDPOINT_URL"] = cfg.artifact_store_endpoint
        if cfg.artifact_store_secret:
            for key in STORE_SECRET_KEYS:
                env.pop(key, None)
                secret_env.append(
                    {"name": key, "valueFrom": {"secretKeyRef": {"name": cfg.artifact_store_secret, "key": key}}}
                )
    names = set(env) | {e["name"] for e in secret_env}
    existing = [e for e in main.get("env") or [] if e.get("name") not in names]
    main["env"] = existing + [{"name": k, "value": v} for k, v in env.items()] + secret_env
    if cfg.env_from_secrets:
        main["envFrom"] = list(main.get("envFrom") or []) + [
            {"secretRef": {"name": s, "optional": True}} for s in cfg.env_from_secrets
        ]
    # The working directory: the step's own folder when the pod sees it (on the shared volume), or for
    # Python components (which only use absolute paths); otherwise the image's WORKDIR.
    shared = bool(cfg.volume_claim and cfg.mount_path and not cfg.artifact_store)
    if not main.get("workingDir") and launch.workdir:
        if (shared and _under(launch.workdir, cfg.mount_path)) or (
            is_python_step(launch.argv) and not cfg.artifact_store
        ):
            main["workingDir"] = launch.workdir

    resources = settings.get("resources")
    if resources:
        from workbench.spec._kubernetes import ResourcesSpec

        main["resources"] = ResourcesSpec.model_validate(resources).requirements()
    elif not main.get("resources") and cfg.default_resources:
        main["resources"] = copy.deepcopy(cfg.default_resources)

    for container in [*containers, *(spec.get("initContainers") or [])]:
        explicit = container.get("securityContext") or {}
        ctx = merge_dict(CONTAINER_SECURITY_DEFAULT, explicit)
        if container is main:
            ctx = merge_dict(ctx, settings.get("securityContext"))
        container["securityContext"] = ctx
    spec["securityContext"] = merge_dict(
        merge_dict(POD_SECURITY_DEFAULT, spec.get("securityContext")), settings.get("podSecurityContext")
    )

    if shared:
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") != WORKSPACE_VOLUME]
        spec["volumes"] = volumes + [
            {"name": WORKSPACE_VOLUME, "persistentVolumeClaim": {"claimName": cfg.volume_claim}}
        ]
        mounts = [m for m in main.get("volumeMounts") or [] if m.get("name") != WORKSPACE_VOLUME]
        main["volumeMounts"] = mounts + [{"name": WORKSPACE_VOLUME, "mountPath": cfg.mount_path}]
    elif transfers and not any(m.get("mountPath") == STAGING_PATH for m in main.get("volumeMounts") or []):
        spec["volumes"] = [*(spec.get("volumes") or []), {"name": STAGING_VOLUME, "emptyDir": {}}]
        main["volumeMounts"] = [*(main.get("volumeMounts") or []), {"name": STAGING_VOLUME, "mountPath": STAGING_PATH}]

    spec["restartPolicy"] = "Never"
    if settings.get("nodeSelector"):
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **settings["nodeSelector"]}
    if settings.get("tolerations"):
        spec["tolerations"] = copy.deepcopy(settings["tolerations"])
    if settings.get("affinity"):
        spec["affinity"] = copy.deepcopy(settings["affinity"])
    account = settings.get("serviceAccountName") or spec.get("serviceAccountName") or cfg.service_account
    if account:
        spec["serviceAccountName"] = account
    else:
        spec.setdefault("automountServiceAccountToken", False)  # steps do not talk to the API
    if settings.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s} for s in settings["imagePullSecrets"]]
    if settings.get("priorityClassName"):
        spec["priorityClassName"] = settings["priorityClassName"]
    if launch.timeout:
        deadline = int(math.ceil(launch.timeout + cfg.deadline_slack))
        current = spec.get("activeDeadlineSeconds")
        spec["activeDeadlineSeconds"] = min(deadline, current) if isinstance(current, int) else deadline
    spec.setdefault("enableServiceLinks", False)

    labels = {**(meta.get("labels") or {}), **(settings.get("labels") or {})}
    labels.update(
        {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_COMPONENT: STEP_COMPONENT,
            LABEL_EXPERIMENT: label_value(launch.experiment or "none"),
            LABEL_RUN: label_value(launch.run_id or name),
            LABEL_STEP: label_value(launch.step or launch.name),
            LABEL_ATTEMPT: str(launch.attempt),
        }
    )
    if launch.trial is not None:
        labels[LABEL_TRIAL] = str(launch.trial)
    if retain:
        labels[LABEL_RETAIN] = "true"
    annotations = {**(meta.get("annotations") or {}), **(settings.get("annotations") or {})}
    annotations[ANNOTATION_EXPERIMENT] = launch.experiment
    annotations[ANNOTATION_STEP] = launch.step or launch.name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": spec,
    }


def experiment_selector(experiment: str) -> str:
    """The label selector of an experiment's step pods (the one watch)."""
    return f"{LABEL_EXPERIMENT}={label_value(experiment)},{LABEL_COMPONENT}={STEP_COMPONENT}"


__all__ = [
    "CONTAINER_SECURITY_DEFAULT",
    "LABEL_EXPERIMENT",
    "LABEL_RUN",
    "LABEL_STEP",
    "POD_SECURITY_DEFAULT",
    "PodConfig",
    "Transfers",
    "build_pod",
    "experiment_selector",
    "label_value",
    "pod_base_name",
    "slug",
    "step_env",
    "store_uri",
    "object_transfers",
    "wrap_command",
]
