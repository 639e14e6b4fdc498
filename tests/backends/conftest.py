"""Fixtures of the Kubernetes backend tests (helpers live in ``k8s_helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import K8S_VERSION, backend

from workbench.testing.k8s_server import FakeCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """A test API server that validates every pod against the OpenAPI schema (strict) and refuses invalid ones."""
    c = FakeCluster(default_workdir=str(tmp_path), validate=True, k8s_version=K8S_VERSION, bookmark_interval=0.5)
    c.start()
    yield c
    c.stop()
    assert not c.invalid, f"the backend built invalid pods: {c.invalid}"


@pytest.fixture
def kube(cluster: FakeCluster, tmp_path: Path) -> Iterator[Any]:
    """A Kubernetes backend on the test cluster (closed at teardown)."""
    b = backend(cluster, tmp_path)
    yield b
    b.close()
