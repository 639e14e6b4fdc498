"""Component spec: Kubeflow Pipelines v1 ``component.yaml`` plus Python-function components.

A component file is a KFP v1 component as it is (``name``, ``inputs``, ``outputs``,
``implementation.container`` with ``inputValue``/``inputPath``/``outputPath``/
``inputUri``/``outputUri``/``concat``/``if``+``isPresent`` placeholders).
Workbench adds one implementation kind, ``python: {file, function}``, for functions
decorated with ``@workbench.component``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from workbench.spec._validation import FieldError

#: Types whose values are passed by value (KFP v1 names, plus Python spellings).
PARAMETER_TYPES = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": bool,
    "JsonObject": dict,
    "JsonArray": list,
}
#: Types whose values are files or directories.
ARTIFACT_TYPES = ("Artifact", "Dataset", "Model", "Metrics", "ClassificationMetrics", "HTML", "Markdown")

_PLACEHOLDER_KEYS = {"inputValue", "inputPath", "outputPath", "inputUri", "outputUri", "concat", "if"}


class SpecModel(BaseModel):
    """Base of every spec model: camelCase in YAML, snake_case in Python, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=False
    )

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (camelCase keys, defaults left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


class IOSpec(SpecModel):
    """One input or output of a component (or a parameter of a pipeline)."""

    name: str
    type: str | None = None
    default: Any = None
    optional: bool = False
    description: str = ""

    @property
    def is_artifact(self) -> bool:
        return self.type in ARTIFACT_TYPES

    @field_validator("type", mode="before")
    @classmethod
    def _type_name(cls, value: Any) -> Any:
        # KFP v1 allows structured types such as {GCSPath: {...}}; keep their name only.
        if isinstance(value, dict) and len(value) == 1:
            return next(iter(value))
        return value


class ContainerImpl(SpecModel):
    """``implementation.container``: run a command (a process locally, a pod on Kubernetes)."""

    image: str = ""
    command: list[Any] = Field(default_factory=list)
    args: list[Any] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None

    @field_validator("env", mode="before")
    @classmethod
    def _env_list(cls, value: Any) -> Any:
        # Accept the Kubernetes form [{name, value}] as well as a mapping.
        if isinstance(value, list):
            return {str(item["name"]): str(item.get("value", "")) for item in value}
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class PythonImpl(SpecModel):
    """``implementation.python``: a function decorated with ``@workbench.component``."""

    file: str
    function: str
    #: Report the function's return value as this metric (a number) or as metrics (a dict).
    report_as: str | None = None


class Implementation(SpecModel):
    container: ContainerImpl | None = None
    python: PythonImpl | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Implementation:
        if (self.container is None) == (self.python is None):
            raise ValueError("give exactly one of 'container' or 'python'")
        return self


class Component(SpecModel):
    """A self-contained task: name, inputs, outputs and an implementation.

    Example:
        >>> c = Component.model_validate({
        ...     "name": "echo",
        ...     "inputs": [{"name": "msg", "type": "String"}],
        ...     "implementation": {"container": {"command": ["echo", {"inputValue": "msg"}]}},
        ... })
        >>> [i.name for i in c.inputs]
        ['msg']
    """

    name: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    inputs: list[IOSpec] = Field(default_factory=list)
    outputs: list[IOSpec] = Field(default_factory=list)
    implementation: Implementation

    @model_validator(mode="after")
    def _check_io(self) -> Component:
        for kind, items in (("inputs", self.inputs), ("outputs", self.outputs)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind}: duplicate name {item.name!r}")
                seen.add(item.name)
        if self.implementation.container is not None:
            inputs = {i.name for i in self.inputs}
            outputs = {o.name for o in self.outputs}
            c = self.implementation.container
            for field, items in (("command", c.command), ("args", c.args)):
                for index, item in enumerate(items):
                    check_placeholder(item, inputs, outputs, f"implementation.container.{field}[{index}]")
        return self

    def input(self, name: str) -> IOSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> IOSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def digest(self) -> str:
        """A stable digest of the interface and implementation (not of Python source)."""
        blob = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def check_placeholder(item: Any, inputs: set[str], outputs: set[str], path: str) -> None:
    """Validate one command-line item: a literal or a KFP v1 placeholder."""
    if isinstance(item, (str, int, float, bool)):
        return
    if not isinstance(item, dict) or len(item) != 1:
        raise FieldError(f"{path}", "expected a string or one placeholder such as {inputValue: name}")
    key, value = next(iter(item.items()))
    if key not in _PLACEHOLDER_KEYS:
        raise FieldError(f"{path}", f"unknown placeholder {key!r} (expected one of {sorted(_PLACEHOLDER_KEYS)})")
    if key in ("inputValue", "inputPath", "inputUri"):
        if value not in inputs:
            raise FieldError(f"{path}.{key}", f"no input named {value!r} (inputs: {sorted(inputs)})")
    elif key in ("outputPath", "outputUri"):
        if value not in outputs:
            raise FieldError(f"{path}.{key}", f"no output named {value!r} (outputs: {sorted(outputs)})")
    elif key == "concat":
        if not isinstance(value, list):
            raise FieldError(f"{path}.concat", "expected a list")
        for index, part in enumerate(value):
            check_placeholder(part, inputs, outputs, f"{path}.concat[{index}]")
    elif key == "if":
        if not isinstance(value, dict) or "cond" not in value or "then" not in value:
            raise FieldError(f"{path}.if", "expected {cond: {isPresent: name}, then: [...], else: [...]}")
        cond = value["cond"]
        if isinstance(cond, dict) and set(cond) == {"isPresent"}:
            if cond["isPresent"] not in inputs:
                raise FieldError(f"{path}.if.cond.isPresent", f"no input named {cond['isPresent']!r}")
        elif not isinstance(cond, (bool, str)):
            raise FieldError(f"{path}.if.cond", "expected {isPresent: name} or a boolean")
        for branch in ("then", "else"):
            parts = value.get(branch, [])
            if not isinstance(parts, list):
                parts = [parts]
            for index, part in enumerate(parts):
                check_placeholder(part, inputs, outputs, f"{path}.if.{branch}[{index}]")
