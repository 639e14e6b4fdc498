"""Kubernetes manifests: the Workbench deployment (``workbench k8s manifests``, ``deploy/k8s``) and the
controller Job that ``workbench submit`` creates.

The deployment: a namespace, the controller's ServiceAccount with a Role holding only the verbs it
needs and its RoleBinding, the store credentials (a Secret), PostgreSQL (a StatefulSet with its
volume; one server, databases ``optuna``, ``mlflow``, ``mlmd`` and ``runs``), MinIO (MLflow's artifacts), the
MLflow tracking server, the dashboard, and the ReadWriteMany volume every step pod mounts.
``deploy/k8s/base`` holds the same objects for kustomize (a test keeps them in sync).
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

from workbench.backends._bundle import WORKSPACE_PATH, make_bundle
from workbench.backends._k8s_pod import (
    CONTAINER_SECURITY_DEFAULT,
    CONTROLLER_COMPONENT,
    LABEL_COMPONENT,
    LABEL_EXPERIMENT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    label_value,
    slug,
)
from workbench.errors import SpecError

DEFAULT_NAMESPACE = "workbench"
DEFAULT_IMAGE = "workbench:latest"
CONTROLLER_ACCOUNT = "workbench-controller"
STORES_SECRET = "workbench-stores"
ARTIFACTS_CLAIM = "workbench-artifacts"
#: The MinIO bucket for object-store artifacts (``kubernetes.artifactStore = "s3://workbench-artifacts/..."``).
ARTIFACTS_BUCKET = "workbench-artifacts"
POSTGRES_IMAGE = "docker.io/library/postgres:16"
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
#: The verbs the in-cluster controller uses, and nothing more (tests/backends/test_kubernetes_rbac.py diffs
#: them against its API calls): step pods and their logs. ``get`` reads back a pod whose create answer was
#: lost. ConfigMaps and Jobs are created by ``workbench submit`` with the user's own credentials.
CONTROLLER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
#: The user of the bundled PostgreSQL and MinIO.
STORE_USER = "workbench"
#: Characters a store password may hold: it goes into database URLs unescaped.
_PASSWORD_CHARS = frozenset(string.ascii_letters + string.digits + "._~-")
MIN_PASSWORD_LENGTH = 12
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _labels(component: str, name: str = "workbench") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "workbench",
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def _meta(name: str, namespace: str, component: str, app: str | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": _labels(component, app or name)}


def _container_security(uid: int | None = None) -> dict[str, Any]:
    ctx = json.loads(json.dumps(CONTAINER_SECURITY_DEFAULT))
    if uid is not None:
        ctx["runAsUser"] = uid
        ctx["runAsGroup"] = uid
    return ctx


def _pod_security(uid: int = 1000) -> dict[str, Any]:
    return {**_POD_SECURITY, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}


def _secret_env(*keys: str) -> list[dict[str, Any]]:
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": STORES_SECRET, "key": k}}} for k in keys]


def store_urls() -> dict[str, str]:
    """The store settings of a workspace on the cluster (the password comes from the Secret).

    Short service names: the controller, its step pods and the stores share a namespace.
    """
    return {
        "WORKBENCH_OPTUNA_URL": "postgresql://workbench:$(POSTGRES_PASSWORD)@postgres:5432/optuna",
        "WORKBENCH_MLMD_URL": "postgresql://workbench:$(POSTGRES_PASSWORD)@postgres:5432/mlmd",
        "WORKBENCH_RUNS_URL": "postgresql://workbench:$(POSTGRES_PASSWORD)@postgres:5432/runs",
        "WORKBENCH_MLFLOW_URI": "http://mlflow:5000",
    }


def workbench_env(namespace: str, image: str, settings: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The environment of a Workbench process in the cluster (controller Job, CronJob pod): the shared
    workspace volume, the Kubernetes backend's settings, ``settings`` and the stores."""
    return [
        {"name": "WORKBENCH_HOME", "value": WORKSPACE_PATH},
        {"name": "WORKBENCH_BACKEND", "value": "kubernetes"},
        {"name": "WORKBENCH_K8S_NAMESPACE", "value": namespace},
        {"name": "WORKBENCH_K8S_IMAGE", "value": image},
        {"name": "WORKBENCH_K8S_VOLUME_CLAIM", "value": ARTIFACTS_CLAIM},
        {"name": "WORKBENCH_K8S_MOUNT_PATH", "value": WORKSPACE_PATH},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        *({"name": k, "value": v} for k, v in (settings or {}).items()),
        *_store_env(),
    ]


def _store_env() -> list[dict[str, Any]]:
    """The controller's and dashboard's environment: the password first (the URLs expand it)."""
    env = _secret_env("POSTGRES_PASSWORD")
    env += [{"name": k, "value": v} for k, v in store_urls().items()]
    return env


def check_password(value: str, option: str) -> str:
    """A store password given by the user: long enough, and only characters a URL takes as they are."""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise SpecError(f"{option}: a password needs at least {MIN_PASSWORD_LENGTH} characters")
    bad = sorted(set(value) - _PASSWORD_CHARS)
    if bad:
        raise SpecError(f"{option}: {bad[0]!r} is not allowed (letters, digits, '.', '_', '~' and '-' only: the "
                        "password goes into database URLs)")  # fmt: skip
    return value


def store_credentials(postgres_password: str | None = None, minio_password: str | None = None) -> dict[str, str]:
    """The keys of the ``workbench-stores`` Secret: the given passwords, else new random ones (``secrets``)."""
    postgres = check_password(postgres_password, "--postgres-password") if postgres_password else None
    minio = check_password(minio_password, "--minio-password") if minio_password else None
    postgres = postgres or secrets.token_urlsafe(24)
    minio = minio or secrets.token_urlsafe(24)
    return {
        "POSTGRES_USER": STORE_USER,
        "POSTGRES_PASSWORD": postgres,
        "MINIO_ROOT_USER": STORE_USER,
        "MINIO_ROOT_PASSWORD": minio,
        "AWS_ACCESS_KEY_ID": STORE_USER,
        "AWS_SECRET_ACCESS_KEY": minio,
    }


def stores_env(credentials: dict[str, str]) -> str:
    """The ``stores.env`` file of the kustomize base (``KEY=value`` lines) holding ``credentials``."""
    return "# Credentials of the bundled stores (workbench k8s stores-env): keep this file private.\n" + "".join(
        f"{k}={v}\n" for k, v in credentials.items()
    )


def deployment_manifests(
    namespace: str = DEFAULT_NAMESPACE,
    image: str = DEFAULT_IMAGE,
    storage_class: str | None = None,
    artifacts_size: str = "50Gi",
    credentials: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every object of a Workbench deployment in ``namespace``, running ``image``.

    ``credentials``: the Secret's keys (:func:`store_credentials`; default: new random passwords).
    """
    ns = namespace
    objs: list[dict[str, Any]] = []
    objs.append({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {
            **_labels("namespace", "workbench"),
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }},
    })  # fmt: skip
    objs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(CONTROLLER_ACCOUNT, ns, "controller")})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": _meta(CONTROLLER_ACCOUNT, ns, "controller"), "rules": CONTROLLER_RULES})  # fmt: skip
    objs.append({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": _meta(CONTROLLER_ACCOUNT, ns, "controller"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CONTROLLER_ACCOUNT},
        "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER_ACCOUNT, "namespace": ns}],
    })  # fmt: skip
    objs.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": _meta(STORES_SECRET, ns, "stores"),
                 "stringData": credentials or store_credentials()})  # fmt: skip
    claim: dict[str, Any] = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": artifacts_size}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    objs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                 "metadata": _meta(ARTIFACTS_CLAIM, ns, "artifacts"), "spec": claim})  # fmt: skip
    objs += _postgres(ns, storage_class)
    objs += _minio(ns, storage_class)
    objs += _mlflow(ns, image)
    objs += _dashboard(ns, image)
    return objs


def _service(name: str, ns: str, component: str, ports: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, component),
        "spec": {"selector": {"app.kubernetes.io/name": name},
                 "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]},
    }  # fmt: skip


def _postgres(ns: str, storage_class: str | None) -> list[dict[str, Any]]:
    init = (
        "CREATE DATABASE optuna OWNER workbench;\n"
        "CREATE DATABASE mlflow OWNER workbench;\n"
        "CREATE DATABASE mlmd OWNER workbench;\n"
        "CREATE DATABASE runs OWNER workbench;\n"
    )
    volume_claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    if storage_class:
        volume_claim["storageClassName"] = storage_class
    probe = {"exec": {"command": ["pg_isready", "-U", "workbench", "-d", "postgres"]}, "periodSeconds": 10}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("postgres-init", ns, "database", "postgres"),
         "data": {"databases.sql": init}},
        _service("postgres", ns, "database", [("postgres", 5432)]),
        {
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta("postgres", ns, "database"),
            "spec": {
                "serviceName": "postgres", "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}},
                "template": {
                    "metadata": {"labels": _labels("database", "postgres")},
                    "spec": {
                        "securityContext": _pod_security(999),
                        "automountServiceAccountToken": False,
                        "containers": [{
                            "name": "postgres", "image": POSTGRES_IMAGE,
                            "ports": [{"name": "postgres", "containerPort": 5432}],
                            "env": [*_secret_env("POSTGRES_USER", "POSTGRES_PASSWORD"),
                                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                             {"name": "init", "mountPath": "/docker-entrypoint-initdb.d"},
                                             {"name": "run", "mountPath": "/var/run/postgresql"}],
                            "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 30},
                            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                            "securityContext": _container_security(999),
                        }],
                        "volumes": [{"name": "init", "configMap": {"name": "postgres-init"}},
                                    {"name": "run", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": volume_claim}],
            },
        },
    ]  # fmt: skip


def _minio(ns: str, storage_class: str | None) -> list[dict[str, Any]]:
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    probe = {"httpGet": {"path": "/minio/health/live", "port": 9000}, "periodSeconds": 10}
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("minio-data", ns, "object-store",
                                                                                 "minio"), "spec": claim},
        _service("minio", ns, "object-store", [("api", 9000), ("console", 9001)]),
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("minio", ns, "object-store"),
            "spec": {
                "replicas": 1, "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app.kubernetes.io/name": "minio"}},
                "template": {
                    "metadata": {"labels": _labels("object-store", "minio")},
                    "spec": {
                        "securityContext": _pod_security(1000),
                        "automountServiceAccountToken": False,
                        "containers": [{
                            "name": "minio", "image": MINIO_IMAGE,
                            "args": ["server", "/data", "--console-address", ":9001"],
                            "env": _secret_env("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
                            "ports": [{"name": "api", "containerPort": 9000},
                                      {"name": "console", "containerPort": 9001}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "readinessProbe": probe, "livenessProbe": probe,
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                            "securityContext": _container_security(),
                        }],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "minio-data"}}],
                    },
                },
            },
        },
    ]  # fmt: skip


def _mlflow(ns: str, image: str) -> list[dict[str, Any]]:
    s3 = [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": "http://minio:9000"},
          *_secret_env("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]  # fmt: skip
    bucket = (
        "import boto3, os\n"
        "s3 = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'])\n"
        "names = [b['Name'] for b in s3.list_buckets().get('Buckets', [])]\n"
        f"[s3.create_bucket(Bucket=b) for b in ('mlflow', '{ARTIFACTS_BUCKET}') if b not in names]\n"
    )
    db = "postgresql://workbench:$(POSTGRES_PASSWORD)@postgres:5432/mlflow"
    probe = {"httpGet": {"path": "/health", "port": 5000}, "periodSeconds": 10}
    return [
        _service("mlflow", ns, "tracking", [("http", 5000)]),
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("mlflow", ns, "tracking"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}},
                "template": {
                    "metadata": {"labels": _labels("tracking", "mlflow")},
                    "spec": {
                        "securityContext": _pod_security(),
                        "automountServiceAccountToken": False,
                        "initContainers": [{
                            "name": "bucket", "image": image, "command": ["python", "-c", bucket], "env": s3,
                            "securityContext": _container_security(),
                        }],
                        "containers": [{
                            "name": "mlflow", "image": image,
                            "command": ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000",
                                        "--backend-store-uri", db, "--artifacts-destination", "s3://mlflow",
                                        "--serve-artifacts"],
                            "env": [*_secret_env("POSTGRES_PASSWORD"), *s3],
                            "ports": [{"name": "http", "containerPort": 5000}],
                            "readinessProbe": probe, "livenessProbe": {**probe, "initialDelaySeconds": 30},
                            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                            "securityContext": _container_security(),
                        }],
                    },
                },
            },
        },
    ]  # fmt: skip


def _dashboard(ns: str, image: str) -> list[dict[str, Any]]:
    probe = {"httpGet": {"path": "/_stcore/health", "port": 8501}, "periodSeconds": 10}
    return [
        _service("dashboard", ns, "dashboard", [("http", 8501)]),
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("dashboard", ns, "dashboard"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "dashboard"}},
                "template": {
                    "metadata": {"labels": _labels("dashboard", "dashboard")},
                    "spec": {
                        "securityContext": _pod_security(),
                        "automountServiceAccountToken": False,
                        "containers": [{
                            "name": "dashboard", "image": image,
                            # `workbench ui`: read-only by default; inside the cluster it listens on the pod IP.
                            "command": ["workbench", "ui", "--host", "0.0.0.0", "--port", "8501"],
                            "env": [{"name": "WORKBENCH_HOME", "value": WORKSPACE_PATH}, *_store_env()],
                            "ports": [{"name": "http", "containerPort": 8501}],
                            "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE_PATH, "readOnly": True}],
                            "readinessProbe": probe,
                            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                            "securityContext": _container_security(),
                        }],
                        "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": ARTIFACTS_CLAIM}}],
                    },
                },
            },
        },
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------- submit


def controller_objects(doc: dict[str, Any], experiment: str, namespace: str, image: str,
                       settings_env: dict[str, str] | None = None,
                       store_secret: str = "") -> list[dict[str, Any]]:  # fmt: skip
    """The ConfigMap (the experiment and its files) and the Job running the controller in the cluster.

    ``store_secret``: with object-store artifacts, the Secret whose ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` the controller uses too (it fetches step outputs from the store).
    """
    contents, layout = make_bundle(doc, experiment)
    base = f"wb-{slug(experiment, 40)}"
    labels = {
        LABEL_EXPERIMENT: label_value(experiment),
        LABEL_COMPONENT: CONTROLLER_COMPONENT,
        LABEL_MANAGED_BY: MANAGED_BY,
    }
    annotations = {"workbench.io/experiment-name": experiment}
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"{base}-bundle", "namespace": namespace, "labels": labels, "annotations": annotations},
        **{k: v for k, v in contents.items() if v},
    }  # fmt: skip
    env = [
        *workbench_env(namespace, image, settings_env),
        *({"name": k, "valueFrom": {"secretKeyRef": {"name": store_secret, "key": k}}}
          for k in (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if store_secret else ())),
    ]
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"{base}-controller", "namespace": namespace, "labels": labels,
                     "annotations": annotations},
        "spec": {
            # A controller that dies is started again and resumes the experiment from the shared stores.
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": CONTROLLER_ACCOUNT,
                    "restartPolicy": "Never",
                    "securityContext": _pod_security(),
                    "containers": [{
                        "name": "controller", "image": image,
                        "command": ["workbench", "k8s", "controller", "--bundle", "/etc/workbench/bundle",
                                    "--target", layout["target"]],
                        "env": env,
                        "volumeMounts": [
                            {"name": "bundle", "mountPath": "/etc/workbench/bundle", "readOnly": True},
                            {"name": "workspace", "mountPath": WORKSPACE_PATH},
                        ],
                        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                        "securityContext": _container_security(),
                    }],
                    "volumes": [
                        {"name": "bundle", "configMap": {"name": f"{base}-bundle", "items": layout["items"]}},
                        {"name": "workspace", "persistentVolumeClaim": {"claimName": ARTIFACTS_CLAIM}},
                    ],
                },
            },
        },
    }  # fmt: skip
    return [config_map, job]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream."""
    import yaml

    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


#: How ``deploy/k8s/base`` splits the deployment into files (kind/name -> file).
BASE_FILES = {
    "namespace.yaml": [("Namespace", "workbench")],
    "rbac.yaml": [("ServiceAccount", CONTROLLER_ACCOUNT), ("Role", CONTROLLER_ACCOUNT),
                  ("RoleBinding", CONTROLLER_ACCOUNT)],
    "artifacts-pvc.yaml": [("PersistentVolumeClaim", ARTIFACTS_CLAIM)],
    "postgres.yaml": [("ConfigMap", "postgres-init"), ("Service", "postgres"), ("StatefulSet", "postgres")],
    "minio.yaml": [("PersistentVolumeClaim", "minio-data"), ("Service", "minio"), ("Deployment", "minio")],
    "mlflow.yaml": [("Service", "mlflow"), ("Deployment", "mlflow")],
    "dashboard.yaml": [("Service", "dashboard"), ("Deployment", "dashboard")],
}
_HEADER = "# Generated by `python -m workbench.backends._k8s_manifests deploy/k8s/base`: edit the generator.\n"


#: The base ships no credentials: the Secret is generated from a ``stores.env`` the user writes first.
_STORES_NOTE = (
    "#\n"
    "# The store credentials are not part of this base: write them once, with new random passwords, before\n"
    "# the first deployment (the file is git-ignored; keep it, the databases keep their first password):\n"
    "#\n"
    "#   workbench k8s stores-env > deploy/k8s/base/stores.env\n"
)


def write_base(folder: str | Path) -> list[Path]:
    """Write ``deploy/k8s/base`` (kustomize): the deployment in namespace ``workbench`` with image ``workbench``.

    Everything but the Secret's values: its ``secretGenerator`` reads ``stores.env``, which the user
    writes with ``workbench k8s stores-env`` (random passwords); without it the build fails.
    """
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    objs = {(o["kind"], o["metadata"]["name"]): o for o in deployment_manifests(DEFAULT_NAMESPACE, "workbench")}
    written = []
    for filename, keys in BASE_FILES.items():
        path = folder / filename
        path.write_text(_HEADER + to_yaml([objs[k] for k in keys]), encoding="utf-8")
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": DEFAULT_NAMESPACE,
        "resources": list(BASE_FILES),
        "secretGenerator": [{"name": STORES_SECRET, "envs": ["stores.env"], "type": "Opaque"}],
        "generatorOptions": {"disableNameSuffixHash": True},  # `workbench submit` refers to it by name
        "images": [{"name": "workbench", "newName": "workbench", "newTag": "latest"}],
    }
    (folder / "kustomization.yaml").write_text(_HEADER + _STORES_NOTE + yaml.safe_dump(kustomization, sort_keys=False))
    return [*written, folder / "kustomization.yaml"]


if __name__ == "__main__":
    import sys

    for written_path in write_base(sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s/base"):
        print(written_path)
