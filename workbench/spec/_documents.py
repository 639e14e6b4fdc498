"""Any document Workbench reads, recognised by its ``kind`` or its shape (``workbench validate``).

=========================  ===================================================================
kind                       recognised by
=========================  ===================================================================
Katib Experiment           ``apiVersion: kubeflow.org/v1beta1``, ``kind: Experiment``
Workbench Experiment       ``kind: Experiment`` (``workbench.io/v1alpha1``), or a bare spec with
                           ``objective`` and ``trialTemplate``
Pipeline                   ``kind: Pipeline``, or a bare spec with ``steps``
Component                  ``kind: Component`` (``workbench.io/v1alpha1``)
KFP v1 component           a ``component.yaml``: ``implementation`` (and ``name``, ``inputs``,
                           ``outputs``) without ``kind``
Template                   a folder holding ``pipeline.yaml`` (a trial template, by path or by
                           catalog name)
Python component/pipeline  ``FILE.py:FUNCTION`` (``@workbench.component`` or ``@workbench.pipeline``)
=========================  ===================================================================

Each is loaded with its own loader, so a document gets exactly the checks it gets when it runs.

Example:
    >>> doc = load_document("trials/quadratic")  # doctest: +SKIP
    >>> doc.kind, doc.value.name  # doctest: +SKIP
    ('Template', 'quadratic')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import SpecError
from workbench.spec._component import Component
from workbench.spec._experiment import API_VERSION, KATIB_API_VERSION, ExperimentSpec
from workbench.spec._load import (
    _loader,
    experiment_from_dict,
    list_templates,
    load_component,
    load_pipeline,
)
from workbench.spec._pipeline import Pipeline
from workbench.spec._yaml import read_yaml

#: Document kinds, as ``workbench validate`` names them.
KINDS = (
    "Katib Experiment",
    "Workbench Experiment",
    "Pipeline",
    "Component",
    "KFP v1 component",
    "Template",
    "Python component",
    "Python pipeline",
)
_PY_REF = re.compile(r"^[^:]+\.py:[A-Za-z_]\w*$")
_KNOWN = "kind Experiment, Pipeline or Component, a KFP component.yaml, a template folder or FILE.py:FUNCTION"


@dataclass
class Document:
    """A loaded document: what it was recognised as, and the validated model."""

    kind: str
    value: ExperimentSpec | Pipeline | Component
    source: str


def document_kind(data: Any) -> str:
    """The kind of a parsed YAML document (a ``SpecError`` when it is none Workbench reads).

    Example:
        >>> document_kind({"name": "echo", "implementation": {"container": {"command": ["echo"]}}})
        'KFP v1 component'
        >>> document_kind({"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "spec": {}})
        'Katib Experiment'
    """
    if not isinstance(data, dict):
        raise SpecError(f"expected a mapping ({_KNOWN}), got {type(data).__name__}")
    kind = data.get("kind")
    if kind is not None:
        if kind == "Experiment":
            return "Katib Experiment" if data.get("apiVersion") == KATIB_API_VERSION else "Workbench Experiment"
        if kind in ("Pipeline", "Component"):
            return str(kind)
        raise SpecError(
            f"Workbench does not read documents of kind {kind!r} (expected Experiment, Pipeline or Component)",
            path="kind",
        )
    if "apiVersion" in data:
        raise SpecError(f"required field is missing (expected Experiment, Pipeline or Component; {API_VERSION})",
                        path="kind")  # fmt: skip
    if "implementation" in data:
        return "KFP v1 component"
    if "steps" in data:
        return "Pipeline"
    if "trialTemplate" in data or "objective" in data:
        return "Workbench Experiment"
    raise SpecError(f"cannot tell what this document is: expected {_KNOWN}")


def _template(ref: str) -> Path | None:
    path = Path(ref)
    if path.is_dir():
        return path / "pipeline.yaml" if (path / "pipeline.yaml").is_file() else None
    if "/" not in ref and not path.suffix and not path.exists():
        return list_templates().get(ref)
    return None


@_loader
def load_document(ref: str | Path) -> Document:
    """Load a document of any kind Workbench reads (see the module docstring); ``SpecError`` names what is wrong."""
    text = str(ref)
    if _PY_REF.match(text):
        return _python(text)
    template = _template(text)
    if template is not None:
        return Document("Template", load_pipeline(template), str(template))
    path = Path(text)
    if path.is_dir():
        raise SpecError("a folder without pipeline.yaml (a template folder needs one)", source=text)
    source = str(path.resolve())
    data = read_yaml(source)
    try:
        kind = document_kind(data)
    except SpecError as err:
        raise SpecError(err.message, path=err.path, source=source) from None
    if kind.endswith("Experiment"):
        return Document(kind, experiment_from_dict(data, path.resolve().parent, source=source), source)
    if kind == "Pipeline":
        return Document(kind, load_pipeline(path), source)
    return Document(kind, load_component(path), source)


def _python(ref: str) -> Document:
    from workbench._dsl_pipeline import pipeline_from_ref

    file, _, function = ref.rpartition(":")
    path = Path(file).resolve()
    if not path.is_file():
        raise SpecError(f"Python file {str(path)!r} not found")
    from workbench.spec._load import _import_file

    obj = getattr(_import_file(path), function, None)
    if callable(getattr(obj, "__workbench_pipeline__", None)):
        return Document("Python pipeline", pipeline_from_ref(ref), str(path))
    return Document("Python component", load_component(ref), str(path))


__all__ = ["KINDS", "Document", "document_kind", "load_document"]
