"""Helpers for the trial-template and example tests.

Step files are imported straight from their paths (as the launcher does), and steps
can be run through the real launcher, ``python -m workbench.runtime.launch SPEC_JSON``,
in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TRIALS = REPO / "trials"
EXAMPLES = REPO / "examples"

if str(REPO) not in sys.path:  # running pytest without installing the package
    sys.path.insert(0, str(REPO))

from workbench.runtime import METRIC_MARKER  # noqa: E402


def import_file(path: Path) -> ModuleType:
    """Import a Python file by path under a unique module name (cached)."""
    name = "_trials_test_" + re.sub(r"\W", "_", str(path.relative_to(REPO)))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def markers(text: str) -> list[dict[str, float]]:
    """The payloads of ``workbench.report`` lines in some output."""
    return [json.loads(line[len(METRIC_MARKER) :]) for line in text.splitlines() if line.startswith(METRIC_MARKER)]


def plain_lines(text: str) -> list[str]:
    """Output lines other than ``workbench.report`` lines."""
    return [line for line in text.splitlines() if not line.startswith(METRIC_MARKER)]


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: the repository importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Launched:
    stdout: str
    stderr: str
    returncode: int
    seconds: float


def launch(file: Path, function: str, cwd: Path, **spec: Any) -> Launched:
    """Run one Python-function step through the real launcher in a subprocess."""
    payload = json.dumps({"file": str(file), "function": function, **spec})
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.runtime.launch", payload],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Launched(proc.stdout, proc.stderr, proc.returncode, time.perf_counter() - started)
