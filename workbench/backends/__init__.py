"""Backends: where steps execute (``local`` processes; ``kubernetes`` pods)."""

from __future__ import annotations

import os
from typing import Any

from workbench.backends._base import BaseBackend, StepHandle, StepLaunch, StepLaunchError
from workbench.backends.local import LocalBackend
from workbench.errors import SpecError

BACKENDS = ("local", "kubernetes")


def default_backend_name(workspace: Any = None) -> str:
    """The backend named by ``$WORKBENCH_BACKEND``, or ``backend`` in the workspace settings, or local."""
    if os.environ.get("WORKBENCH_BACKEND"):
        return os.environ["WORKBENCH_BACKEND"]
    home = getattr(workspace, "home", None)
    if home is not None:
        from workbench.settings import load_settings

        backend = load_settings(home).get("backend")
        if backend:
            return str(backend)
    return "local"


def get_backend(name: str | None = None, workspace: Any = None) -> BaseBackend:
    """The backend called ``name`` (``None``: the workspace's ``backend`` setting, else ``local``).

    ``kubernetes`` reads its settings from the workspace (see ``KubernetesSettings``).
    """
    if name is None:
        name = default_backend_name(workspace)
    if name == "local":
        return LocalBackend()
    if name in ("kubernetes", "k8s"):
        from workbench.backends.kubernetes import KubernetesBackend, KubernetesSettings

        return KubernetesBackend(KubernetesSettings.load(workspace))
    raise SpecError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})", path="backend")


__all__ = ["BaseBackend", "LocalBackend", "StepHandle", "StepLaunch", "StepLaunchError", "get_backend"]
