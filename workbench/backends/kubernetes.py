"""The Kubernetes backend: one pod per step, through the official ``kubernetes`` client.

- **Pods.** Each step runs as a pod (``restartPolicy: Never``) named and labelled by experiment,
  trial, run, step and attempt (``workbench.io/*`` labels), with the step's resources, node
  selection, service account, pull secrets and priority class, ``activeDeadlineSeconds`` from the
  step's timeout, and a secure default (non-root, no privilege escalation, every capability
  dropped, seccomp RuntimeDefault) that a component can loosen explicitly. A Katib ``trialSpec``
  becomes the pod it describes. See :mod:`workbench.backends._k8s_pod`.
- **Status.** One watch per experiment (a label selector), resumed from the last
  ``resourceVersion`` and relisted on ``410 Gone``; step handles wait on events, never poll.
- **Logs.** Streamed with ``follow`` into the engine's metrics collector while the pod runs
  (resumed without duplicates if the stream drops).
- **Failures.** Non-zero exits, OOM kills, evictions and deadlines end the step with an exit code
  and a ``[kubernetes] ...`` line in its log (retries follow the step's policy); image pull
  errors, commands missing from the image and pods unschedulable for longer than
  ``unschedulableTimeout`` fail at once (:class:`StepLaunchError`, no retries); API throttling
  and server errors are retried with backoff.
- **Clean-up and adoption.** Pods are deleted when their step ends (unless ``retain``); a resumed
  controller adopts the pods still running for its experiment and deletes orphans.

Settings (``kubernetes:`` in ``$WORKBENCH_HOME/workbench.yaml``, or ``WORKBENCH_K8S_*``
variables) are described by :class:`KubernetesSettings`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, fields
from typing import Any

from workbench.backends._base import BaseBackend, StepHandle, StepLaunch, StepLaunchError
from workbench.backends._k8s_api import TERMINAL_PHASES, Api, ApiUnavailable, PodWatch, error_message, response_lines
from workbench.backends._k8s_pod import (
    LABEL_ATTEMPT,
    LABEL_RETAIN,
    LABEL_RUN,
    LABEL_STEP,
    MAIN_CONTAINER,
    PodConfig,
    build_pod,
    experiment_selector,
    label_value,
    object_transfers,
    pod_base_name,
    store_uri,
    wants_retain,
)
from workbench.errors import SpecError

log = logging.getLogger("workbench.backends.kubernetes")

#: Container waiting reasons that mean the step can never start: fail at once, no retries.
LAUNCH_ERRORS = {
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "InvalidImageName": "the image name is invalid",
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never",
    "CreateContainerConfigError": "the container's configuration is invalid",
    "CreateContainerError": "the container cannot be created",
    "RunContainerError": "the container cannot be run",
}
#: Terminated reasons that mean the command never ran (not in the image, not executable).
START_ERRORS = ("StartError", "ContainerCannotRun")


@dataclass
class KubernetesSettings(PodConfig):
    """How the backend reaches the cluster and builds pods.

    The pod-shaping fields (namespace, image, volume, service account, artifact store, ...) are
    those of :class:`~workbench.backends._k8s_pod.PodConfig`, declared there once; this class adds
    how to reach the API server and how the backend behaves.

    In ``$WORKBENCH_HOME/workbench.yaml`` (or the same keys in ``workbench.toml``)::

        backend: kubernetes            # the default backend of `workbench run`
        kubernetes:
          namespace: ml                # used when the experiment names no namespace of its own
          image: registry.example.com/workbench:0.1
          volumeClaim: workbench-artifacts   # ReadWriteMany, mounted at mountPath in every step pod
          mountPath: /workbench        # default: the workspace folder (the same path everywhere)
          unschedulableTimeout: 5m
          retain: false
          serviceAccount: workbench-step
          envFromSecrets: [workbench-stores]

    Or artifacts in an S3-compatible object store instead of the shared volume (the image needs
    ``workbench[s3]``; the Workbench image has it)::

        kubernetes:
          artifactStore: s3://workbench-artifacts/team-a    # or top-level `artifacts = "s3://..."`
          artifactStoreEndpoint: http://minio:9000          # "" for AWS S3
          artifactStoreSecret: workbench-s3                 # keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
          artifactStoreEnv: {AWS_DEFAULT_REGION: eu-west-1}

    Environment variables override the file: ``WORKBENCH_K8S_NAMESPACE``, ``..._IMAGE``,
    ``..._VOLUME_CLAIM``, ``..._MOUNT_PATH``, ``..._HOST`` (an API URL without authentication,
    for tests), ``..._CONTEXT``, ``..._UNSCHEDULABLE_TIMEOUT``, ``..._ARTIFACT_STORE``,
    ``..._ARTIFACT_STORE_SECRET``, ``..._SERVICE_ACCOUNT``, ``..._RETAIN``, and
    ``WORKBENCH_S3_ENDPOINT_URL`` (the store's endpoint).
    """

    unschedulable_timeout: float = 300.0
    retain: bool = False
    host: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool | None = None
    api_retries: int = 8
    api_backoff: float = 0.2
    api_max_backoff: float = 5.0
    watch_timeout: int = 300
    #: Seconds a step pod gets to stop when its step is cancelled or pruned (the engine's grace wins if given).
    delete_grace: float = 5.0

    _ENV = {
        "namespace": "WORKBENCH_K8S_NAMESPACE",
        "image": "WORKBENCH_K8S_IMAGE",
        "volume_claim": "WORKBENCH_K8S_VOLUME_CLAIM",
        "mount_path": "WORKBENCH_K8S_MOUNT_PATH",
        "host": "WORKBENCH_K8S_HOST",
        "context": "WORKBENCH_K8S_CONTEXT",
        "unschedulable_timeout": "WORKBENCH_K8S_UNSCHEDULABLE_TIMEOUT",
        "artifact_store": "WORKBENCH_K8S_ARTIFACT_STORE",
        "artifact_store_secret": "WORKBENCH_K8S_ARTIFACT_STORE_SECRET",
        "artifact_store_endpoint": "WORKBENCH_S3_ENDPOINT_URL",
        "service_account": "WORKBENCH_K8S_SERVICE_ACCOUNT",
        "retain": "WORKBENCH_K8S_RETAIN",
    }

    @classmethod
    def load(cls, workspace: Any = None, **overrides: Any) -> KubernetesSettings:
        """Settings from the workspace settings (``kubernetes``), the environment, then ``overrides``."""
        from workbench.spec._validation import parse_duration

        raw: dict[str, Any] = {}
        home = getattr(workspace, "home", None)
        top_artifacts = os.environ.get("WORKBENCH_ARTIFACTS", "")
        if home is not None:
            from workbench.settings import load_settings, settings_file

            everything = load_settings(home)
            section = everything.get("kubernetes")
            if section is not None and not isinstance(section, dict):
                raise SpecError("expected a mapping of Kubernetes settings", path="kubernetes",
                                source=str(settings_file(home)))  # fmt: skip
            raw.update(section or {})
            top_artifacts = top_artifacts or str(everything.get("artifacts") or "")
        if top_artifacts.startswith("s3://") and "artifactStore" not in raw and "artifact_store" not in raw:
            raw["artifact_store"] = top_artifacts  # `artifacts = "s3://..."`: the object store of the step pods
        for name, var in cls._ENV.items():
            if var in os.environ:
                raw[name] = os.environ[var]
        raw.update(overrides)
        known = {f.name: f for f in fields(cls)}
        camel = {_camel(n): n for n in known}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = camel.get(key, key)
            if name not in known or name.startswith("_"):
                known_names = ", ".join(sorted(camel))
                raise SpecError(f"unknown Kubernetes setting {key!r} (known: {known_names})", path=f"kubernetes.{key}")
            if name in ("unschedulable_timeout", "deadline_slack", "delete_grace") and value is not None:
                value = parse_duration(value) or 0.0
            elif name in ("retain", "in_cluster") and isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            elif name in ("api_retries", "watch_timeout"):
                value = int(value)
            values[name] = value
        settings = cls(**values)
        if not settings.mount_path and home is not None:
            settings.mount_path = str(home)
        if not settings.artifact_root and getattr(workspace, "artifacts", None) is not None:
            settings.artifact_root = str(workspace.artifacts)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, naming the setting (before any pod or store is touched)."""
        if self.artifact_store:
            from workbench.runtime.objstore import ObjectStoreError, split_uri

            try:
                split_uri(self.artifact_store)
            except ObjectStoreError as err:
                raise SpecError(str(err), path="kubernetes.artifactStore") from None
            if not self.artifact_root:
                raise SpecError("the local artifact folder the store mirrors is unknown (set kubernetes.artifactRoot "
                                "or use a workspace)", path="kubernetes.artifactRoot")  # fmt: skip
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
                if key in self.artifact_store_env:
                    raise SpecError(f"{key} must not be written in the settings (it would be copied into every pod "
                                    "spec): put it in a Secret named by kubernetes.artifactStoreSecret",
                                    path=f"kubernetes.artifactStoreEnv.{key}")  # fmt: skip

    def pod_config(self) -> PodConfig:
        """The pod-shaping part of these settings (a copy: the backend's builds never change them)."""
        return PodConfig(**{f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(PodConfig)})

    def api_client(self) -> Any:
        """An ``ApiClient`` for the cluster: ``host`` (no auth), in-cluster, or the kubeconfig."""
        from kubernetes import client, config

        cfg = client.Configuration()
        if self.host:
            cfg.host = self.host
            cfg.verify_ssl = False
        elif self.in_cluster or (self.in_cluster is None and os.environ.get("KUBERNETES_SERVICE_HOST")):
            config.load_incluster_config(client_configuration=cfg)
        else:
            try:
                config.load_kube_config(config_file=self.kubeconfig, context=self.context, client_configuration=cfg)
            except Exception as err:  # no kubeconfig, unknown context, ...
                raise SpecError(f"cannot configure the Kubernetes client: {err}", path="kubernetes") from None
        cfg.connection_pool_maxsize = 256  # one connection per followed log, plus the watch
        return client.ApiClient(cfg)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _ts_key(stamp: str) -> tuple[str, int]:
    """An RFC 3339 timestamp (nanoseconds, trailing zeros trimmed) as a sortable key."""
    main, _, frac = stamp.rstrip("Z").partition(".")
    return main, int((frac + "000000000")[:9] or 0)


# --------------------------------------------------------------------------------------------- handle


class PodHandle(StepHandle):
    """A step's pod: events from the experiment's watch, logs from a followed stream."""

    def __init__(self, backend: KubernetesBackend, watch: PodWatch, name: str, namespace: str,
                 container: str, retain: bool, adopted: bool = False,
                 mirror: list[tuple[str, str]] | None = None) -> None:  # fmt: skip
        self.backend = backend
        #: Object-store outputs ``(local path, uri)`` fetched to the controller's artifact folder after a success.
        self.mirror = list(mirror or [])
        self._synced = threading.Event()
        self.watch = watch
        self.name = name
        self.namespace = namespace
        self.container = container
        self.retain = retain
        self.adopted = adopted
        #: Why the step ended, when it is worth saying (OOMKilled, Evicted, ...).
        self.reason = ""
        #: Set when the pod can never run its command (image pull error, command missing, ...).
        self.launch_error = ""
        self.exit_code: int | None = None
        self.pod: dict[str, Any] = {}
        self.unschedulable_since: float | None = None
        self.unschedulable_message = ""
        self._started = threading.Event()
        self._done = threading.Event()
        self._gone = threading.Event()
        self._lock = threading.Lock()
        self._cancelled = False
        self._deleting = False
        self._reading = False
        self._read_done = False
        self._finalized = False
        self._done_at: float | None = None

    # ----------------------------------------------------------------------------------- events

    def on_event(self, kind: str, pod: dict[str, Any]) -> None:
        """Called by the watch thread for every event of this pod (cheap, no API calls)."""
        if kind == "DELETED":
            self._gone.set()
            if not self._done.is_set():
                if not self._deleting and not self._cancelled:
                    self.reason = self.reason or f"pod {self.name} was deleted before its step finished"
                self._classify(pod, deleted=True)
                self._end(self.exit_code if self.exit_code is not None else 137)
            self._started.set()
            return
        self.pod = pod
        if not self._done.is_set():
            self._classify(pod)

    def _main_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == self.container:
                return status
        return {}

    def _classify(self, pod: dict[str, Any], deleted: bool = False) -> None:
        if "deletionTimestamp" in (pod.get("metadata") or {}) and not (self._deleting or self._cancelled):
            self.reason = self.reason or f"pod {self.name} was deleted before its step finished"
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        main = self._main_status(pod)
        state = main.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated is not None:
            reason = terminated.get("reason") or ""
            code = terminated.get("exitCode")
            code = int(code) if code is not None else 1
            if reason in START_ERRORS:
                self.launch_error = f"pod {self.name}: the command cannot run in the image ({reason}): " + (
                    terminated.get("message") or ""
                ).strip()
                self._started.set()
                self._end(code)
                return
            if reason == "OOMKilled":
                limit = self._limit("memory")
                self.reason = (
                    f"pod {self.name}: OOMKilled (exit code {code}): the container ran out of memory"
                    + (f" (limit {limit})" if limit else "")
                )
            if status.get("reason") == "Evicted":
                self.reason = f"pod {self.name} was evicted: {status.get('message', '').strip()}"
            elif status.get("reason") == "DeadlineExceeded":
                self.reason = f"pod {self.name} exceeded its activeDeadlineSeconds: {status.get('message', '')}"
            elif code != 0 and not self.reason and reason not in ("Error", "Completed"):
                self.reason = f"pod {self.name}: container terminated ({reason}, exit code {code})"
            self._started.set()
            self._end(code)
            return
        if phase in TERMINAL_PHASES:
            # Ended without a terminated container state (evicted or timed out before or while starting).
            why = status.get("reason") or phase
            self.reason = f"pod {self.name} {why}: {status.get('message', '').strip()}".rstrip(": ")
            if why == "Evicted":
                self.reason = f"pod {self.name} was evicted: {status.get('message', '').strip()}"
            self._started.set()
            self._end(0 if phase == "Succeeded" else 137)
            return
        if deleted:
            return
        if state.get("running") is not None:
            self.unschedulable_since = None
            self._started.set()
            return
        if waiting is not None and waiting.get("reason") in LAUNCH_ERRORS:
            reason = waiting["reason"]
            image = main.get("image") or ""
            self.launch_error = (
                f"pod {self.name}: {LAUNCH_ERRORS[reason]} ({reason}"
                + (f", image {image!r}" if image and "Image" in reason else "")
                + f"): {(waiting.get('message') or '').strip()}"
            ).rstrip(": ")
            self._started.set()
            return
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled":
                if cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
                    if self.unschedulable_since is None:
                        self.unschedulable_since = time.monotonic()
                    self.unschedulable_message = cond.get("message") or ""
                else:
                    self.unschedulable_since = None

    def _limit(self, resource: str) -> str:
        for c in (self.pod.get("spec") or {}).get("containers") or []:
            if c.get("name") == self.container:
                return str(((c.get("resources") or {}).get("limits") or {}).get(resource) or "")
        return ""

    def _end(self, code: int) -> None:
        if self._done.is_set():
            return
        self.exit_code = code
        if code == 0 and self.mirror and not self._cancelled:
            threading.Thread(target=self._fetch_outputs, name=f"fetch-{self.name}", daemon=True).start()
        else:
            self._synced.set()
        self._done.set()

    def _fetch_outputs(self) -> None:
        """The step succeeded: bring its outputs from the object store to the controller's artifact folder.

        The engine reads parameter outputs, checks every output exists and stamps it for the cache
        from there. A store failure fails the step (exit code ``STORE_ERROR_EXIT``) with the reason in its log.
        """
        from workbench.runtime.objstore import STORE_ERROR_EXIT, ObjectStoreError

        try:
            for path, uri in self.mirror:
                try:
                    self.backend.store.download(uri, path)
                except ObjectStoreError as err:
                    if self.backend.store.stat(uri) is None and "does not exist" in str(err):
                        continue  # not written: the engine reports the missing output by name
                    self.reason = f"pod {self.name}: cannot fetch output {uri}: {err}"
                    self.exit_code = STORE_ERROR_EXIT
                    return
        except Exception as err:  # never leave the step hanging
            self.reason = f"pod {self.name}: cannot fetch its outputs: {err}"
            self.exit_code = STORE_ERROR_EXIT
        finally:
            self._synced.set()

    # ----------------------------------------------------------------------------------- StepHandle

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            return None
        if not self._synced.wait(timeout):
            return None
        if self._done_at is None:
            self._done_at = time.monotonic()
        # The pod goes once its log is read (lines() finalizes); a caller that never reads logs
        # gets it deleted a few seconds after the end.
        if self._read_done or (not self._reading and time.monotonic() - self._done_at > 5.0):
            self._finalize()
        return self.exit_code

    def lines(self) -> Iterator[str]:
        self._reading = True
        try:
            yield from self._log_lines()
            if self._done.wait(timeout=30) and self._synced.wait(timeout=600) and self.reason:
                yield f"[kubernetes] {self.reason}"
        finally:
            self._read_done = True
            if self._done.is_set():
                self._finalize()

    def _log_lines(self) -> Iterator[str]:
        """The main container's log, followed; a dropped stream resumes without repeating lines."""
        from kubernetes.client.exceptions import ApiException

        api = self.backend.api
        last: tuple[str, int] | None = None
        last_wall = 0.0
        failures = 0
        while True:
            kwargs: dict[str, Any] = {}
            if last is not None:
                kwargs["since_seconds"] = max(1, int(math.ceil(time.time() - last_wall)) + 2)
            try:
                resp = api.call(
                    "log", api.core.read_namespaced_pod_log, self.name, self.namespace, container=self.container,
                    follow=True, timestamps=True, _preload_content=False, _request_timeout=(10, None), **kwargs,
                )  # fmt: skip
                for line in response_lines(resp):
                    stamp, _, text = line.partition(" ")
                    key = _ts_key(stamp)
                    if last is not None and key <= last:
                        continue  # already seen before the stream dropped
                    last, last_wall = key, time.time()
                    yield text
            except ApiException as err:
                if err.status == 404:
                    return  # the pod is gone
                if err.status == 400 and not self._done.is_set():
                    # The container is not running yet (adopted while Pending); wait for it.
                    self._started.wait(timeout=1.0)
                    failures += 1
                    if failures < 600:
                        continue
                log.warning("reading the log of %s: %s", self.name, error_message(err))
                return
            except ApiUnavailable as err:
                log.warning("reading the log of %s: %s", self.name, err)
                return
            except Exception as err:  # a dropped stream (ProtocolError, reset): resume
                failures += 1
                log.debug("log stream of %s dropped: %s", self.name, err)
                if failures > 50 or self.backend._stop.wait(min(2.0, 0.05 * failures)):
                    return
                continue
            # The stream ended: the container ended too, or the connection was cut cleanly.
            if self._done.wait(timeout=2.0) or self._gone.is_set():
                return
            main = (self._main_status(self.pod).get("state") or {}) if self.pod else {}
            if "running" not in main:
                if self._done.wait(timeout=5.0):
                    return
            failures += 1
            if failures > 50:
                return

    def cancel(self, grace: float = 5.0) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
        if self._done.is_set():
            self._finalize()
            return
        if not self._done.is_set():
            self._delete(grace)
            if not self._done.wait(timeout=grace + 10):
                self._delete(0)  # force
                self._done.wait(timeout=5)
            if not self._done.is_set():
                self._end(137)
        self._finalize(force=True)

    def _delete(self, grace: float) -> None:
        from kubernetes.client.exceptions import ApiException

        self._deleting = True
        api = self.backend.api
        try:
            api.call(
                "delete", api.core.delete_namespaced_pod, self.name, self.namespace,
                grace_period_seconds=int(math.ceil(grace)), _preload_content=False, _request_timeout=(10, 30),
            )  # fmt: skip
        except ApiException as err:
            if err.status != 404:
                log.warning("deleting pod %s: %s", self.name, error_message(err))
            self._gone.set()
        except ApiUnavailable as err:
            log.warning("deleting pod %s: %s", self.name, err)

    def _finalize(self, force: bool = False) -> None:
        """The step is over: stop listening, delete the pod (unless it is retained)."""
        with self._lock:
            if self._finalized:
                return
            self._finalized = True
        self.watch.forget(self.name)
        self.backend._handles.pop(self.name, None)
        if (not self.retain or force) and not self._gone.is_set() and not (force and self._deleting):
            self._delete(0)


# --------------------------------------------------------------------------------------------- backend


class KubernetesBackend(BaseBackend):
    """Runs each step as a pod (see the module documentation)."""

    name = "kubernetes"

    def __init__(self, settings: KubernetesSettings | None = None, api_client: Any = None) -> None:
        self.settings = settings or KubernetesSettings.load()
        self.settings.check()
        #: The object store of the artifacts (``kubernetes.artifactStore``), or ``None`` with the shared volume.
        self.store: Any = None
        self._store_checked = False
        if self.settings.artifact_store:
            from workbench.runtime.objstore import ObjectStore

            self.store = ObjectStore(endpoint_url=self.settings.artifact_store_endpoint or None)
        self._stop = threading.Event()
        self.api = Api(
            api_client if api_client is not None else self.settings.api_client(),
            retries=self.settings.api_retries,
            backoff=self.settings.api_backoff,
            max_backoff=self.settings.api_max_backoff,
            stop=self._stop,
        )
        self.pod_config = self.settings.pod_config()
        self._watches: dict[tuple[str, str], PodWatch] = {}
        self._handles: dict[str, PodHandle] = {}
        self._consumed: set[str] = set()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------------- helpers

    def namespace_for(self, namespace: str | None) -> str:
        """The experiment's namespace, or the settings' default when it names none (``default``)."""
        return namespace if namespace and namespace != "default" else self.settings.namespace

    def watch_for(self, experiment: str, namespace: str) -> PodWatch:
        """The experiment's one watch (started on first use)."""
        selector = experiment_selector(experiment)
        key = (namespace, selector)
        with self._lock:
            watch = self._watches.get(key)
            if watch is None:
                watch = PodWatch(self.api, namespace, selector, timeout=self.settings.watch_timeout)
                self._watches[key] = watch
        try:
            return watch.start()
        except ApiUnavailable as err:
            raise StepLaunchError(f"the Kubernetes API is unavailable: {err}") from None

    def _adopt_candidate(self, watch: PodWatch, launch: StepLaunch) -> dict[str, Any] | None:
        """A pod an earlier controller started for this run and step (running first, then the newest)."""
        run, step = label_value(launch.run_id), label_value(launch.step or launch.name)
        pods = [
            p for p in watch.snapshot()
            if (p["metadata"].get("labels") or {}).get(LABEL_RUN) == run
            and (p["metadata"].get("labels") or {}).get(LABEL_STEP) == step
            and p["metadata"]["name"] not in self._consumed
            and p["metadata"]["name"] not in self._handles
            and self._adoptable(p)
        ]  # fmt: skip
        if not pods:
            return None

        def rank(p: dict[str, Any]) -> tuple[int, int, int]:
            live = (p.get("status") or {}).get("phase") not in TERMINAL_PHASES
            deleting = "deletionTimestamp" in p["metadata"]
            attempt = int((p["metadata"].get("labels") or {}).get(LABEL_ATTEMPT, "0") or 0)
            return (int(live and not deleting), int(not deleting), attempt)

        best = max(pods, key=rank)
        with self._lock:
            self._consumed.update(p["metadata"]["name"] for p in pods)
        return best

    # ----------------------------------------------------------------------------------- BaseBackend

    def preflight(self, launch: StepLaunch) -> None:
        """Commands live in the image: nothing to check on this machine but the artifact store."""
        self.check_store()

    def check_store(self) -> None:
        """With an object store: fail now, clearly, if its bucket is missing or its endpoint unreachable."""
        if self.store is None or self._store_checked:
            return
        from workbench.runtime.objstore import ObjectStoreError

        try:
            self.store.check(self.settings.artifact_store)
        except ObjectStoreError as err:
            raise StepLaunchError(f"artifact store {self.settings.artifact_store}: {err}") from None
        self._store_checked = True

    def artifact_uri(self, path: str) -> str:
        """Where an artifact path of the controller lives for good: its object-store URI (or the path itself)."""
        if self.store is None:
            return path
        return store_uri(path, self.pod_config) or path

    def _ship(self, launch: StepLaunch) -> Any:
        """The step's object-store transfers; files only the controller has are uploaded now."""
        from workbench.runtime.objstore import ObjectStoreError

        step = launch.step or launch.name
        transfers = object_transfers(launch, self.pod_config)
        if transfers:
            self.check_store()
        for path, uri in transfers.uploads:
            try:
                self.store.upload(path, uri)
            except ObjectStoreError as err:
                raise StepLaunchError(f"step {step}: cannot upload input {path} to the artifact store: {err}") from None
        return transfers

    def start(self, launch: StepLaunch) -> StepHandle:
        from kubernetes.client.exceptions import ApiException

        if self._stop.is_set():
            raise StepLaunchError(f"step {launch.step or launch.name}: the Kubernetes backend is closed")
        namespace = self.namespace_for(launch.namespace)
        experiment = launch.experiment or "none"
        watch = self.watch_for(experiment, namespace)
        retain = wants_retain(launch, self.settings.retain)
        container = launch.kubernetes.get("primaryContainer") if launch.kubernetes.get("podTemplate") else None
        container = container or (
            (launch.kubernetes.get("podTemplate") or {}).get("spec", {}).get("containers", [{}])[0].get("name")
            if launch.kubernetes.get("podTemplate")
            else MAIN_CONTAINER
        )
        transfers = self._ship(launch) if self.store is not None else None
        mirror = transfers.outputs if transfers else []
        if launch.run_id:
            existing = self._adopt_candidate(watch, launch)
            if existing is not None:
                name = existing["metadata"]["name"]
                log.info("adopting pod %s (left by an earlier controller)", name)
                handle = PodHandle(self, watch, name, namespace, container, retain, adopted=True, mirror=mirror)
                self._handles[name] = handle
                current = watch.listen(name, handle.on_event)
                handle.on_event("MODIFIED", current or existing)
                return self._await_start(handle, launch)
        base = pod_base_name(launch)
        name = base
        for _ in range(5):
            try:
                body = build_pod(launch, self.pod_config, name, namespace, retain=retain, transfers=transfers)
            except SpecError as err:
                raise StepLaunchError(str(err)) from None
            handle = PodHandle(self, watch, name, namespace, container, retain, mirror=mirror)
            self._handles[name] = handle
            watch.listen(name, handle.on_event)
            try:
                self.api.call(
                    "create", self.api.core.create_namespaced_pod, namespace, body,
                    _preload_content=False, _request_timeout=(10, 30),
                )  # fmt: skip
            except ApiException as err:
                watch.forget(name)
                self._handles.pop(name, None)
                if err.status == 409:
                    if name not in self._consumed and self._same_step(watch, name, launch):
                        # Our own create went through before an error: the pod is ours.
                        handle = PodHandle(self, watch, name, namespace, container, retain, mirror=mirror)
                        self._handles[name] = handle
                        current = watch.listen(name, handle.on_event)
                        if current is not None:
                            handle.on_event("MODIFIED", current)
                        self._consumed.add(name)
                        return self._await_start(handle, launch)
                    name = f"{base[:56].rstrip('-')}-{uuid.uuid4().hex[:6]}"
                    continue
                raise StepLaunchError(
                    f"step {launch.step or launch.name}: Kubernetes refused pod {name}: {error_message(err)}"
                ) from None
            except ApiUnavailable as err:
                watch.forget(name)
                self._handles.pop(name, None)
                raise StepLaunchError(
                    f"step {launch.step or launch.name}: the Kubernetes API is unavailable: {err}"
                ) from None
            self._consumed.add(name)
            return self._await_start(handle, launch)
        raise StepLaunchError(f"step {launch.step or launch.name}: no free pod name after 5 tries ({base})")

    def _same_step(self, watch: PodWatch, name: str, launch: StepLaunch) -> bool:
        from kubernetes.client.exceptions import ApiException

        pod = next((p for p in watch.snapshot() if p["metadata"]["name"] == name), None)
        if pod is None:
            try:
                resp = self.api.call("get", self.api.core.read_namespaced_pod, name, self.namespace_for(
                    launch.namespace), _preload_content=False, _request_timeout=(10, 30))  # fmt: skip
                pod = json.loads(resp.data)
            except (ApiException, ApiUnavailable):
                return False
        labels = pod["metadata"].get("labels") or {}
        return (
            labels.get(LABEL_RUN) == label_value(launch.run_id or name)
            and labels.get(LABEL_STEP) == label_value(launch.step or launch.name)
            and labels.get(LABEL_ATTEMPT) == str(launch.attempt)
        )

    def _await_start(self, handle: PodHandle, launch: StepLaunch) -> PodHandle:
        """Wait (on watch events) until the pod's command runs, or it can never run."""
        timeout = self.settings.unschedulable_timeout
        step = launch.step or launch.name
        while not handle._started.is_set():
            handle._started.wait(timeout=0.25)
            if handle._started.is_set():
                break
            if launch.cancel is not None and launch.cancel.is_set():
                return handle  # the engine sees the cancellation and calls cancel()
            if self._stop.is_set():
                handle.cancel(0)
                raise StepLaunchError(f"step {step}: the Kubernetes backend was closed")
            since = handle.unschedulable_since
            if since is not None and time.monotonic() - since >= timeout:
                message = handle.unschedulable_message
                handle.cancel(0)
                raise StepLaunchError(
                    f"step {step}: pod {handle.name} could not be scheduled for {timeout:g}s"
                    + (f": {message}" if message else "")
                )
        if handle.launch_error:
            message = handle.launch_error
            if not handle.retain:
                handle.cancel(0)
            else:
                handle._finalize()
            raise StepLaunchError(f"step {step}: {message}")
        return handle

    # ----------------------------------------------------------------------------------- adoption

    @staticmethod
    def _adoptable(pod: dict[str, Any]) -> bool:
        """Running, or ended and not retained (a retained pod that ended may have been read already)."""
        meta = pod["metadata"]
        if "deletionTimestamp" in meta:
            return False
        ended = (pod.get("status") or {}).get("phase") in TERMINAL_PHASES
        return not ended or (meta.get("labels") or {}).get(LABEL_RETAIN) != "true"

    def adoptable_runs(self, experiment: str, namespace: str) -> set[str]:
        """Runs with pods an earlier controller left: running ones, and ended ones whose result nobody read."""
        watch = self.watch_for(experiment, self.namespace_for(namespace))
        runs = set()
        for pod in watch.snapshot():
            labels = pod["metadata"].get("labels") or {}
            if labels.get(LABEL_RUN) and self._adoptable(pod):
                runs.add(labels[LABEL_RUN])
        return runs

    def cleanup(self, experiment: str, namespace: str, keep: Collection[str] = ()) -> int:
        """Delete the experiment's pods whose run is not in ``keep`` (retained pods stay)."""
        from kubernetes.client.exceptions import ApiException

        ns = self.namespace_for(namespace)
        watch = self.watch_for(experiment, ns)
        keep_labels = {label_value(k) for k in keep}
        removed = 0
        for pod in watch.snapshot():
            meta = pod["metadata"]
            labels = meta.get("labels") or {}
            if labels.get(LABEL_RUN) in keep_labels or labels.get(LABEL_RETAIN) == "true":
                continue
            if meta["name"] in self._handles or "deletionTimestamp" in meta:
                continue
            try:
                self.api.call(
                    "delete", self.api.core.delete_namespaced_pod, meta["name"], ns,
                    grace_period_seconds=int(self.settings.delete_grace), _preload_content=False,
                )  # fmt: skip
                removed += 1
                log.info("deleted orphan pod %s", meta["name"])
            except ApiException as err:
                if err.status != 404:
                    log.warning("deleting orphan pod %s: %s", meta["name"], error_message(err))
            except ApiUnavailable as err:
                log.warning("deleting orphan pod %s: %s", meta["name"], err)
        return removed

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            watches = list(self._watches.values())
            self._watches.clear()
        for watch in watches:
            watch.stop()

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent so far, by kind, plus watch relists and resumes."""
        out = dict(self.api.counts)
        out["relists"] = sum(w.relists for w in self._watches.values())
        out["resumes"] = sum(w.resumes for w in self._watches.values())
        return out


def pod_manifest(launch: StepLaunch, settings: KubernetesSettings | None = None) -> dict[str, Any]:
    """The pod a step would run as (what ``start`` creates), without any API call."""
    settings = settings or KubernetesSettings()
    namespace = launch.namespace if launch.namespace and launch.namespace != "default" else settings.namespace
    return build_pod(launch, settings.pod_config(), pod_base_name(launch), namespace,
                     retain=wants_retain(launch, settings.retain))  # fmt: skip


__all__ = ["KubernetesBackend", "KubernetesSettings", "PodHandle", "pod_manifest"]
