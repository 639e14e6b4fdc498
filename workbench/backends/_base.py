"""Where a step executes, behind one small interface: start, stream logs, wait, cancel."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError

#: A longer output line is handed on in pieces of this size (a line with no end is never held whole in memory).
MAX_LINE_BYTES = 1 << 20


class StepLaunchError(WorkbenchError):
    """The step could not be started at all (command not found, image missing, ...)."""


@dataclass
class StepLaunch:
    """Everything a backend needs to start one step."""

    argv: list[str]
    env: dict[str, str]
    workdir: str
    #: A name unique in the experiment (a pod name on Kubernetes).
    name: str
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # Who the step belongs to (pod names, labels and adoption on Kubernetes; optional elsewhere).
    experiment: str = ""
    namespace: str = ""
    run_id: str = ""
    step: str = ""
    trial: int | None = None
    attempt: int = 1
    #: The step's timeout in seconds (the engine enforces it; Kubernetes also bounds the pod with it).
    timeout: float | None = None
    #: Pod settings of the step (camelCase, see ``workbench.spec._kubernetes.KubernetesSpec``); ``{}`` for none.
    kubernetes: dict[str, Any] = field(default_factory=dict)
    #: Input parameter values (fill ``${trialParameters.x}`` in a Katib pod template).
    parameters: dict[str, Any] = field(default_factory=dict)
    #: The environment the step itself defines (component + step env), without the controller's own
    #: environment; ``None``: unknown (backends that start remote pods then keep what differs from it).
    own_env: dict[str, str] | None = None
    #: ``argv`` are arguments to the image's entrypoint (the component gives ``args`` but no ``command``).
    entrypoint_args: bool = False
    #: Output paths the step writes, and input artifact paths it reads (object-store artifacts).
    outputs: dict[str, str] = field(default_factory=dict)
    input_paths: list[str] = field(default_factory=list)
    #: Set when the run is cancelled (a backend that waits for a pod to start stops waiting).
    cancel: threading.Event | None = None


class StepHandle(ABC):
    """A running step."""

    @abstractmethod
    def lines(self) -> Iterator[str]:
        """The step's combined stdout/stderr, line by line, until it ends."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the end; the exit code, or ``None`` if still running after ``timeout``."""

    @abstractmethod
    def cancel(self, grace: float = 5.0) -> None:
        """Stop the step: ask politely, then force after ``grace`` seconds. Idempotent."""


class BaseBackend(ABC):
    """A place to run steps: ``local`` processes or ``kubernetes`` pods.

    Example:
        >>> from workbench.backends import LocalBackend
        >>> handle = LocalBackend().start(StepLaunch(argv=["echo", "hi"], env={}, workdir=".", name="demo"))
        >>> list(handle.lines()), handle.wait()
        (['hi'], 0)
    """

    name: str = "base"

    @abstractmethod
    def start(self, launch: StepLaunch) -> StepHandle:
        """Start a step; raise :class:`StepLaunchError` if it cannot start."""

    def preflight(self, launch: StepLaunch) -> None:  # noqa: B027 - optional hook
        """Check, before an experiment starts, that a step of this shape can be launched."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (watches, clients)."""

    def artifact_uri(self, path: str) -> str:
        """The URI an artifact path is kept under for good (lineage records it): the path itself by default.

        A backend whose steps keep artifacts in an object store answers ``s3://bucket/prefix/...``.
        """
        return path

    def adoptable_runs(self, experiment: str, namespace: str) -> set[str]:
        """Run ids with steps still running from an earlier controller (a resumed controller adopts them).

        Local processes die with their pipes, so the default is none.
        """
        return set()

    def cleanup(self, experiment: str, namespace: str, keep: Collection[str] = ()) -> int:
        """Remove what earlier controllers of ``experiment`` left behind, except the runs in ``keep``.

        Returns how many leftovers were removed.
        """
        return 0
