from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_helpers import scratch_postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from scratch_postgres()
