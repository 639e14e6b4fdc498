"""Hostile names: refused with a SpecError naming the field, or carried safely end to end.

The rule (``workbench/spec/_validation.py``):

- identifiers -- experiment, pipeline, step and parameter names -- end up in file paths, MLflow
  experiment names and Kubernetes labels: 1-63 ASCII letters, digits, ``.``, ``_``, ``-``, starting
  with a letter or digit, no ``..``;
- display names -- a component's name, its inputs and outputs, metric names -- are free text
  (spaces, unicode, shell-looking text) without control characters, at most 128 characters.
  Input and output names also name files: no ``/`` or ``\\`` (nor ``{``, ``}``), not ``.``/``..``, at most 255
  bytes in UTF-8. Metric names may group with ``/`` (``val/loss``) but have no ``.``/``..`` parts
  and do not start with ``..`` (MLflow keys on them).

``WORKBENCH_NAMES_EXAMPLES`` sets the hostile names tried per property (default 600).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workbench.errors import SpecError
from workbench.spec import experiment_from_dict
from workbench.spec._validation import MAX_LABEL, NAME_PATTERN

EXAMPLES = int(os.environ.get("WORKBENCH_NAMES_EXAMPLES", "600"))
PIPE = "spec.trialTemplate.pipeline"
STEP = f"{PIPE}.spec.steps[0]"
#: field -> (where its error must point, identifier or display name)
FIELDS = {
    "experiment": ("metadata.name", "ident"),
    "parameter": ("spec.parameters[0].name", "ident"),
    "pipeline": (f"{PIPE}.metadata.name", "ident"),
    "step": (f"{STEP}.name", "ident"),
    "component": (f"{STEP}.component.name", "label"),
    "input": (f"{STEP}.component.inputs[0].name", "file"),
    "output": (f"{STEP}.component.outputs[0].name", "file"),
    "metric": ("spec.objective.objectiveMetricName", "metric"),
}
SPECIAL = [
    "../x", "..", ".", "/etc/passwd", "a/b", "a\\b", "a b", " ", "", "a\x00b", "a\nb", "a\rb", "a\tb",
    "\u2028", "\u202e", "ü", "名前", "🚀 rocket", "a..b", "-lead", ".hidden", "x" * 63, "x" * 64, "x" * 128,
    "ü" * 128, "𝔘" * 100, "$(rm -rf /)", "; ls", "`id`", "a&&b", "'\"", "{{params.x}}", "a{b}", "val/loss",
    "val//loss", "val/./loss", "val/", "CON", "NUL", "a:b", "a=b", "%2e%2e%2f",
]  # fmt: skip

HOSTILE = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=80),
    st.builds(lambda a, b: a + b, st.sampled_from(SPECIAL), st.text(max_size=10)),
    st.builds(lambda ch, n: ch * n, st.characters(), st.integers(1_000, 100_000)),
)


def names(**given: str) -> dict[str, str]:
    out = {
        "experiment": "exp",
        "parameter": "lr",
        "pipeline": "pipe",
        "step": "train",
        "component": "Train model",
        "input": "rate",
        "output": "model",
        "metric": "loss",
    }
    out.update(given)
    return out


def experiment(n: dict[str, str], code: str = "pass", trials: int = 2) -> dict[str, Any]:
    """An Experiment with an inline pipeline of one command step, every name taken from ``n``."""
    component = {
        "name": n["component"],
        "inputs": [{"name": n["input"], "type": "Float"}],
        "outputs": [{"name": n["output"]}],
        "implementation": {
            "container": {
                "command": [sys.executable, "-c", code, {"inputValue": n["input"]}, {"outputPath": n["output"]}]
            }
        },
    }
    pipeline = {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": n["pipeline"]},
        "spec": {
            "parameters": [{"name": n["parameter"], "type": "Float"}],
            "steps": [
                {
                    "name": n["step"],
                    "component": component,
                    "arguments": {n["input"]: "{{params." + n["parameter"] + "}}"},
                }
            ],
        },
    }
    return {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": n["experiment"]},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": n["metric"]},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "5"}]},
            "maxTrialCount": trials,
            "parallelTrialCount": 1,
            "parameters": [
                {"name": n["parameter"], "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
            ],
            "trialTemplate": {"pipeline": pipeline},
        },
    }


def obeys(kind: str, value: str) -> bool:
    """The rule of the module docstring, written out independently of the product's checks."""
    if kind == "ident":
        return bool(NAME_PATTERN.fullmatch(value)) and ".." not in value
    if not value.strip() or len(value) > MAX_LABEL or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        return False
    if "\u2028" in value or "\u2029" in value:
        return False
    if kind == "file":
        return (
            "/" not in value and "\\" not in value and value.strip() not in (".", "..") and len(value.encode()) <= 255
        )
    if kind == "metric":
        # MLflow refuses keys that normalise to another path or start with "..".
        return all(p not in ("", ".", "..") for p in value.split("/")) and not value.startswith("..")
    return True


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(FIELDS)), value=HOSTILE)
def test_a_hostile_name_is_refused_at_its_field_or_kept_as_given(field: str, value: str) -> None:
    path, kind = FIELDS[field]
    if field in ("input", "output") and ("{" in value or "}" in value):
        kind = "no-braces"  # a placeholder cannot name it; refused at the same field
    try:
        spec = experiment_from_dict(experiment(names(**{field: value})), Path.cwd())
    except SpecError as err:
        assert err.path == path, f"{field}={value[:40]!r}: error at {err.path!r}, not {path!r}: {err}"
        assert err.message and "internal error" not in err.message
        assert kind == "no-braces" or not obeys(kind, value), f"{field}={value[:40]!r} obeys the rule: {err}"
        assert len(str(err)) < 600, "the error repeats a huge name"
        return
    assert kind != "no-braces" and obeys(kind, value), f"{field}={value[:40]!r} was accepted"
    pipeline = spec.trial_template.pipeline
    step = pipeline.steps[0]
    kept = {
        "experiment": spec.name,
        "parameter": spec.parameters[0].name,
        "pipeline": pipeline.name,
        "step": step.name,
        "component": step.component.name,
        "input": step.component.inputs[0].name,
        "output": step.component.outputs[0].name,
        "metric": spec.objective.objective_metric_name,
    }
    assert kept[field] == value


# ----------------------------------------------------------------------------- end to end

ODD = names(
    experiment="a.b-c_9.Exp",
    parameter="Lr.x-1_a",
    pipeline="pipe.v1-x",
    step="S" * 63,
    component="Train model ü 🚀 ../../x $(id)",
    input="Training rate ü (v2) 🚀 ; ls",
    output="model file ü 🚀 $(touch pwned)",
    metric="val/loss ü",
)
CODE = (
    "import json, sys; open(sys.argv[2], 'w').write(sys.argv[1]); print(json.dumps({'val/loss ü': float(sys.argv[1])}))"
)


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real 2-trial experiment whose every name is an accepted odd one (``workbench run``)."""
    from typer.testing import CliRunner

    from workbench.cli import app

    root = tmp_path_factory.mktemp("odd-names")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(experiment(ODD, CODE), allow_unicode=True), encoding="utf-8")
    home = root / "ws"
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, ["run", str(spec)], env={"WORKBENCH_HOME": str(home)})
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return root, home


@pytest.mark.slow
def test_odd_names_stay_inside_the_workspace_and_reach_every_store(odd_run: tuple[Path, Path]) -> None:
    from mlflow.tracking import MlflowClient

    from workbench.tracking import lineage_of_run
    from workbench.workspace import Workspace

    root, home = odd_run
    written = [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]
    outside = [p for p in written if home not in p.parents and p != root / "spec.yaml"]
    assert not outside, f"files written outside the workspace: {outside}"
    assert not list(root.rglob("pwned")), "a name was run by a shell"
    outputs = sorted((home / "artifacts" / ODD["experiment"]).glob(f"*/{ODD['step']}/{ODD['output']}"))
    assert len(outputs) == 2, "each trial writes its output at artifacts/<experiment>/<run>/<step>/<output>"

    ws = Workspace.at(home)
    client = MlflowClient(ws.mlflow_uri)
    exp = client.get_experiment_by_name(ODD["experiment"])
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    steps = [r for r in runs if r.data.tags.get("workbench.step") == ODD["step"]]
    trials = [r for r in runs if "workbench.step" not in r.data.tags]
    assert len(steps) == 2 and len(trials) == 2
    assert {r.data.tags["workbench.component"] for r in steps} == {ODD["component"]}
    # MLflow keys allow letters, digits, _ - . / : and spaces: other characters become "_".
    assert all(set(r.data.params) == {"Training rate ü _v2_ _ _ ls"} for r in steps)
    assert all(set(r.data.params) == {ODD["parameter"]} and ODD["metric"] in r.data.metrics for r in trials)
    for step_run in steps:
        lineage = lineage_of_run(ws.mlmd_url, step_run.data.tags["workbench.run_id"])
        assert [e["component"] for e in lineage["executions"]] == [ODD["component"]]
        assert [e["step"] for e in lineage["executions"]] == [ODD["step"]]


@pytest.mark.slow
def test_cli_shows_odd_names(odd_run: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    _, home = odd_run
    runner = CliRunner()
    env = {"WORKBENCH_HOME": str(home), "COLUMNS": "400"}
    shown = runner.invoke(app, ["show", ODD["experiment"]], env=env)
    assert shown.exit_code == 0, shown.output
    assert ODD["experiment"] in shown.output and ODD["parameter"] in shown.output and ODD["metric"] in shown.output
    listed = runner.invoke(app, ["ls"], env=env)
    assert listed.exit_code == 0 and ODD["experiment"] in listed.output
    trials = runner.invoke(app, ["trials", ODD["experiment"]], env=env)
    assert trials.exit_code == 0 and ODD["parameter"] in trials.output


# ----------------------------------------------------------------------------- no write on a bad spec


def store_digests(home: Path) -> dict[str, str]:
    """Checksums of the workspace's files (SQLite's -shm and lock files aside: readers touch them)."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.endswith(("-shm", ".lock", ".flock"))
    }


def _run_bad(home: Path, doc: dict[str, Any], folder: Path) -> Any:
    from typer.testing import CliRunner

    from workbench.cli import app

    spec = folder / "bad.yaml"
    spec.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return CliRunner().invoke(app, ["run", str(spec)], env={"WORKBENCH_HOME": str(home), "COLUMNS": "300"})


@pytest.mark.slow
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(FIELDS)), value=st.sampled_from(SPECIAL))
def test_a_refused_spec_writes_no_store(
    odd_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, field: str, value: str
) -> None:
    """``workbench run`` of a bad spec exits non-zero naming the field; a workspace is unchanged, none is made."""
    assume(not obeys(FIELDS[field][1], value))
    doc = experiment(names(**{field: value}))
    folder = tmp_path_factory.mktemp("bad")
    _, home = odd_run
    before = store_digests(home)
    result = _run_bad(home, doc, folder)
    assert result.exit_code != 0 and FIELDS[field][0] in result.output, result.output
    assert store_digests(home) == before, "a refused spec changed the workspace"
    fresh = folder / "fresh"
    result = _run_bad(fresh, doc, folder)
    assert result.exit_code != 0
    assert not [p for p in fresh.rglob("*") if p.is_file()], "a refused spec created stores"
