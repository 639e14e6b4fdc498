"""A Kubernetes-API-compatible test server with a kubelet stand-in (no cluster, no Docker).

The official ``kubernetes`` client talks to it over real HTTP on 127.0.0.1. It serves the
parts of the core API that Workbench uses:

- pods: create, get, list, watch (label selectors, ``resourceVersion``, bookmarks, ``410 Gone``
  once the history is compacted), delete with a grace period, ``pods/log`` (``follow``,
  ``timestamps``, ``sinceTime``, ``container``);
- configmaps and ``batch/v1`` jobs: create, get, list, delete (stored, jobs are not run);
- ``/version``.

The kubelet stand-in runs every container of a pod as a local process (the image is ignored;
``$(VAR)`` references in command and args are expanded like Kubernetes does), with the pod's
environment, and moves the pod through Pending → Running → Succeeded/Failed with container
statuses and exit codes. Faults can be injected (:class:`Faults`): evictions, OOM kills, image
pull errors, unschedulable pods, slow scheduling, 429/5xx answers (before or after the request
took effect), dropped watch streams, lagging watches and compacted history (410 Gone); the
server counts the faults it injected (``FakeCluster.injected``).

Every API call is recorded with its RBAC attributes (``FakeCluster.calls``: verb, API group,
resource with subresource, namespace), so tests can diff a Role against what a client really did.

Example:
    >>> cluster = FakeCluster().start()
    >>> from kubernetes import client
    >>> api = client.CoreV1Api(client.ApiClient(cluster.configuration()))
    >>> api.list_namespaced_pod("default").items
    []
    >>> cluster.stop()

Run it on its own (benchmarks): ``python -m workbench.testing.k8s_server --port 0`` prints
``READY <url>`` and serves until SIGTERM; ``GET /_stats`` returns the request and fault counters.
"""

from __future__ import annotations

import argparse
import collections
import copy
import datetime as dt
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PodMatch = Callable[[dict[str, Any]], bool]

_CORE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>pods|configmaps|secrets)(?:/(?P<name>[^/]+)(?P<sub>/log)?)?$"
)
_BATCH = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/(?P<res>jobs)(?:/(?P<name>[^/]+))?$")
_ALL = re.compile(r"^/api/v1/(?P<res>pods|configmaps|secrets)$")
#: Any resource path, for the RBAC attributes of a request (``/api/v1/...`` and ``/apis/<group>/<version>/...``).
_RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+)(?=/))?"
    r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_KINDS = {"pods": ("Pod", "v1"), "configmaps": ("ConfigMap", "v1"), "secrets": ("Secret", "v1"),
          "jobs": ("Job", "batch/v1")}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Clock:
    """Strictly increasing RFC 3339 timestamps with nanoseconds (log lines are told apart by them)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            ns = max(time.time_ns(), self._last + 1)
            self._last = ns
        secs, frac = divmod(ns, 1_000_000_000)
        stamp = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}.{frac:09d}Z"


def expand_references(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command and args: ``$$`` is a literal ``$``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env[name] if name in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """``a=b,c!=d,e,!f`` -> ``[(key, op, value)]`` with op ``=``, ``!=``, ``exists``, ``!exists``."""
    out: list[tuple[str, str, str | None]] = []
    for part in filter(None, (p.strip() for p in selector.split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            out.append((k.strip(), "=", v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        elif part.startswith("!"):
            out.append((part[1:].strip(), "!exists", None))
        else:
            out.append((part, "exists", None))
    return out


def selector_matches(selector: list[tuple[str, str, str | None]], labels: dict[str, str]) -> bool:
    for key, op, value in selector:
        have = labels.get(key)
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!exists" and key in labels:
            return False
    return True


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.retry_after = code, reason, message, retry_after

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


# --------------------------------------------------------------------------------------------- faults


@dataclass
class _PodFault:
    kind: str  # oom | evict | pull | unschedulable | start_error
    match: PodMatch
    after: float = 0.0
    count: int | None = None  # how many pods it applies to (None: all)
    message: str = ""
    duration: float | None = None  # unschedulable: for how long (None: until deleted)
    hits: int = 0


@dataclass
class _RequestFault:
    status: int
    count: int
    method: str | None
    path: re.Pattern[str] | None
    retry_after: float | None
    commit: bool = False  # the request takes effect, then the answer is the error (a lost response)


def rbac_attributes(method: str, path: str, query: dict[str, str]) -> tuple[str, str, str, str]:
    """``(verb, apiGroup, resource[/subresource], namespace)`` of a request, as the API server authorizes it.

    GET on a collection is ``list`` (``watch`` with ``?watch=true``), on one object ``get``; POST is
    ``create``, PUT ``update``, PATCH ``patch``; DELETE on one object ``delete``, on a collection
    ``deletecollection``. Other paths are non-resource URLs: ``(verb, "", path, "")`` with a lowercase
    HTTP verb, as in a ClusterRole's ``nonResourceURLs`` rule.
    """
    m = _RESOURCE_PATH.match(path)
    if m is None:
        return method.lower(), "", path, ""
    name, sub = m.group("name"), m.group("sub")
    resource = m.group("res") + (f"/{sub}" if sub else "")
    if method == "GET":
        verb = "watch" if _truthy(query.get("watch")) else "list" if name is None else "get"
    elif method == "DELETE":
        verb = "deletecollection" if name is None else "delete"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    return verb, m.group("group") or "", resource, m.group("ns") or ""


@dataclass
class Faults:
    """Faults to inject; every method returns ``self`` so calls chain."""

    schedule_delay: float = 0.0
    #: The next this many watches that resume from a resourceVersion get 410 Gone.
    expired_watches: int = 0
    #: Watches see each event only this many seconds after it happened (a lagging watch cache).
    watch_lag: float = 0.0
    pod: list[_PodFault] = field(default_factory=list)
    requests: list[_RequestFault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Faults injected so far, by kind (``oom``, ``evict``, ``429``, ``500 after commit``, ``410``, ...).
    injected: collections.Counter[str] = field(default_factory=collections.Counter)

    #: Requests answered without an injected fault so far.
    clean_answers: int = 0

    def pending_requests(self) -> int:
        """Request faults not injected yet."""
        with self.lock:
            return sum(f.count for f in self.requests)

    def _add(self, fault: _PodFault) -> Faults:
        with self.lock:
            self.pod.append(fault)
        return self

    def oom(self, match: PodMatch = lambda pod: True, after: float = 0.0, count: int | None = None) -> Faults:
        """Kill matching pods' main container as the kernel would on OOM (reason OOMKilled, exit 137)."""
        return self._add(_PodFault("oom", match, after, count))

    def evict(self, match: PodMatch = lambda pod: True, after: float = 0.0, count: int | None = None,
              message: str = "The node was low on resource: memory.") -> Faults:  # fmt: skip
        """Evict matching pods after ``after`` seconds of running (phase Failed, reason Evicted)."""
        return self._add(_PodFault("evict", match, after, count, message))

    def image_pull_error(self, match: PodMatch = lambda pod: True, count: int | None = None) -> Faults:
        """Matching pods never pull their image (ErrImagePull, then ImagePullBackOff)."""
        return self._add(_PodFault("pull", match, 0.0, count))

    def unschedulable(self, match: PodMatch = lambda pod: True, count: int | None = None,
                      duration: float | None = None,
                      message: str = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.") -> Faults:  # fmt: skip
        """Matching pods stay Pending/Unschedulable for ``duration`` seconds (None: until deleted)."""
        return self._add(_PodFault("unschedulable", match, 0.0, count, message, duration))

    def fail_requests(self, status: int = 500, count: int = 1, method: str | None = None, path: str | None = None,
                      retry_after: float | None = None, commit: bool = False) -> Faults:  # fmt: skip
        """Answer the next ``count`` matching requests with ``status`` (429 gets ``Retry-After``).

        ``commit``: the request takes effect first (the object is created or deleted), only its answer
        is the error, as when the API server times out after the write.
        """
        with self.lock:
            self.requests.append(
                _RequestFault(status, count, method, re.compile(path) if path else None, retry_after, commit)
            )
        return self

    def lag_watches(self, seconds: float) -> Faults:
        """Watches see each event ``seconds`` after it happened from now on (0: they catch up)."""
        with self.lock:
            self.watch_lag = seconds
            if seconds > 0:
                self.injected["watch lag"] += 1
        return self

    def expire_watches(self, count: int = 1) -> Faults:
        """The next ``count`` watches resuming from a resourceVersion are told 410 Gone (history expired)."""
        with self.lock:
            self.expired_watches += count
        return self

    def take_expired(self) -> bool:
        with self.lock:
            if self.expired_watches > 0:
                self.expired_watches -= 1
                self.injected["410"] += 1
                return True
        return False

    def take_pod_fault(self, kind: str, pod: dict[str, Any]) -> _PodFault | None:
        with self.lock:
            for fault in self.pod:
                if fault.kind != kind or (fault.count is not None and fault.hits >= fault.count):
                    continue
                try:
                    hit = fault.match(pod)
                except Exception:
                    hit = False
                if hit:
                    fault.hits += 1
                    self.injected[kind] += 1
                    return fault
        return None

    def take_request_fault(self, method: str, path: str) -> _RequestFault | None:
        with self.lock:
            for fault in self.requests:
                if fault.count <= 0:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path and not fault.path.search(path):
                    continue
                fault.count -= 1
                self.injected[f"{fault.status} after commit" if fault.commit else str(fault.status)] += 1
                return fault
            self.clean_answers += 1
        return None


# --------------------------------------------------------------------------------------------- kubelet


class _ContainerLog:
    def __init__(self, lock: threading.RLock) -> None:
        self.lines: list[tuple[str, str]] = []
        self.done = False
        self.cond = threading.Condition(lock)


class _PodRuntime:
    """The kubelet's view of one pod: its processes and logs."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, _ContainerLog] = {}
        self.started: set[str] = set()
        self.deleting = threading.Event()
        self.grace = 30.0
        self.forced_reason: str | None = None
        self.forced_message = ""
        self.forced_code: int | None = None
        self.container_reason: str | None = None
        #: When the first container process was started (monotonic): a fault's ``after`` counts from here.
        self.launched: float | None = None


# --------------------------------------------------------------------------------------------- server


class FakeCluster:
    """The API server, its store and the kubelet stand-in.

    ``default_workdir``: the working directory of containers without ``workingDir`` (an image's
    WORKDIR); ``images`` maps an image to its own working directory. ``history``: how many
    events watches can resume from before ``410 Gone``. ``validate``: check every created pod
    against the Kubernetes OpenAPI schema (strict, needs ``kubernetes-validate``) and refuse
    invalid ones with 422, as a real API server would.
    """

    def __init__(
        self,
        default_workdir: str | None = None,
        images: dict[str, str] | None = None,
        history: int = 10_000,
        bookmark_interval: float | None = 1.0,
        validate: bool = False,
        k8s_version: str | None = None,
    ) -> None:
        self.default_workdir = default_workdir or tempfile.gettempdir()
        self.images = dict(images or {})
        self.history = history
        self.bookmark_interval = bookmark_interval
        self.validate = validate
        self.k8s_version = k8s_version
        self.faults = Faults()
        self.requests: collections.Counter[str] = collections.Counter()
        #: Every API call by its RBAC attributes ``(verb, apiGroup, resource[/sub], namespace)`` (see
        #: :func:`rbac_attributes`); non-resource paths as ``(verb, "", path, "")``.
        self.calls: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        self.invalid: list[tuple[str, str]] = []
        self.created: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._rv = 1000  # resourceVersions are opaque; "0" would mean "any" to clients
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        # Events in resourceVersion order: _events[i] has resourceVersion _first_rv + i (type, where,
        # object, monotonic time).
        self._events: list[tuple[str, str, dict[str, Any], float]] = []
        self._first_rv = 1001
        self._oldest = 1001  # the oldest resourceVersion a watch can resume from
        self._runtime: dict[tuple[str, str], _PodRuntime] = {}
        self._clock = _Clock()
        self._stopping = False
        self._drop_generation = 0
        self._streams: set[Any] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._validator: Any = None

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self, port: int = 0) -> FakeCluster:
        handler = type("Handler", (_Handler,), {"cluster": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="k8s-test-server", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def configuration(self) -> Any:
        """A ``kubernetes.client.Configuration`` pointing at this server (no auth)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.verify_ssl = False
        return config

    def kubeconfig(self, path: str, namespace: str = "default") -> str:
        """Write a kubeconfig file for this server; returns its path."""
        import yaml

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
            "current-context": "test",
        }
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(doc, fh)
        return path

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            runtimes = list(self._runtime.values())
            self._notify_all()
        for rt in runtimes:
            rt.deleting.set()
            for proc in rt.procs.values():
                _kill_group(proc, signal.SIGKILL)
        self.drop_watches()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeCluster:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------- fault helpers

    @property
    def injected(self) -> collections.Counter[str]:
        """Faults injected so far, by kind (``streams dropped`` counts the streams cut)."""
        return self.faults.injected

    def drop_watches(self) -> int:
        """Cut every open watch and log stream mid-flight (no clean end of the chunked body)."""
        with self._lock:
            self._drop_generation += 1
            streams = list(self._streams)
            self._notify_all()
        with self.faults.lock:
            self.faults.injected["streams dropped"] += len(streams)
        for sock in streams:
            try:
                import socket

                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(streams)

    def compact(self) -> None:
        """Forget the event history: watches resuming from an older resourceVersion get 410 Gone."""
        with self._lock:
            self._events.clear()
            self._first_rv = self._oldest = self._rv + 1

    def _notify_all(self) -> None:
        """Wake every waiting stream (lock held)."""
        self._cond.notify_all()
        for rt in self._runtime.values():
            for log in rt.logs.values():
                log.cond.notify_all()

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for (res, ns, _), o in self._objects.items()
                if res == "pods" and (namespace is None or ns == namespace)
            ]

    def objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for (res, ns, _), o in self._objects.items()
                if res == resource and (namespace is None or ns == namespace)
            ]

    def running_processes(self) -> int:
        with self._lock:
            return sum(1 for rt in self._runtime.values() for p in rt.procs.values() if p.poll() is None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no pod process runs any more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running_processes():
                return True
            time.sleep(0.02)
        return False

    # ----------------------------------------------------------------------------------- store

    def _record(self, kind: str, resource: str, ns: str, obj: dict[str, Any]) -> None:
        """Bump the resourceVersion of ``obj`` and append a watch event (lock held)."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if not self._events:
            self._first_rv = self._rv
        self._events.append((kind, resource + "/" + ns, copy.deepcopy(obj), time.monotonic()))
        if len(self._events) > 2 * self.history:
            drop = len(self._events) - self.history
            del self._events[:drop]
            self._first_rv += drop
            self._oldest = self._first_rv
        self._cond.notify_all()

    def _update_pod(self, ns: str, name: str, change: Callable[[dict[str, Any]], None]) -> bool:
        with self._lock:
            pod = self._objects.get(("pods", ns, name))
            if pod is None:
                return False
            change(pod)
            self._record("MODIFIED", "pods", ns, pod)
            return True

    def _remove(self, resource: str, ns: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.pop((resource, ns, name), None)
            if obj is not None:
                self._record("DELETED", resource, ns, obj)
                self._runtime.pop((ns, name), None) if resource == "pods" else None
            return obj

    def create(self, resource: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        kind, api_version = _KINDS[resource]
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body is not an object")
        meta = body.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        if not isinstance(name, str) or not _NAME.match(name):
            raise ApiError(422, "Invalid", f"{kind} {name!r} is invalid: metadata.name: a lowercase RFC 1123 subdomain")
        if meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace of the URL")
        body.setdefault("apiVersion", api_version)
        body.setdefault("kind", kind)
        if self.validate and resource == "pods":
            error = self._validate(body)
            if error:
                self.invalid.append((name, error))
                raise ApiError(422, "Invalid", f"Pod {name!r} is invalid: {error}")
        if resource == "pods" and not (body.get("spec") or {}).get("containers"):
            raise ApiError(422, "Invalid", f"Pod {name!r} is invalid: spec.containers: Required value")
        with self._lock:
            if self._stopping:
                raise ApiError(503, "ServiceUnavailable", "the server is shutting down")
            key = (resource, ns, name)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists')
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now())
            if resource == "pods":
                body["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
                self.created.append(copy.deepcopy(body))
            self._objects[key] = body
            self._record("ADDED", resource, ns, body)
            out = copy.deepcopy(body)
            if resource == "pods":
                self._runtime[(ns, name)] = _PodRuntime()
        if resource == "pods":
            threading.Thread(target=self._kubelet, args=(ns, name), name=f"kubelet-{name}", daemon=True).start()
        return out

    def _validate(self, body: dict[str, Any]) -> str:
        try:
            import kubernetes_validate
        except ImportError:  # pragma: no cover - a dev dependency
            return ""
        version = self.k8s_version or kubernetes_validate.latest_version()
        try:
            kubernetes_validate.validate(body, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            return str(err.message).splitlines()[0]
        return ""

    def get(self, resource: str, ns: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects.get((resource, ns, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
            return copy.deepcopy(obj)

    def list(self, resource: str, ns: str | None, selector: str) -> dict[str, Any]:
        sel = parse_selector(selector)
        kind, api_version = _KINDS[resource]
        with self._lock:
            items = [
                copy.deepcopy(o)
                for (res, n, _), o in self._objects.items()
                if res == resource and (ns is None or n == ns)
                and selector_matches(sel, o["metadata"].get("labels") or {})
            ]
            rv = str(self._rv)
        return {"kind": kind + "List", "apiVersion": api_version, "metadata": {"resourceVersion": rv}, "items": items}

    def delete(self, resource: str, ns: str, name: str, grace: float | None) -> dict[str, Any]:
        if resource != "pods":
            obj = self._remove(resource, ns, name)
            if obj is None:
                raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
            return obj
        with self._lock:
            pod = self._objects.get(("pods", ns, name))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            rt = self._runtime.get((ns, name))
            phase = pod["status"].get("phase")
            running = rt is not None and any(p.poll() is None for p in rt.procs.values())
            if grace is None:
                grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
            if not running or phase in ("Succeeded", "Failed") or grace == 0 and not running:
                if rt is not None:
                    rt.deleting.set()
                out = copy.deepcopy(pod)
                self._remove("pods", ns, name)
                return out
            if "deletionTimestamp" not in pod["metadata"]:
                pod["metadata"]["deletionTimestamp"] = _now()
                pod["metadata"]["deletionGracePeriodSeconds"] = int(grace)
                self._record("MODIFIED", "pods", ns, pod)
            assert rt is not None
            rt.grace = min(rt.grace, grace) if rt.deleting.is_set() else grace
            rt.deleting.set()
            out = copy.deepcopy(pod)
        threading.Thread(target=self._terminate, args=(ns, name, rt), daemon=True).start()
        return out

    # ----------------------------------------------------------------------------------- kubelet

    def _terminate(self, ns: str, name: str, rt: _PodRuntime) -> None:
        """Graceful deletion: SIGTERM, SIGKILL after the grace period; the pod goes once its processes are gone."""
        for proc in list(rt.procs.values()):
            _kill_group(proc, signal.SIGTERM if rt.grace > 0 else signal.SIGKILL)
        deadline = time.monotonic() + rt.grace
        while time.monotonic() < deadline and any(p.poll() is None for p in rt.procs.values()):
            time.sleep(0.01)
        for proc in list(rt.procs.values()):
            _kill_group(proc, signal.SIGKILL)

    def _env_source(self, resource: str, ns: str, name: str) -> dict[str, str] | None:
        """The keys of a Secret (decoded) or ConfigMap, or ``None`` if there is none."""
        import base64

        with self._lock:
            obj = self._objects.get((resource, ns, name))
            if obj is None:
                return None
            values = {k: str(v) for k, v in (obj.get("stringData") or {}).items()}
            if resource == "secrets":
                for k, v in (obj.get("data") or {}).items():
                    values.setdefault(k, base64.b64decode(v).decode("utf-8", errors="replace"))
            else:
                values.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
            return values

    def _container_status(self, c: dict[str, Any], state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
        return {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": ready,
            "restartCount": 0,
            "started": "running" in state,
            "state": state,
        }

    def _set_phase(self, ns: str, name: str, phase: str | None = None, statuses: list[dict[str, Any]] | None = None,
                   conditions: list[dict[str, Any]] | None = None, **extra: Any) -> bool:  # fmt: skip
        def change(pod: dict[str, Any]) -> None:
            status = pod["status"]
            if phase:
                status["phase"] = phase
            if statuses is not None:
                status["containerStatuses"] = statuses
            if conditions is not None:
                status["conditions"] = conditions
            status.update(extra)

        return self._update_pod(ns, name, change)

    def _kubelet(self, ns: str, name: str) -> None:
        try:
            self._run_pod(ns, name)
        except Exception:  # pragma: no cover - a bug in the stand-in must not hang tests silently
            import traceback

            traceback.print_exc()

    def _run_pod(self, ns: str, name: str) -> None:
        with self._lock:
            pod = copy.deepcopy(self._objects.get(("pods", ns, name)))
            rt = self._runtime.get((ns, name))
        if pod is None or rt is None:
            return
        containers = pod["spec"]["containers"]
        faults = self.faults
        # Scheduling.
        unsched = faults.take_pod_fault("unschedulable", pod)
        if unsched is not None:
            cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": unsched.message, "lastTransitionTime": _now()}]  # fmt: skip
            self._set_phase(ns, name, "Pending", conditions=cond)
            limit = unsched.duration if unsched.duration is not None else float("inf")
            if rt.deleting.wait(timeout=min(limit, 3600.0)):
                self._remove("pods", ns, name)
                return
        if faults.schedule_delay and rt.deleting.wait(timeout=faults.schedule_delay):
            self._remove("pods", ns, name)
            return
        scheduled = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]
        waiting = [self._container_status(c, {"waiting": {"reason": "ContainerCreating"}}) for c in containers]
        self._set_phase(ns, name, "Pending", statuses=waiting, conditions=scheduled, hostIP="127.0.0.1")
        # Image pull.
        if faults.take_pod_fault("pull", pod) is not None:
            image = containers[0].get("image", "")
            reasons = [
                ("ErrImagePull", f'failed to pull and unpack image "{image}": not found'),
                ("ImagePullBackOff", f'Back-off pulling image "{image}"'),
            ]
            for reason, message in itertools.cycle(reasons):
                st = [self._container_status(c, {"waiting": {"reason": reason, "message": message}})
                      for c in containers]  # fmt: skip
                if not self._set_phase(ns, name, statuses=st) or rt.deleting.wait(timeout=0.2):
                    break
            self._remove("pods", ns, name)
            return
        if rt.deleting.is_set():
            self._remove("pods", ns, name)
            return
        # Start the containers.
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "HOSTNAME": name,
        }
        started = _now()
        statuses = []
        failed_start: dict[str, Any] | None = None
        for c in containers:
            env = dict(base_env)
            missing = ""
            for source in c.get("envFrom") or []:
                ref = source.get("secretRef") or source.get("configMapRef")
                if ref is None:
                    continue
                found = self._env_source("secrets" if "secretRef" in source else "configmaps", ns, ref["name"])
                if found is None and not ref.get("optional"):
                    kind = "secret" if "secretRef" in source else "configmap"
                    missing = missing or f'{kind} "{ref["name"]}" not found'
                env.update({(source.get("prefix") or "") + k: v for k, v in (found or {}).items()})
            for item in c.get("env") or []:
                if "value" in item:
                    env[item["name"]] = str(item.get("value", ""))
                elif (item.get("valueFrom") or {}).get("fieldRef"):
                    path = item["valueFrom"]["fieldRef"].get("fieldPath")
                    env[item["name"]] = {"metadata.name": name, "metadata.namespace": ns}.get(path, "")
                elif (item.get("valueFrom") or {}).get("secretKeyRef"):
                    ref = item["valueFrom"]["secretKeyRef"]
                    found = self._env_source("secrets", ns, ref["name"])
                    if found is not None and ref["key"] in found:
                        env[item["name"]] = found[ref["key"]]
                    elif not ref.get("optional"):
                        what = f'secret "{ref["name"]}" not found' if found is None else (
                            f'couldn\'t find key {ref["key"]} in Secret {ns}/{ref["name"]}')
                        missing = missing or what
            if missing:
                # As a kubelet does: the container cannot be created until the Secret exists.
                st = [self._container_status(
                    x, {"waiting": {"reason": "CreateContainerConfigError", "message": missing}}) for x in containers]
                self._set_phase(ns, name, "Pending", statuses=st)
                rt.deleting.wait(timeout=3600.0)
                self._remove("pods", ns, name)
                return
            argv = [expand_references(a, env) for a in [*(c.get("command") or []), *(c.get("args") or [])]]
            from workbench.backends.local import local_argv

            argv = local_argv(argv)
            cwd = c.get("workingDir") or self.images.get(c.get("image", "")) or self.default_workdir
            log = rt.logs.setdefault(c["name"], _ContainerLog(self._lock))
            try:
                if not argv:
                    raise FileNotFoundError("no command")
                os.makedirs(cwd, exist_ok=True)
                # Taken before the fork: under GIL contention this thread may resume long after the
                # process started, and a fault's ``after`` must not count from then.
                rt.launched = rt.launched or time.monotonic()
                proc = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                )  # fmt: skip
            except OSError as err:
                log.done = True
                message = f'exec: "{argv[0] if argv else ""}": {err.strerror or err}'
                failed_start = {"exitCode": 128, "reason": "StartError", "message": message,
                                "startedAt": started, "finishedAt": _now()}  # fmt: skip
                statuses.append(self._container_status(c, {"terminated": failed_start}))
                continue
            rt.procs[c["name"]] = proc
            rt.started.add(c["name"])
            threading.Thread(target=self._pump, args=(proc, log), daemon=True).start()
            statuses.append(self._container_status(c, {"running": {"startedAt": started}}, ready=True))
        if failed_start is not None:
            for proc in rt.procs.values():
                _kill_group(proc, signal.SIGKILL)
            self._set_phase(ns, name, "Failed", statuses=statuses, startTime=started)
            self._finish_deletion(ns, name, rt)
            return
        ready = [*scheduled, {"type": "Ready", "status": "True", "lastTransitionTime": started}]
        self._set_phase(ns, name, "Running", statuses=statuses, conditions=ready, startTime=started,
                        podIP="127.0.0.1")  # fmt: skip
        self._watch_processes(ns, name, pod, rt, started)

    def _pump(self, proc: subprocess.Popen[bytes], log: _ContainerLog) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._lock:
                log.lines.append((self._clock.next(), line))
                log.cond.notify_all()
        proc.stdout.close()
        proc.wait()
        with self._lock:
            log.done = True
            log.cond.notify_all()

    def _watch_processes(self, ns: str, name: str, pod: dict[str, Any], rt: _PodRuntime, started: str) -> None:
        containers = pod["spec"]["containers"]
        # From the processes' start, not from now: on a busy machine this thread may first run after a
        # short command has already ended, and a fault due meanwhile must still happen.
        t0 = rt.launched if rt.launched is not None else time.monotonic()
        oom = self.faults.take_pod_fault("oom", pod)
        evict = self.faults.take_pod_fault("evict", pod)
        deadline = pod["spec"].get("activeDeadlineSeconds")
        while any(p.poll() is None for p in rt.procs.values()):
            elapsed = time.monotonic() - t0
            for fault in (oom, evict):
                if fault is not None and elapsed >= fault.after and rt.forced_reason is None:
                    _impose(rt, fault)  # OOM kills the main container, an eviction every container
                    victims = [rt.procs[containers[0]["name"]]] if fault is oom else list(rt.procs.values())
                    for proc in victims:
                        _kill_group(proc, signal.SIGKILL)
            if deadline is not None and elapsed >= deadline and rt.forced_reason is None:
                rt.forced_reason = "DeadlineExceeded"
                rt.forced_message = f"Pod was active on the node longer than the specified deadline ({deadline}s)"
                for proc in rt.procs.values():
                    _kill_group(proc, signal.SIGTERM)
            time.sleep(0.01)
        ran = time.monotonic() - t0
        if rt.forced_reason is None and not rt.deleting.is_set():
            # This thread was not scheduled while a fault was due (a busy machine) and the command ended
            # meanwhile: the fault still happens, at its end, rather than silently not at all.
            for fault in (oom, evict):
                if fault is not None and ran >= fault.after and rt.forced_reason is None:
                    _impose(rt, fault)
        # Every log line is in before the pod is reported terminated (as a kubelet flushes them).
        end = time.monotonic() + 5
        for log in rt.logs.values():
            with self._lock:
                while not log.done and time.monotonic() < end:
                    log.cond.wait(timeout=0.05)
        finished = _now()
        statuses, codes = [], []
        for c in containers:
            proc = rt.procs.get(c["name"])
            code = proc.returncode if proc is not None else 128
            if code is not None and code < 0:
                code = 128 - code  # killed by a signal: 128 + signal number
            reason = "Completed" if code == 0 else "Error"
            if c is containers[0] and rt.container_reason:
                reason, code = rt.container_reason, rt.forced_code or code
            codes.append(code)
            term = {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished}
            statuses.append(self._container_status(c, {"terminated": term}))
        phase = "Succeeded" if all(c == 0 for c in codes) and rt.forced_reason in (None,) else "Failed"
        extra: dict[str, Any] = {}
        if rt.forced_reason in ("Evicted", "DeadlineExceeded"):
            phase = "Failed"
            extra = {"reason": rt.forced_reason, "message": rt.forced_message}
        self._set_phase(ns, name, phase, statuses=statuses, **extra)
        self._finish_deletion(ns, name, rt)

    def _finish_deletion(self, ns: str, name: str, rt: _PodRuntime) -> None:
        if rt.deleting.is_set():
            self._remove("pods", ns, name)

    # ----------------------------------------------------------------------------------- streams

    def watch(self, resource: str, ns: str | None, selector: str, rv: str | None, timeout: float,
              bookmarks: bool) -> Iterator[dict[str, Any] | None]:  # fmt: skip
        """Watch events as dicts; ``None`` is a heartbeat (nothing to send yet)."""
        sel = parse_selector(selector)
        kind, api_version = _KINDS[resource]
        end = time.monotonic() + timeout
        gone: dict[str, Any] | None = None
        with self._lock:
            generation = self._drop_generation
            if rv in (None, "", "0"):
                last = self._rv
                initial = [
                    {"type": "ADDED", "object": copy.deepcopy(o)}
                    for (res, n, _), o in self._objects.items()
                    if res == resource and (ns is None or n == ns)
                    and selector_matches(sel, o["metadata"].get("labels") or {})
                ]
            else:
                last = int(rv)
                initial = []
                if last + 1 < self._oldest or self.faults.take_expired():
                    gone = ApiError(410, "Expired", f"too old resource version: {last} ({self._oldest - 1})").status()
        if gone is not None:
            yield {"type": "ERROR", "object": gone}
            return
        yield from initial
        last_sent = time.monotonic()
        while True:
            batch: list[dict[str, Any]] = []
            with self._lock:
                if self._stopping or self._drop_generation != generation:
                    return
                if last + 1 < self._oldest:
                    gone = ApiError(410, "Expired", "too old resource version").status()
                else:
                    start = max(0, last + 1 - self._first_rv)
                    lag = self.faults.watch_lag
                    seen_until = time.monotonic() - lag
                    held = False
                    for index, (etype, where, obj, at) in enumerate(self._events[start:], start):
                        if lag and at > seen_until:
                            held = True  # not in the lagging watch cache yet
                            break
                        res, _, ens = where.partition("/")
                        if res == resource and (ns is None or ens == ns) and selector_matches(
                            sel, obj["metadata"].get("labels") or {}
                        ):
                            batch.append({"type": etype, "object": obj})
                        last = max(last, self._first_rv + index)
                    if not batch:
                        remaining = end - time.monotonic()
                        if remaining <= 0:
                            return
                        self._cond.wait(timeout=min(remaining, 0.05 if held else 0.5))
            if gone is not None:
                yield {"type": "ERROR", "object": gone}
                return
            if batch:
                yield from batch
                last_sent = time.monotonic()
            elif bookmarks and self.bookmark_interval and time.monotonic() - last_sent > self.bookmark_interval:
                meta = {"resourceVersion": str(last)}
                yield {"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": meta}}
                last_sent = time.monotonic()
            else:
                yield None

    def log_stream(self, ns: str, name: str, container: str | None, follow: bool, timestamps: bool,
                   since: str | None, since_seconds: float | None = None) -> Iterator[str | None]:  # fmt: skip
        with self._lock:
            pod = self._objects.get(("pods", ns, name))
            rt = self._runtime.get((ns, name))
            if pod is None or rt is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            names = [c["name"] for c in pod["spec"]["containers"]]
            if container is None:
                if len(names) > 1:
                    raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                                      f"choose one of: {names}")  # fmt: skip
                container = names[0]
            if container not in names:
                raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
            log = rt.logs.get(container)
            if log is None:
                raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                                  "ContainerCreating")  # fmt: skip
            generation = self._drop_generation
        if since_seconds is not None:
            stamp = dt.datetime.fromtimestamp(time.time() - since_seconds, dt.timezone.utc)
            since = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        index = 0
        while True:
            with self._lock:
                if self._drop_generation != generation:
                    raise ConnectionAbortedError("stream dropped")
                chunk = log.lines[index:]
                index += len(chunk)
                done = log.done
                if not chunk and not done and follow and not self._stopping:
                    log.cond.wait(timeout=0.5)
            for ts, line in chunk:
                if since is not None and ts < since:
                    continue
                yield f"{ts} {line}\n" if timestamps else line + "\n"
            if not chunk:
                if done or not follow or self._stopping:
                    return
                yield None


def _truthy(value: str | None) -> bool:
    """Go's ParseBool, as the API server reads query flags (``true``, ``True``, ``1``, ``t``)."""
    return (value or "").lower() in ("1", "t", "true")


def _impose(rt: _PodRuntime, fault: _PodFault) -> None:
    """The end an OOM kill or an eviction gives the pod: exit 137 (even if the command ended on its own
    between the kubelet's poll and its kill) and the reasons a kubelet reports."""
    if fault.kind == "oom":
        rt.forced_reason = rt.container_reason = "OOMKilled"
    else:
        rt.forced_reason, rt.forced_message, rt.container_reason = "Evicted", fault.message, "Error"
    rt.forced_code = 137


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (dropped streams, closed pools) are normal here."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    cluster: FakeCluster
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # Every verb goes through one dispatcher.
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "the body is not JSON") from None

    def _send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        lost = getattr(self, "_lost_answer", None)
        if lost is not None and code < 400:
            # The request took effect; its answer is lost and replaced by the injected error.
            self._lost_answer = None
            self._send_fault(lost)
            return
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        cluster = self.cluster
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._lost_answer: _RequestFault | None = None
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else None
            if path == "/_stats":
                self._send_json(200, {"requests": dict(cluster.requests), "pods": len(cluster.pods()),
                                      "injected": dict(cluster.injected)})  # fmt: skip
                return
            with cluster._lock:
                cluster.calls[rbac_attributes(method, path, query)] += 1
            if path == "/version":
                self._send_json(200, {"major": "1", "minor": "36", "gitVersion": "v1.36.0-workbench-test"})
                return
            fault = cluster.faults.take_request_fault(method, path)
            if fault is not None and fault.commit and method != "GET":
                cluster.requests[f"{method} fault {fault.status} after commit"] += 1
                self._lost_answer = fault  # answered by _send_json once the request took effect
            elif fault is not None:
                cluster.requests[f"{method} fault {fault.status}"] += 1
                self._send_fault(fault)
                return
            m = _CORE.match(path) or _BATCH.match(path)
            if m is not None:
                ns, res, name = m.group("ns"), m.group("res"), m.group("name")
                sub = m.groupdict().get("sub")
            else:
                m = _ALL.match(path)
                if m is None:
                    raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
                ns, res, name, sub = None, m.group("res"), None, None
            self._route(method, ns, res, name, sub, query, body)
        except ApiError as err:
            headers = {"Retry-After": f"{err.retry_after:g}"} if err.retry_after is not None else {}
            self._send_json(err.code, err.status(), headers)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _send_fault(self, fault: _RequestFault) -> None:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}.get(
            fault.status, "InternalError"
        )
        self._send_json(fault.status, ApiError(fault.status, reason, "injected fault").status(), headers)

    def _route(self, method: str, ns: str | None, res: str, name: str | None, sub: str | None,
               query: dict[str, str], body: Any) -> None:  # fmt: skip
        cluster = self.cluster
        if sub == "/log" and method == "GET":
            cluster.requests["GET log"] += 1
            assert ns is not None and name is not None
            stream = cluster.log_stream(
                ns, name, query.get("container"), _truthy(query.get("follow")),
                _truthy(query.get("timestamps")), query.get("sinceTime"),
                float(query["sinceSeconds"]) if "sinceSeconds" in query else None,
            )  # fmt: skip
            self._stream(stream, content_type="text/plain")
            return
        if name is None and method == "GET":
            if _truthy(query.get("watch")):
                cluster.requests[f"WATCH {res}"] += 1
                events = cluster.watch(
                    res, ns, query.get("labelSelector", ""), query.get("resourceVersion"),
                    float(query.get("timeoutSeconds") or 1800), _truthy(query.get("allowWatchBookmarks")),
                )  # fmt: skip
                self._stream((json.dumps(e) + "\n" if e is not None else None for e in events), "application/json")
                return
            cluster.requests[f"LIST {res}"] += 1
            self._send_json(200, cluster.list(res, ns, query.get("labelSelector", "")))
            return
        if name is None and method == "POST" and ns is not None:
            cluster.requests[f"CREATE {res}"] += 1
            self._send_json(201, cluster.create(res, ns, body))
            return
        if name is not None and ns is not None and method == "GET":
            cluster.requests[f"GET {res}"] += 1
            self._send_json(200, cluster.get(res, ns, name))
            return
        if name is not None and ns is not None and method == "DELETE":
            cluster.requests[f"DELETE {res}"] += 1
            grace = query.get("gracePeriodSeconds")
            if grace is None and isinstance(body, dict):
                grace = body.get("gracePeriodSeconds")
            self._send_json(200, cluster.delete(res, ns, name, float(grace) if grace is not None else None))
            return
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _stream(self, chunks: Iterator[str | None], content_type: str) -> None:
        """A chunked response; ``None`` items are heartbeats that only check the client is still there."""
        first = next(chunks, None)
        # Errors raised before the first chunk are answered as a normal error response.
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sock = self.connection
        with self.cluster._lock:
            self.cluster._streams.add(sock)
        clean = False
        try:
            if first is not None:
                self._chunk(first)
            for item in chunks:
                if item is not None:
                    self._chunk(item)
            clean = True
        except ConnectionAbortedError:
            pass
        finally:
            with self.cluster._lock:
                self.cluster._streams.discard(sock)
        if clean:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass
        else:
            self.close_connection = True

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A Kubernetes-API-compatible test server (kubelet stand-in).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="working directory of containers without workingDir")
    parser.add_argument("--validate", action="store_true", help="check created pods against the OpenAPI schema")
    args = parser.parse_args(argv)
    cluster = FakeCluster(default_workdir=args.workdir, validate=args.validate).start(args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    print(f"READY {cluster.url}", flush=True)
    stop.wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
