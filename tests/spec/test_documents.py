"""Every document kind Workbench reads is recognised by its kind or shape and loaded by its own loader
(``workbench validate``): Katib and Workbench Experiments, Pipelines, Components (``kind: Component`` and KFP v1
``component.yaml``), template folders and ``FILE.py:FUNCTION``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from workbench.cli import app
from workbench.errors import SpecError
from workbench.spec import Component, ExperimentSpec, Pipeline
from workbench.spec._documents import document_kind, load_document

STEPS = textwrap.dedent("""
    from workbench import Dataset, Input, Output, component, pipeline


    @component
    def make(rows: int = 3, table: Output[Dataset] = None) -> None:
        open(table.path, "w").write("a\\n" * rows)


    @component
    def count(table: Input[Dataset]) -> int:
        return len(open(table.path).read().splitlines())


    @pipeline
    def flow(rows: int = 3):
        count(table=make(rows=rows).outputs["table"])
""")

#: KFP v1 component.yaml files as found in the wild: typed and untyped, structured types, value and path I/O.
KFP_COMPONENTS = {
    "kfp-typed.yaml": {
        "name": "Make CSV",
        "description": "Writes a CSV.",
        "metadata": {"annotations": {"author": "someone"}},
        "inputs": [{"name": "rows", "type": "Integer", "default": "3"}, {"name": "flag", "type": "Boolean",
                                                                           "optional": True}],
        "outputs": [{"name": "table", "type": "CSV"}, {"name": "data", "type": "Dataset"}, {"name": "notes"}],
        "implementation": {"container": {"image": "python:3.11", "command": [
            "sh", "-c", "echo", {"inputValue": "rows"}, {"outputPath": "table"}, {"outputPath": "data"},
            {"outputPath": "notes"},
            {"if": {"cond": {"isPresent": "flag"}, "then": ["--flag", {"inputValue": "flag"}]}},
        ]}},
    },
    "kfp-untyped.yaml": {
        "name": "Use it",
        "inputs": [{"name": "table"}, {"name": "path", "type": {"GCSPath": {"data_type": "CSV"}}}],
        "implementation": {"container": {"image": "alpine", "command": ["cat", {"inputPath": "table"}],
                                         "args": [{"concat": ["--p=", {"inputUri": "path"}]}]}},
    },
    "kfp-minimal.yaml": {"name": "noop", "implementation": {"container": {"image": "alpine", "command": ["true"]}}},
}  # fmt: skip


def _write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text(STEPS)
    for name, doc in KFP_COMPONENTS.items():
        _write(tmp_path, name, doc)
    _write(tmp_path, "component-doc.yaml", {
        "apiVersion": "workbench.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "echo", "description": "Echo a message."},
        "spec": {"inputs": [{"name": "msg", "type": "String"}],
                 "implementation": {"container": {"command": ["echo", {"inputValue": "msg"}]}}},
    })  # fmt: skip
    _write(tmp_path, "component-python-doc.yaml", {
        "apiVersion": "workbench.io/v1alpha1", "kind": "Component", "metadata": {"name": "counter"},
        "spec": {"inputs": [{"name": "table", "type": "Dataset"}], "outputs": [{"name": "Output", "type": "Integer"}],
                 "implementation": {"python": {"file": "steps.py", "function": "count"}}},
    })  # fmt: skip
    pipeline = {
        "parameters": [{"name": "rows", "type": "Integer", "default": 2}],
        "steps": [
            {"name": "make", "component": "kfp-typed.yaml", "arguments": {"rows": "{{params.rows}}"}},
            {"name": "use", "component": "kfp-untyped.yaml",
             "arguments": {"table": "{{steps.make.outputs.table}}", "path": "{{steps.make.outputs.notes}}"}},
            {"name": "echo", "component": "component-doc.yaml", "arguments": {"msg": "hi"}},
        ],
    }  # fmt: skip
    _write(tmp_path, "pipeline-doc.yaml", {"apiVersion": "workbench.io/v1alpha1", "kind": "Pipeline",
                                           "metadata": {"name": "make-use"}, "spec": pipeline})  # fmt: skip
    _write(tmp_path, "pipeline-bare.yaml", {"name": "bare", **pipeline})
    _write(tmp_path, "pipeline-python.yaml", {"name": "py", "steps": [{"name": "m", "component": "steps.py:make"},
                                                                      {"name": "f", "component": "steps.py:flow"}]})
    experiment = {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "grid"},
        "parameters": [{"name": "rows", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "4"}}],
        "trialTemplate": {"pipeline": "pipeline-doc.yaml"},
    }
    _write(tmp_path, "experiment.yaml", {"apiVersion": "workbench.io/v1alpha1", "kind": "Experiment",
                                         "metadata": {"name": "wb-exp"}, "spec": experiment})  # fmt: skip
    _write(tmp_path, "experiment-bare.yaml", {"name": "bare-exp", **experiment})
    _write(tmp_path, "experiment-component.yaml", {
        "apiVersion": "workbench.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "comp-exp"},
        "spec": {**experiment, "algorithm": {"algorithmName": "random"}, "maxTrialCount": 3,
                 "trialTemplate": {"component": "kfp-typed.yaml"}},
    })  # fmt: skip
    _write(tmp_path, "katib.yaml", {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "katib-exp",
                                                                             "namespace": "kubeflow"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"}, "maxTrialCount": 4,
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}}],
            "trialTemplate": {"primaryContainerName": "main", "trialParameters": [{"name": "lr", "reference": "lr"}],
                              "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                                  "containers": [{"name": "main", "image": "python:3.11",
                                                  "command": ["python3", "-c", "print('accuracy=0.9')",
                                                              "--lr=${trialParameters.lr}"]}]}}}}},
        },
    })  # fmt: skip
    template = tmp_path / "my-template"
    template.mkdir()
    (template / "steps.py").write_text(STEPS)
    _write(template, "pipeline.yaml", {"apiVersion": "workbench.io/v1alpha1", "kind": "Pipeline",
                                       "metadata": {"name": "my-template"},
                                       "spec": {"steps": [{"name": "m", "component": "steps.py:make"}]}})  # fmt: skip
    return tmp_path


CASES = [
    ("katib.yaml", "Katib Experiment", ExperimentSpec, "katib-exp"),
    ("experiment.yaml", "Workbench Experiment", ExperimentSpec, "wb-exp"),
    ("experiment-bare.yaml", "Workbench Experiment", ExperimentSpec, "bare-exp"),
    ("experiment-component.yaml", "Workbench Experiment", ExperimentSpec, "comp-exp"),
    ("pipeline-doc.yaml", "Pipeline", Pipeline, "make-use"),
    ("pipeline-bare.yaml", "Pipeline", Pipeline, "bare"),
    ("pipeline-python.yaml", "Pipeline", Pipeline, "py"),
    ("component-doc.yaml", "Component", Component, "echo"),
    ("component-python-doc.yaml", "Component", Component, "counter"),
    ("kfp-typed.yaml", "KFP v1 component", Component, "Make CSV"),
    ("kfp-untyped.yaml", "KFP v1 component", Component, "Use it"),
    ("kfp-minimal.yaml", "KFP v1 component", Component, "noop"),
    ("my-template", "Template", Pipeline, "my-template"),
    ("steps.py:count", "Python component", Component, "count"),
    ("steps.py:flow", "Python pipeline", Pipeline, "flow"),
]


@pytest.mark.parametrize(("ref", "kind", "model", "name"), CASES, ids=[c[0] for c in CASES])
def test_every_document_kind_loads(docs, monkeypatch, ref, kind, model, name):
    monkeypatch.chdir(docs)
    doc = load_document(ref)
    assert (doc.kind, type(doc.value), doc.value.name) == (kind, model, name)


def test_a_catalog_template_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = load_document("quadratic")
    assert doc.kind == "Template" and doc.value.name == "quadratic"


def test_a_component_document_names_its_spec_fields(tmp_path):
    doc = {"apiVersion": "workbench.io/v1alpha1", "kind": "Component", "metadata": {"name": "x"},
           "spec": {"implementation": {"shell": "ls"}}}  # fmt: skip
    path = _write(tmp_path, "c.yaml", doc)
    with pytest.raises(SpecError, match=r"spec\.implementation\.shell: unknown field"):
        load_document(str(path))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"kind": "Trial", "spec": {}}, "does not read documents of kind 'Trial'"),
        ({"apiVersion": "workbench.io/v1alpha1", "spec": {}}, "kind: required field is missing"),
        ({"foo": 1}, "cannot tell what this document is"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_documents_of_no_known_kind_are_refused(data, fragment):
    with pytest.raises(SpecError) as info:
        document_kind(data)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize(("ref", "kind", "model", "name"), CASES, ids=[c[0] for c in CASES])
def test_validate_accepts_every_kind_and_says_which(docs, monkeypatch, ref, kind, model, name):
    """The regression: `workbench validate` refused KFP component.yaml and Pipeline documents ("trialTemplate:
    required field is missing")."""
    monkeypatch.chdir(docs)
    monkeypatch.setenv("WORKBENCH_HOME", str(docs / "home"))
    result = CliRunner().invoke(app, ["validate", ref])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"valid {kind}: {ref}")
    assert repr(name) in result.stdout
    assert not (docs / "home").exists()


def test_validate_describes_components_and_pipelines(docs, monkeypatch):
    monkeypatch.chdir(docs)
    out = CliRunner().invoke(app, ["validate", "kfp-typed.yaml"]).stdout
    assert "inputs: rows (Integer), flag (Boolean)" in out
    assert "outputs: table (CSV), data (Dataset), notes (untyped)" in out
    assert "container python:3.11" in out
    out = CliRunner().invoke(app, ["validate", "pipeline-doc.yaml"]).stdout
    assert "parameters rows=2" in out and "make → use" in out


def test_validate_reports_errors_of_every_kind(docs, monkeypatch):
    monkeypatch.chdir(docs)
    bad = {**KFP_COMPONENTS["kfp-typed.yaml"], "outputs": []}  # outputPath names outputs that do not exist
    _write(docs, "bad-kfp.yaml", bad)
    result = CliRunner().invoke(app, ["validate", "bad-kfp.yaml"])
    assert result.exit_code == 2 and "no output named 'table'" in result.stderr, result.output
    _write(docs, "bad-pipeline.yaml", {"kind": "Pipeline", "apiVersion": "workbench.io/v1alpha1",
                                       "metadata": {"name": "p"}, "spec": {"steps": [{"name": "a",
                                       "component": "missing.yaml"}]}})  # fmt: skip
    result = CliRunner().invoke(app, ["validate", "bad-pipeline.yaml"])
    assert result.exit_code == 2 and "spec.steps[0].component" in result.stderr and "not found" in result.stderr
    _write(docs, "bad-kind.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "data": {}})
    result = CliRunner().invoke(app, ["validate", "bad-kind.yaml"])
    assert result.exit_code == 2 and "kind 'ConfigMap'" in result.stderr


def test_validate_gives_the_grid_size_as_the_budget(docs, monkeypatch):
    """The regression (docs drift): a grid without maxTrialCount printed "budget unlimited"."""
    monkeypatch.chdir(docs)
    result = CliRunner().invoke(app, ["validate", "experiment.yaml"])
    assert result.exit_code == 0, result.output
    assert "budget 4 trials (the grid size)" in result.stdout
    assert "budget 3 trials," in CliRunner().invoke(app, ["validate", "experiment-component.yaml"]).stdout
