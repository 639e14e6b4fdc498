"""Fixtures of the dashboard tests: one real workspace per session (see ``ui_helpers.build_workspace``)."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for entry in (str(REPO), str(HERE)):  # ``ui`` (the dashboard package) and ``ui_helpers``
    if entry not in sys.path:
        sys.path.insert(0, entry)


@pytest.fixture(scope="session")
def ui_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with real experiments (single- and multi-objective, sklearn artifacts, a standalone run)."""
    from ui_helpers import build_workspace

    return build_workspace(tmp_path_factory.mktemp("ui-ws"))


@pytest.fixture
def ui_copy(ui_home: Path, tmp_path: Path) -> Path:
    """A copy of the workspace that a test may change."""
    home = tmp_path / "home"
    shutil.copytree(ui_home, home, symlinks=True)
    return home


def store_digests(home: Path) -> dict[str, str]:
    """Checksums of every store file (to prove the dashboard wrote nothing).

    SQLite's ``-shm`` files (the shared-memory index every reader of a WAL database maps and
    updates) are left out, and an empty ``-wal`` file counts as no file: a reader opening a
    WAL database creates both without writing anything. A write still shows, in the database
    file or as frames in its ``-wal``.
    """
    out = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.suffix not in (".flock", ".lock") and p.parent.name != "locks":
            if p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0):
                continue
            out[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
