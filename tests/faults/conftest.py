"""Fixtures of the fault-injection suite: a small tmpfs to fill or make read-only."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from faults_helpers import Tmpfs

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 2 MB tmpfs under the test's folder, unmounted at the end (skips where mounting is not permitted)."""
    path = tmp_path / "tmpfs"
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)], capture_output=True, text=True
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield Tmpfs(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)  # busy: detach it now, free it later
