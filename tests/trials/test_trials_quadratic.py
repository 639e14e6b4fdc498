"""The ``quadratic`` trial template: spec, objective, reporting, and a run through the launcher."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from trials_helpers import TRIALS, import_file, launch, markers, plain_lines, subprocess_env

from workbench.dsl import PythonComponent
from workbench.spec import DEFAULT_METRICS_FORMAT, list_templates, load_pipeline

STEPS = TRIALS / "quadratic" / "steps.py"


@pytest.fixture(scope="module")
def steps():
    return import_file(STEPS)


def test_in_the_catalog():
    assert list_templates()["quadratic"] == (TRIALS / "quadratic" / "pipeline.yaml").resolve()


def test_pipeline_spec():
    pipeline = load_pipeline(TRIALS / "quadratic" / "pipeline.yaml")
    assert pipeline.name == "quadratic"
    params = {p.name: (p.type, p.default) for p in pipeline.parameters}
    assert params == {"x": ("Float", 0.0), "y": ("Float", 0.0), "epochs": ("Integer", 10)}
    assert pipeline.topological_order() == ["evaluate"]
    component = pipeline.step("evaluate").component
    assert component.implementation.python is not None
    assert component.implementation.python.file == str(STEPS)
    assert [(o.name, o.type) for o in component.outputs] == [("Output", "Float")]


def test_minimum_at_2_minus_1(steps, capsys):
    assert isinstance(steps.evaluate, PythonComponent)
    best = steps.evaluate.func(2.0, -1.0, 10)
    assert best == pytest.approx(0.5**10)
    for x, y in [(2.1, -1.0), (1.9, -1.0), (2.0, -0.9), (2.0, -1.1), (0.0, 0.0), (-3.0, 4.0)]:
        assert steps.evaluate.func(x, y, 10) > best
    capsys.readouterr()


def test_reports_every_epoch_and_prints_final_loss(steps, capsys):
    final = steps.evaluate.func(0.5, 0.5, epochs=6)
    out = capsys.readouterr().out
    reported = markers(out)
    assert [r["step"] for r in reported] == [1, 2, 3, 4, 5, 6]
    losses = [r["loss"] for r in reported]
    assert losses == sorted(losses, reverse=True), "the loss decreases over epochs"
    assert losses[-1] == pytest.approx(final)
    # Intermediate values rank trials like their final values do (what pruners rely on).
    assert steps.loss_at(2.0, -1.0, 1) < steps.loss_at(0.0, 0.0, 1)
    found = [(m[1], float(m[2])) for line in plain_lines(out) for m in re.finditer(DEFAULT_METRICS_FORMAT, line)]
    assert found == [("loss", pytest.approx(final))]


def test_rejects_no_epochs(steps):
    with pytest.raises(ValueError, match="epochs"):
        steps.evaluate.func(0.0, 0.0, epochs=0)


def test_imports_nothing_heavy():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('q', {str(STEPS)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = [n for n in ('numpy', 'pandas', 'sklearn', 'optuna', 'mlflow', 'pydantic') if n in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""


def test_through_the_launcher(tmp_path):
    output = tmp_path / "evaluate" / "Output"
    run = launch(
        STEPS,
        "evaluate",
        cwd=tmp_path,
        params={"x": 3.0, "y": 0.0, "epochs": 10},
        outputs={"Output": {"path": str(output), "type": "Float"}},
    )
    assert run.returncode == 0, run.stderr
    reported = markers(run.stdout)
    assert [r["step"] for r in reported] == list(range(1, 11))
    expected = 2.0 + 3.0 * 0.5**10
    assert float(output.read_text()) == pytest.approx(expected)
    assert f"loss={expected}" in run.stdout.splitlines()
