"""A recurring pipeline run as a Kubernetes CronJob (``workbench schedule create --backend kubernetes``).

Two objects: a ConfigMap holding the resolved pipeline and the files it uses (the same bundle as
``workbench submit``), and a CronJob whose pods lay those files out on the shared volume (an
init container) and run ``workbench pipeline run`` with the kubernetes backend against the
cluster's stores. Pods run as non-root with every capability dropped, like every Workbench pod.

What a CronJob cannot express is refused with a ``SpecError``: 6-field (seconds) cron, periods
that are not a whole number of minutes dividing an hour or a day, start/end times, a
``max_concurrency`` other than 1, and experiment targets.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import SpecError
from workbench.schedule._trigger import Trigger


def cron_of(trigger: Trigger) -> str:
    """The 5-field cron expression a CronJob takes for this trigger."""
    if trigger.cron is not None:
        if trigger.seconds_field:
            raise SpecError("a Kubernetes CronJob has no seconds field: use a 5-field cron expression",
                            path="trigger.cron")  # fmt: skip
        return trigger.cron
    every = trigger.every or 0
    if every % 60 == 0 and 60 % (every // 60) == 0 and every < 3600:
        return f"*/{every // 60} * * * *" if every > 60 else "* * * * *"
    if every % 3600 == 0 and 24 % (every // 3600) == 0 and every < 86400:
        return f"0 */{every // 3600} * * *" if every > 3600 else "0 * * * *"
    if every == 86400:
        return "0 0 * * *"
    raise SpecError(
        f"a period of {every}s has no cron equivalent for a CronJob: use minutes dividing an hour, hours "
        "dividing a day, 1d, or a cron expression",
        path="trigger.every",
    )


def cronjob_objects(
    name: str,
    pipeline_doc: dict[str, Any],
    trigger: Trigger,
    namespace: str,
    image: str,
    params: dict[str, Any] | None = None,
    experiment: str = "Default",
    max_concurrency: int = 1,
    catchup: bool = True,
    enabled: bool = True,
    cache: bool = True,
) -> list[dict[str, Any]]:
    """The ConfigMap and the CronJob of a recurring pipeline run in ``namespace``."""
    from workbench.backends._bundle import BundleError, make_bundle
    from workbench.backends._k8s_manifests import (
        ARTIFACTS_CLAIM,
        CONTROLLER_ACCOUNT,
        WORKSPACE_PATH,
        _container_security,
        _pod_security,
        workbench_env,
    )
    from workbench.backends._k8s_pod import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY, label_value, slug

    if trigger.start is not None or trigger.end is not None:
        raise SpecError("a Kubernetes CronJob has no start or end time", path="trigger.start")
    if max_concurrency != 1:
        raise SpecError(
            "a Kubernetes CronJob cannot cap its jobs at N > 1 (it runs one at a time, or any number): "
            "use --max-concurrency 1, or the local scheduler",
            path="max_concurrency",
        )
    schedule = cron_of(trigger)
    base = f"wb-{slug(name, 40)}"
    try:
        contents, layout = make_bundle(pipeline_doc, f"schedule-{name}")
    except BundleError as err:
        raise SpecError(str(err), path="pipeline") from None
    contents["data"]["pipeline.yaml"] = contents["data"].pop("experiment.yaml")
    items = [i if i["key"] != "experiment.yaml" else {"key": "pipeline.yaml", "path": "pipeline.yaml"}
             for i in layout["items"]]  # fmt: skip
    target = layout["target"]
    labels = {"workbench.io/schedule": label_value(name), LABEL_COMPONENT: "schedule", LABEL_MANAGED_BY: MANAGED_BY}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{base}-pipeline", "namespace": namespace, "labels": labels},
        **{k: v for k, v in contents.items() if v},
    }
    argv = ["workbench", "pipeline", "run", f"{target}/pipeline.yaml", "--backend", "kubernetes",
            "--experiment", experiment, "--namespace", namespace, "--schedule", name, "--quiet"]  # fmt: skip
    for key, value in (params or {}).items():
        argv += ["--param", f"{key}={value}"]
    if not cache:
        argv.append("--no-cache")
    env = workbench_env(namespace, image)  # the stores include the runs database (WORKBENCH_RUNS_URL)
    mounts = [{"name": "workspace", "mountPath": WORKSPACE_PATH}]
    resources = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": base, "namespace": namespace, "labels": labels},
        "spec": {
            "schedule": schedule,
            "timeZone": trigger.timezone,
            "concurrencyPolicy": "Forbid",
            "suspend": not enabled,
            # Without catch-up, a CronJob that missed its time by more than a minute skips that run.
            **({} if catchup else {"startingDeadlineSeconds": 60}),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 0,
                    "ttlSecondsAfterFinished": 7 * 24 * 3600,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": CONTROLLER_ACCOUNT,
                            "restartPolicy": "Never",
                            "securityContext": _pod_security(),
                            "initContainers": [
                                {
                                    "name": "unpack",
                                    "image": image,
                                    "command": ["workbench", "pipeline", "unpack", "--bundle",
                                                "/etc/workbench/bundle", "--target", target],  # fmt: skip
                                    "volumeMounts": [
                                        {"name": "bundle", "mountPath": "/etc/workbench/bundle", "readOnly": True},
                                        *mounts,
                                    ],
                                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                  "limits": {"memory": "256Mi"}},  # fmt: skip
                                    "securityContext": _container_security(),
                                }
                            ],
                            "containers": [
                                {
                                    "name": "run",
                                    "image": image,
                                    "command": argv,
                                    "env": env,
                                    "volumeMounts": mounts,
                                    "resources": resources,
                                    "securityContext": _container_security(),
                                }
                            ],
                            "volumes": [
                                {"name": "bundle", "configMap": {"name": f"{base}-pipeline", "items": items}},
                                {"name": "workspace", "persistentVolumeClaim": {"claimName": ARTIFACTS_CLAIM}},
                            ],
                        },
                    },
                },
            },
        },
    }
    return [config_map, cronjob]


__all__ = ["cron_of", "cronjob_objects"]
