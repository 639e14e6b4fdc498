"""The Kubernetes API as the backend uses it: the official client, retried on 429/5xx, and one watch per experiment.

Only raw JSON crosses this layer (``_preload_content=False``): no model objects are built for
watch events or created pods, which keeps the controller's CPU per step low.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("workbench.backends.kubernetes")

#: Answers worth retrying: throttling and server-side trouble.
RETRYABLE = (429, 500, 502, 503, 504)
TERMINAL_PHASES = ("Succeeded", "Failed")
#: Requests whose answer is a stream the caller reads (and closes) itself.
STREAMS = ("watch", "log")


def _exceptions() -> tuple[type[BaseException], ...]:
    """Transport errors: the connection was refused, reset or cut mid-stream."""
    import urllib3

    return (urllib3.exceptions.HTTPError, OSError)


class ApiUnavailable(Exception):
    """The API kept failing after every retry."""


class Api:
    """A ``CoreV1Api`` with retries (exponential backoff, ``Retry-After`` honoured) and request counts."""

    def __init__(self, api_client: Any, retries: int = 8, backoff: float = 0.2, max_backoff: float = 5.0,
                 stop: threading.Event | None = None) -> None:  # fmt: skip
        from kubernetes import client

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop = stop or threading.Event()
        #: Requests sent, by kind (``create``, ``delete``, ``log``, ``watch``, ``list``, ``get``, ``retry``).
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def call(self, kind: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, retried on throttling, server errors and dropped connections.

        With ``_preload_content=False`` the raw response comes back; unless ``kind`` is a stream
        (``watch``, ``log``) its body is read (``.data``) and its connection returned to the pool.
        """
        from kubernetes.client.exceptions import ApiException

        transport = _exceptions()
        delay = self.backoff
        attempt = 0
        while True:
            attempt += 1
            self.count(kind)
            try:
                result = fn(*args, **kwargs)
                if kind not in STREAMS and hasattr(result, "release_conn"):
                    _ = result.data  # read the whole body, then give the connection back to the pool
                    result.release_conn()
                return result
            except ApiException as err:
                if err.status not in RETRYABLE or attempt > self.retries:
                    if err.status in RETRYABLE:
                        raise ApiUnavailable(f"{kind}: {err.status} {err.reason} after {attempt} tries") from err
                    raise
                wait = _retry_after(err) if err.status == 429 else None
                reason = f"{err.status} {err.reason}"
            except transport as err:
                if attempt > self.retries:
                    raise ApiUnavailable(f"{kind}: {type(err).__name__}: {err}") from err
                wait, reason = None, type(err).__name__
            pause = min(self.max_backoff, wait if wait is not None else delay)
            log.debug("%s: %s; retrying in %.2fs (attempt %d)", kind, reason, pause, attempt)
            self.count("retry")
            delay = min(self.max_backoff, delay * 2)
            if self.stop.wait(pause):
                raise ApiUnavailable(f"{kind}: the backend is closing")


def _retry_after(err: Any) -> float | None:
    headers = getattr(err, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_message(err: Any) -> str:
    """The ``message`` of an API error's Status body, or its reason."""
    body = getattr(err, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)[:500]
    return f"{getattr(err, 'status', '')} {getattr(err, 'reason', err)}".strip()


def response_lines(resp: Any) -> Iterator[str]:
    """The lines of a streamed response (a watch or a followed log), as they arrive."""
    from kubernetes.watch.watch import iter_resp_lines

    try:
        yield from iter_resp_lines(resp)
    finally:
        resp.close()
        resp.release_conn()


Listener = Callable[[str, dict[str, Any]], None]


class PodWatch:
    """One watch over the pods of one experiment (a label selector), shared by every step handle.

    Lists once, then watches from the list's ``resourceVersion``; a dropped or timed-out stream
    resumes from the last ``resourceVersion`` seen (bookmarks included); ``410 Gone`` relists
    and tells every listener the pod's current state (or that it is gone). Events are handed to
    the listener registered for the pod's name; every pod's last state is kept for adoption.
    """

    def __init__(self, api: Api, namespace: str, selector: str, timeout: int = 300) -> None:
        self.api = api
        self.namespace = namespace
        self.selector = selector
        self.timeout = timeout
        self.pods: dict[str, dict[str, Any]] = {}
        self.resource_version: str | None = None
        self.relists = 0
        self.resumes = 0
        self._listeners: dict[str, Listener] = {}
        self._lock = threading.Lock()
        self._launched = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._resp: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"k8s-watch-{selector[:40]}", daemon=True)

    # ----------------------------------------------------------------------------------- public

    def start(self, timeout: float = 60.0) -> PodWatch:
        """Start watching; returns once the first list is in (raises if the API cannot be reached).

        Safe to call from many threads at once (the first steps of a sweep start together).
        """
        with self._lock:
            if not self._launched:
                self._launched = True
                self._thread.start()
        if not self._ready.wait(timeout):
            raise ApiUnavailable(f"listing pods ({self.selector}) took more than {timeout:g}s")
        if self._error is not None and not self.pods and self.resource_version is None:
            raise ApiUnavailable(str(self._error))
        return self

    def listen(self, name: str, listener: Listener) -> dict[str, Any] | None:
        """Send ``name``'s events to ``listener``; returns the pod's last known state, if any."""
        with self._lock:
            self._listeners[name] = listener
            return self.pods.get(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._listeners.pop(name, None)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.pods.values())

    def stop(self) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                import socket

                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # ----------------------------------------------------------------------------------- loop

    def _dispatch(self, kind: str, pod: dict[str, Any]) -> None:
        name = pod.get("metadata", {}).get("name", "")
        with self._lock:
            if kind == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = pod
            listener = self._listeners.get(name)
        if listener is not None:
            try:
                listener(kind, pod)
            except Exception:  # a handle's bug must not kill the experiment's only watch
                log.exception("pod event handler failed for %s", name)

    def _relist(self) -> None:
        body = self.api.call(
            "list", self.api.core.list_namespaced_pod, self.namespace, label_selector=self.selector,
            _preload_content=False, _request_timeout=(10, 60),
        )  # fmt: skip
        data = json.loads(body.data)
        items = data.get("items") or []
        seen = {p["metadata"]["name"] for p in items}
        with self._lock:
            gone = [p for name, p in self.pods.items() if name not in seen]
        for pod in gone:
            self._dispatch("DELETED", pod)
        for pod in items:
            pod.setdefault("kind", "Pod")
            self._dispatch("MODIFIED" if self._ready.is_set() else "ADDED", pod)
        self.resource_version = data.get("metadata", {}).get("resourceVersion")
        self.relists += 1

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        transport = _exceptions()
        backoff = self.api.backoff
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                    self._ready.set()
                self._watch_once()
                backoff = self.api.backoff
            except ApiException as err:
                if err.status == 410:
                    self.resource_version = None
                    continue
                self._error = err
                log.warning("watching pods (%s): %s %s", self.selector, err.status, err.reason)
            except ApiUnavailable as err:
                self._error = err
                log.warning("watching pods (%s): %s", self.selector, err)
            except transport as err:
                if self._stop.is_set():
                    break
                self._error = err
                self.resumes += 1
                log.debug("watch stream dropped (%s): %s; resuming", self.selector, err)
                continue  # resume at once from the last resourceVersion
            except Exception as err:  # keep the only watch alive whatever happens
                self._error = err
                log.exception("watching pods (%s) failed", self.selector)
            finally:
                self._resp = None
            if not self._ready.is_set() and self._error is not None:
                self._ready.set()  # let start() report the error
            if self._stop.wait(backoff):
                break
            backoff = min(self.api.max_backoff, backoff * 2)

    def _watch_once(self) -> None:
        """One watch request, until the server ends it, the connection drops, or 410 Gone."""
        resp = self.api.call(
            "watch", self.api.core.list_namespaced_pod, self.namespace, label_selector=self.selector,
            watch=True, resource_version=self.resource_version, allow_watch_bookmarks=True,
            timeout_seconds=self.timeout, _preload_content=False, _request_timeout=(10, self.timeout + 30),
        )  # fmt: skip
        self._resp = resp
        for line in response_lines(resp):
            if self._stop.is_set():
                return
            if not line:
                continue
            event = json.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                if code == 410:
                    log.debug("watch (%s): 410 Gone; relisting", self.selector)
                    self.resource_version = None
                    return
                from kubernetes.client.exceptions import ApiException

                raise ApiException(status=code or 500, reason=f"{obj.get('reason')}: {obj.get('message')}")
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                continue
            self._dispatch(kind, obj)
        self.resumes += 1  # the server closed the stream (timeoutSeconds): resume from resource_version
