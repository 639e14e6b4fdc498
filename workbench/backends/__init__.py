"""Backends: where steps execute (``local`` processes; ``kubernetes`` pods)."""

from workbench.backends._base import BaseBackend, StepHandle, StepLaunch, StepLaunchError
from workbench.backends.local import LocalBackend
from workbench.errors import SpecError


def get_backend(name: str) -> BaseBackend:
    """The backend called ``name``."""
    if name == "local":
        return LocalBackend()
    raise SpecError(f"unknown backend {name!r} (available: local)", path="backend")


__all__ = ["BaseBackend", "LocalBackend", "StepHandle", "StepLaunch", "StepLaunchError", "get_backend"]
