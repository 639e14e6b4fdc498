"""Helpers for the run-store and scheduler tests: scratch PostgreSQL databases, small pipelines, a fake launcher."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def scratch_postgres() -> Iterator[str]:
    """A new PostgreSQL database for one test (dropped afterwards); skips when no server answers."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dev dependency
        pytest.skip("psycopg is not installed")
    name = f"wb_runs_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as err:  # pragma: no cover - the server is part of the dev machine
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {err}")
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        from workbench.runs import _store

        for url in [u for u in _store._open if name in u]:
            _store._open.pop(url).close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


STEPS = '''
import time
from pathlib import Path

import workbench
from workbench import Dataset, Output


@workbench.component
def make(n: int, data: Output[Dataset]) -> float:
    Path(data.path).write_text("x" * n)
    print(f"loss={1.0 / n}")
    return 1.0 / n


@workbench.component
def sleepy(seconds: float, started: str) -> float:
    Path(started).write_text("started")
    time.sleep(seconds)
    return seconds
'''


def write_pipelines(folder: Path) -> dict[str, Path]:
    """``demo`` (make → cat, parameter ``n``) and ``sleepy`` (one step that sleeps ``seconds``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "steps.py").write_text(textwrap.dedent(STEPS), encoding="utf-8")
    demo = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "demo"},
        "spec": {
            "parameters": [{"name": "n", "type": "Integer", "default": 3}],
            "steps": [
                {"name": "make", "component": "steps.py:make", "arguments": {"n": "{{params.n}}"}},
                {
                    "name": "show",
                    "component": {
                        "name": "show",
                        "inputs": [{"name": "d", "type": "Dataset"}],
                        "implementation": {"container": {"command": ["cat", {"inputPath": "d"}]}},
                    },
                    "arguments": {"d": "{{steps.make.outputs.data}}"},
                },
            ],
        },
    }
    sleepy = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "sleepy"},
        "spec": {
            "parameters": [{"name": "seconds", "type": "Float", "default": 60}, {"name": "started", "type": "String"}],
            "steps": [
                {
                    "name": "sleep",
                    "component": "steps.py:sleepy",
                    "arguments": {"seconds": "{{params.seconds}}", "started": "{{params.started}}"},
                }
            ],
            "cache": False,
        },
    }
    out = {}
    for name, doc in (("demo", demo), ("sleepy", sleepy)):
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


class RecordingLauncher:
    """A scheduler launcher that only records what it was asked to launch (the test finishes occurrences)."""

    def __init__(self) -> None:
        self.launched: list[Any] = []

    def __call__(self, occurrence: Any, schedule: Any) -> None:
        self.launched.append(occurrence)
