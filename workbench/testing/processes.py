"""The process table, as the reliability tests read it: which processes are left behind.

Example:
    >>> import os, tempfile
    >>> processes_in(tempfile.mkdtemp())  # a new folder: no process works in it
    []
"""

from __future__ import annotations

import os
from pathlib import Path


def processes_in(folder: str | Path) -> list[int]:
    """Live processes (not zombies, not this one) whose working folder is ``folder`` or inside it (Linux ``/proc``)."""
    folder = str(folder)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == folder or cwd.startswith(folder + os.sep)):
            found.append(int(entry.name))
    return found


__all__ = ["processes_in"]
