"""Step caching: reuse a step's outputs when nothing it depends on changed.

The cache key of a step is the digest of

- its component: the spec (image, command, args, ...), the source file of a Python
  component, and any file its command line names that exists (a local script);
- its resolved input parameter values;
- the *content* digests of its input artifacts (not only their paths);
- the environment variables the step is given (component and step ``env``).

A key matching a COMPLETE execution in the lineage store (ML Metadata) whose outputs
still exist unchanged is a hit: the step does not run, its outputs are reused, and the
step is recorded as Cached. Looking the key up is the job of a :class:`BaseStepCache`.

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
import os
import stat
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from workbench.runtime.objstore import content_digest
from workbench.spec import Component


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


def component_digest(component: Component, argv: list[str], workdir: str) -> str:
    """The component's spec, its Python source file, and local files its command line names."""
    h = hashlib.sha256(component.digest().encode())
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
) -> str:
    """The cache key from the component digest, parameter values, input artifact digests and env."""
    blob = json.dumps(
        {"component": component, "parameters": parameters, "artifacts": artifacts, "env": env},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class CacheHit:
    """A reusable earlier execution of a step."""

    #: output name -> (path, stamp)
    outputs: dict[str, tuple[str, FileStamp]]
    run_id: str
    step: str
    log_path: str
    finished: float
    value_outputs: dict[str, Any] = field(default_factory=dict)


class BaseStepCache(ABC):
    """Finds earlier executions by cache key (the lineage store implements it)."""

    @abstractmethod
    def candidates(self, key: str) -> list[CacheHit]:
        """COMPLETE executions recorded with ``key``, newest first."""

    def lookup(self, key: str, outputs: list[str], max_staleness: float | None = None) -> CacheHit | None:
        """The newest candidate that is fresh enough and whose outputs all still exist unchanged."""
        now = time.time()
        for hit in self.candidates(key):
            if max_staleness is not None and now - hit.finished > max_staleness:
                continue
            if set(outputs) - set(hit.outputs):
                continue
            if all(stamp.matches(path) for path, stamp in (hit.outputs[o] for o in outputs)):
                return hit
        return None
