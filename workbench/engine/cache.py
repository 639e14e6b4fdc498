"""Step caching: reuse a step's outputs when nothing it depends on changed.

The cache key of a step is the digest of

- its *scope*: by default the experiment (namespace and name) of a trial, or the namespace
  and pipeline name of a standalone run (what Kubeflow Pipelines scopes its cache by), so
  that no key matches across experiments unless the experiment opts in;
- its component: the spec (image, command, args, ...), the source file of a Python
  component, and any file its command line names that exists (a local script);
- its resolved input parameter values;
- the *content* digests of its input artifacts (not only their paths);
- the environment variables the step is given (component and step ``env``);
- how its metrics are collected (the collector spec and the metric names).

A key matching an earlier successful execution whose outputs still exist unchanged, and
whose collected metrics were recorded, is a hit: the step does not run, its outputs are
reused, the metrics the original step yielded are replayed, and the step is recorded as
Cached. Looking the key up is the job of a :class:`BaseStepCache`: the lineage store (ML
Metadata) is the truth, and :class:`IndexedStepCache` keeps an index of keys in the
workspace in front of it, so that a hit costs a file read rather than a query.

Example:
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = f.write_text("hello")
    >>> content_digest(str(f))[:12]
    '2cf24dba5fb0'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.collector import Collected
from workbench.runtime.objstore import content_digest
from workbench.spec import Component

log = logging.getLogger("workbench.engine")
#: Version of the metrics record and index entry formats.
RECORD_VERSION = 1


@dataclass(frozen=True)
class FileStamp:
    """What is known of an output when it was written: enough to notice it changed."""

    digest: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> FileStamp:
        st = os.stat(path)
        size = st.st_size if stat.S_ISREG(st.st_mode) else -1
        return cls(content_digest(path), size, st.st_mtime_ns)

    def matches(self, path: str) -> bool:
        """True if ``path`` still holds what was stamped (size and mtime first, content if they differ)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if stat.S_ISREG(st.st_mode) and st.st_size == self.size and st.st_mtime_ns == self.mtime_ns:
            return True
        try:
            return content_digest(path) == self.digest
        except OSError:
            return False


_source_digests: dict[tuple[str, int, int], str] = {}


def _file_digest_cached(path: str) -> str:
    """Digest of a source file, memoized by (path, size, mtime)."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    digest = _source_digests.get(key)
    if digest is None:
        digest = _source_digests[key] = content_digest(path)
    return digest


def component_digest(component: Component, argv: list[str], workdir: str, spec_digest: str | None = None) -> str:
    """The component's spec (``spec_digest``: its ``digest()`` when known), its Python source file,
    and local files its command line names."""
    h = hashlib.sha256((spec_digest or component.digest()).encode())
    impl = component.implementation
    if impl.python is not None and os.path.isfile(impl.python.file):
        h.update(_file_digest_cached(impl.python.file).encode())
    else:
        for arg in argv[1:]:
            candidate = arg if os.path.isabs(arg) else os.path.join(workdir, arg)
            if len(arg) < 4096 and os.path.isfile(candidate):
                h.update(f"{arg}\0{_file_digest_cached(candidate)}".encode())
    return h.hexdigest()


def cache_key(
    component: str,
    parameters: dict[str, Any],
    artifacts: dict[str, str],
    env: dict[str, str],
    scope: str = "",
    collect: Any = None,
) -> str:
    """The cache key from the scope, component digest, parameter values, input artifact digests, env
    and metrics collection (``collect``: anything JSON that describes it)."""
    blob = json.dumps(
        {
            "scope": scope,
            "component": component,
            "parameters": parameters,
            "artifacts": artifacts,
            "env": env,
            "collect": collect,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def metrics_record_path(log_path: str | Path) -> Path:
    """Where the metrics a step execution yielded are recorded: next to its log (``train.metrics.json``)."""
    path = Path(log_path)
    return path.with_name(path.name.removesuffix(".log") + ".metrics.json")


def write_metrics_record(log_path: str | Path, collected: list[Collected]) -> None:
    """Record what a successful step yielded (atomically: a reader never sees half of it)."""
    _write_json(metrics_record_path(log_path), {"version": RECORD_VERSION, "metrics": collected})


def read_metrics_record(log_path: str | Path) -> list[Collected] | None:
    """The metrics a step execution yielded, or ``None`` when they were not recorded (or not readably)."""
    try:
        data = json.loads(metrics_record_path(log_path).read_text(encoding="utf-8"))
        return _collected(data["metrics"]) if data.get("version") == RECORD_VERSION else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _collected(items: Any) -> list[Collected]:
    out: list[Collected] = []
    for name, value, index in items:
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("not a collected value")
        out.append((name, float(value), None if index is None else int(index)))
    return out


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class CacheHit:
    """A reusable earlier execution of a step."""

    #: output name -> (path, stamp)
    outputs: dict[str, tuple[str, FileStamp]]
    run_id: str
    step: str
    log_path: str
    finished: float
    #: The metrics the execution yielded, in order (``None``: not known yet, read from its record).
    metrics: list[Collected] | None = None

    def usable(self, outputs: list[str], max_staleness: float | None, now: float) -> bool:
        """Fresh enough, every output still there unchanged, and its metrics known (read them if need be)."""
        if max_staleness is not None and now - self.finished > max_staleness:
            return False
        if set(outputs) - set(self.outputs):
            return False
        if not all(stamp.matches(path) for path, stamp in (self.outputs[o] for o in outputs)):
            return False
        if self.metrics is None and self.log_path:
            self.metrics = read_metrics_record(self.log_path)
        return self.metrics is not None

    def to_json(self) -> dict[str, Any]:
        outputs = {n: [p, s.digest, s.size, s.mtime_ns] for n, (p, s) in self.outputs.items()}
        return {
            "version": RECORD_VERSION,
            "run_id": self.run_id,
            "step": self.step,
            "log_path": self.log_path,
            "finished": self.finished,
            "outputs": outputs,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CacheHit:
        if data.get("version") != RECORD_VERSION:
            raise ValueError("another version")
        outputs = {
            str(n): (str(p), FileStamp(str(d), int(size), int(mtime)))
            for n, (p, d, size, mtime) in data["outputs"].items()
        }
        metrics = data.get("metrics")
        return cls(
            outputs=outputs,
            run_id=str(data["run_id"]),
            step=str(data["step"]),
            log_path=str(data["log_path"]),
            finished=float(data["finished"]),
            metrics=None if metrics is None else _collected(metrics),
        )


class BaseStepCache(ABC):
    """Finds earlier executions by cache key (the lineage store implements it)."""

    @abstractmethod
    def candidates(self, key: str) -> list[CacheHit]:
        """COMPLETE executions recorded with ``key``, newest first."""

    def lookup(self, key: str, outputs: list[str], max_staleness: float | None = None) -> CacheHit | None:
        """The newest candidate that is fresh enough, whose outputs all still exist unchanged and whose
        metrics were recorded."""
        now = time.time()
        for hit in self.candidates(key):
            if hit.usable(outputs, max_staleness, now):
                return hit
        return None

    def lookup_indexed(self, key: str, outputs: list[str], max_staleness: float | None = None) -> CacheHit | None:
        """What :meth:`lookup` finds without a query to the lineage store (none: a cache with no index)."""
        return None

    def remember(self, key: str, hit: CacheHit) -> None:  # noqa: B027 (optional: most caches index nothing)
        """A step just succeeded with ``key`` (its execution reaches the lineage store on its own)."""


class IndexedStepCache(BaseStepCache):
    """An index of cache keys in the workspace, in front of the lineage store that stays the truth.

    Each successful cacheable step leaves an entry ``<folder>/<key[:2]>/<key>.json`` (its outputs with
    their stamps, its metrics). A lookup reads that one file and serves it only if it is usable
    (every output still exists with the digest it had, fresh enough); otherwise, or with no entry
    (a workspace from before the index, an execution made on another machine sharing the lineage
    store), the lineage store is asked, and what it finds is indexed.

    Example:
        >>> import tempfile
        >>> class Nothing(BaseStepCache):
        ...     def candidates(self, key):
        ...         return []
        >>> IndexedStepCache(tempfile.mkdtemp(), Nothing()).lookup("0" * 64, ["model"]) is None
        True
    """

    def __init__(self, folder: str | Path, truth: BaseStepCache) -> None:
        self.folder = Path(folder)
        self.truth = truth

    def _entry(self, key: str) -> Path:
        if not key.isalnum():  # keys are hex digests; anything else would be a bug
            raise ValueError(f"invalid cache key {key!r}")
        return self.folder / key[:2] / f"{key}.json"

    def candidates(self, key: str) -> list[CacheHit]:
        return self.truth.candidates(key)

    def lookup_indexed(self, key: str, outputs: list[str], max_staleness: float | None = None) -> CacheHit | None:
        try:
            hit = CacheHit.from_json(json.loads(self._entry(key).read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # unreadable: the lineage store answers, and a good entry replaces it
        return hit if hit.usable(outputs, max_staleness, time.time()) else None

    def lookup(self, key: str, outputs: list[str], max_staleness: float | None = None) -> CacheHit | None:
        hit = self.lookup_indexed(key, outputs, max_staleness)
        if hit is not None:
            return hit
        found = self.truth.lookup(key, outputs, max_staleness)
        if found is not None:
            self.remember(key, found)
        return found

    def remember(self, key: str, hit: CacheHit) -> None:
        try:
            _write_json(self._entry(key), hit.to_json())
        except OSError as err:  # the index is an accelerator: without it, the lineage store answers
            log.warning("step cache index %s not written: %s", self.folder, err)
