"""Where a step executes, behind one small interface: start, stream logs, wait, cancel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.errors import WorkbenchError


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
