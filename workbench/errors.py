"""Errors shared by every layer of Workbench.

``SpecError`` is raised for anything wrong with user input (a YAML file, a Python
spec, CLI arguments); the CLI prints it and exits with status 2 before any store
is touched. ``WorkbenchError`` covers run-time problems (a dead server, a locked
experiment) and makes the CLI exit with status 1.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A run-time problem that the user can act on; the message says what and where."""


class SpecError(WorkbenchError):
    """Invalid user input.

    ``path`` names the field (``spec.parameters[2].feasibleSpace.min``) and
    ``source`` the file it came from, when known.

    Example:
        >>> err = SpecError("must not be greater than max (0.1)", path="spec.parameters[0].feasibleSpace.min")
        >>> str(err)
        'spec.parameters[0].feasibleSpace.min: must not be greater than max (0.1)'
    """

    def __init__(self, message: str, path: str = "", source: str | None = None) -> None:
        self.message = message
        self.path = path
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path
        if self.source:
            where = f"{self.source}: {where}" if where else self.source
        return f"{where}: {self.message}" if where else self.message

    def within(self, prefix: str, source: str | None = None) -> SpecError:
        """Return a copy whose path is nested under ``prefix`` (and names ``source``)."""
        path = join_path(prefix, self.path)
        return SpecError(self.message, path=path, source=source or self.source)


def join_path(prefix: str, path: str) -> str:
    """Join two field paths: ``join_path("spec", "parameters[0]")`` is ``spec.parameters[0]``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"
