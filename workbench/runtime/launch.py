"""Launcher for Python-function components: ``python -m workbench.runtime.launch SPEC_JSON``.

``SPEC_JSON`` holds ``file`` and ``function`` (where the component lives),
``params`` (input parameter values), ``artifacts`` (input artifact paths) and
``outputs`` (``{name: {"path", "type"}}``). Artifact arguments are passed as
``Dataset``/``Model``/... objects; the return value is written to the output files.

With ``report_as`` (a function tuned by ``workbench.tune`` or ``Experiment(component=fn)``), the
return value also counts as metrics, as ``report()`` would send them: a number is the metric
``report_as``; a dict maps metric names to numbers. Any other value in it (text, a bool, a list)
is an error naming the key: nothing is dropped silently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from workbench.dsl import ARTIFACT_CLASSES, PythonComponent


def _load_function(file: str, function: str) -> Any:
    spec = importlib.util.spec_from_file_location("_workbench_step", file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"workbench: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_workbench_step"] = module
    sys.path.insert(0, str(Path(file).parent))
    spec.loader.exec_module(module)
    obj = getattr(module, function, None)
    if obj is None:
        raise SystemExit(f"workbench: {file} defines no function {function!r}")
    return obj.func if isinstance(obj, PythonComponent) else obj


def encode_value(value: Any) -> str:
    """How a parameter output is written to its file (read back by the engine)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _report_returned(result: Any, name: str, function: str) -> None:
    """Send a function's return value as metrics (see the module docstring)."""
    from workbench.runtime import report

    metrics = result if isinstance(result, dict) else {name: result}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SystemExit(
                f"workbench: {function} returned {key}={value!r} ({type(value).__name__}): the values it returns "
                "are metrics and must be numbers (write anything else to an output)"
            )
    report(**metrics)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.runtime.launch SPEC_JSON", file=sys.stderr)
        return 2
    spec = json.loads(args[0])
    func = _load_function(spec["file"], spec["function"])
    kwargs: dict[str, Any] = dict(spec.get("params", {}))
    for name, art in spec.get("artifacts", {}).items():
        kwargs[name] = ARTIFACT_CLASSES.get(art["type"], ARTIFACT_CLASSES["Artifact"])(path=art["path"], name=name)
    returns: dict[str, dict[str, str]] = {}
    for name, out in spec.get("outputs", {}).items():
        Path(out["path"]).parent.mkdir(parents=True, exist_ok=True)
        if out["type"] in ARTIFACT_CLASSES:
            kwargs[name] = ARTIFACT_CLASSES[out["type"]](path=out["path"], name=name)
        else:
            returns[name] = out
    result = func(**kwargs)
    if spec.get("report_as") and result is not None:
        _report_returned(result, spec["report_as"], spec["function"])
    if returns:
        if len(returns) == 1 and "Output" in returns:
            values = {"Output": result}
        elif isinstance(result, tuple) and hasattr(result, "_asdict"):
            values = result._asdict()
        else:
            raise SystemExit(f"workbench: {spec['function']} must return a NamedTuple with {sorted(returns)}")
        for name, out in returns.items():
            Path(out["path"]).write_text(encode_value(values[name]), encoding="utf-8")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
