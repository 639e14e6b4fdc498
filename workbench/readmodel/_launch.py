"""Launching and stopping experiments from the dashboard (only in ``workbench ui --allow-launch`` mode).

:func:`check_yaml` validates an experiment YAML as typed (Workbench or Katib format) and
returns every problem with its field path, and the warnings ``workbench validate`` gives;
:func:`launch` starts ``workbench run`` as a background process of its own (the dashboard
does not drive the experiment: closing it leaves the experiment running; when it ends, the
dashboard collects its exit status); :func:`stop` runs ``workbench stop``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import SpecError, WorkbenchError
from workbench.workspace import Workspace

#: Folder in the workspace where launched specs and the controllers' output are kept.
LAUNCH_DIR = "launched"


@dataclass
class Check:
    """The result of :func:`check_yaml`: the loaded spec, or the problems (``path``, ``message``).

    ``warnings`` are what ``workbench validate`` warns about on a valid spec (e.g. an objective the trial
    template does not report): the spec can still be launched.
    """

    spec: Any = None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


def starter_yaml(template: str, name: str = "") -> str:
    """An experiment YAML over a catalog template that runs as it is: its numeric parameters as the search space,
    random search, and the first metric the template declares (with the goal it declares) as the objective."""
    from workbench.spec import list_templates, load_pipeline

    path = list_templates().get(template)
    if path is None:
        raise WorkbenchError(f"no trial template named {template!r}")
    pipeline = load_pipeline(path)
    params = []
    for p in pipeline.parameters:
        if p.type == "Float" and isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            lo, hi = _range_around(float(p.default))
            params.append(
                {"name": p.name, "parameterType": "double", "feasibleSpace": {"min": str(lo), "max": str(hi)}}
            )
    params = params[:2] or [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "5"}}]
    objective = next((m for m in pipeline.metrics if m.goal), pipeline.metrics[0] if pipeline.metrics else None)
    doc = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name or f"{template}-{time.strftime('%m%d-%H%M%S')}"},
        "spec": {
            "objective": {
                "type": (objective.goal if objective else None) or "minimize",
                "objectiveMetricName": objective.name if objective else "loss",
            },
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 2,
            "maxTrialCount": 10,
            "parameters": params,
            "trialTemplate": {"template": template},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _range_around(default: float) -> tuple[float, float]:
    if default == 0:
        return -5.0, 5.0
    if default > 0:
        return round(default / 10, 12), round(default * 10, 12)
    return round(default * 10, 12), round(default / 10, 12)


_LINE = re.compile(r"line (\d+), column (\d+)")


def check_yaml(text: str, base_dir: Path | None = None) -> Check:
    """Validate an experiment YAML (Workbench or Katib): YAML syntax, the spec, the search settings."""
    from workbench.search import check_search
    from workbench.spec import experiment_from_dict
    from workbench.spec._yaml import parse_yaml

    base = base_dir or Path.cwd()
    if not text.strip():
        return Check(errors=[{"path": "", "message": "the document is empty"}])
    try:
        data = parse_yaml(text, source="<editor>")
        spec = experiment_from_dict(data, base, source="<editor>")
        check_search(spec, base)
    except SpecError as err:
        return Check(errors=[{"path": err.path, "message": err.message}])
    except WorkbenchError as err:
        return Check(errors=[{"path": "", "message": str(err)}])
    return Check(spec=spec, warnings=spec.metric_warnings())


def launch(workspace: Workspace, text: str, base_dir: Path | None = None) -> dict[str, Any]:
    """Validate ``text`` and start ``workbench run`` on it in the background; return ``{name, pid, spec, log}``.

    The resolved spec (absolute paths) is written to ``<home>/launched/<name>-<time>.yaml``
    and the controller's output to the ``.log`` next to it.
    """
    check = check_yaml(text, base_dir)
    if not check.ok:
        first = check.errors[0]
        raise SpecError(first["message"], path=first["path"], source="<editor>")
    from workbench.spec._load import experiment_to_document

    spec = check.spec
    folder = workspace.home / LAUNCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec_path = folder / f"{stem}.yaml"
    spec_path.write_text(yaml.safe_dump(experiment_to_document(spec), sort_keys=False), encoding="utf-8")
    log_path = folder / f"{stem}.log"
    cmd = [sys.executable, "-m", "workbench", "run", str(spec_path), "--home", str(workspace.home), "--quiet"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI, arguments from a validated spec
            cmd,
            cwd=str(base_dir or Path.cwd()),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: it outlives the dashboard and its Ctrl-C
            env={**os.environ, "WORKBENCH_HOME": str(workspace.home)},
        )
    _reap_when_done(proc)
    return {"name": spec.name, "pid": proc.pid, "spec": str(spec_path), "log": str(log_path)}


def _reap_when_done(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a launched controller in a background thread: when it ends, its exit status is collected and it
    leaves no ``<defunct>`` zombie under the dashboard's process. The controller never depends on this thread
    (it runs in its own session and outlives the dashboard)."""
    threading.Thread(target=proc.wait, name=f"reap-controller-{proc.pid}", daemon=True).start()


def stop(workspace: Workspace, name: str, timeout: float = 30.0) -> str:
    """``workbench stop NAME``: ask the experiment's controller to stop; returns what the command printed."""
    cmd = [sys.executable, "-m", "workbench", "stop", name, "--home", str(workspace.home)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # noqa: S603
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise WorkbenchError(out or f"workbench stop exited with status {done.returncode}")
    return out
