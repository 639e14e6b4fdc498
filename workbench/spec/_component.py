"""Component spec: Kubeflow Pipelines v1 ``component.yaml`` plus Python-function components.

A component file is a KFP v1 component as it is (``name``, ``inputs``, ``outputs``,
``implementation.container`` with ``inputValue``/``inputPath``/``outputPath``/
``inputUri``/``outputUri``/``concat``/``if``+``isPresent`` placeholders).
Workbench adds one implementation kind, ``python: {file, function}``, for functions
decorated with ``@workbench.component``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from workbench.spec._validation import FieldError, _quoted, check_label, json_value

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
    """Base of every spec model: camelCase in YAML, snake_case in Python, no unknown fields.

    An unknown field is reported with the known ones (and the closest match), e.g.
    ``unknown field 'paralelTrialCount' (did you mean 'parallelTrialCount'?)``.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=False
    )
    #: Fields with a dedicated message when present (features Workbench does not offer).
    _unsupported_fields: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            known[alias] = alias
            known[name] = alias
        for key in data:
            if key in known:
                continue
            if not isinstance(key, str):
                raise FieldError("", f"field names must be strings, got {key!r}")
            if key in cls._unsupported_fields:
                raise FieldError(key, cls._unsupported_fields[key])
            aliases = sorted(set(known.values()))
            close = difflib.get_close_matches(key, aliases, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(aliases)}"
            raise FieldError(key, f"unknown field ({hint})")
        return data

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (camelCase keys, defaults left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


# Pod settings (a SpecModel too): imported once SpecModel exists.
from workbench.spec._kubernetes import KubernetesSpec  # noqa: E402


class IOSpec(SpecModel):
    """One input or output of a component (or a parameter of a pipeline)."""

    name: str
    type: str | None = None
    default: Any = None
    optional: bool = False
    description: str = ""
    #: A secret input (a password, a token): its value is never written to MLflow, ML Metadata or the
    #: dashboard, and is cut out of the step's command line and log as recorded. Inputs whose names look
    #: secret (``*password*``, ``*secret*``, ``*credential*``, ``*_TOKEN``, ``*_KEY``: see
    #: ``workbench.tracking._common.is_secret``) are treated so anyway.
    secret: bool = False

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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if "{" in value or "}" in value:
            raise ValueError(f"{_quoted(value)}: names must not contain '{{' or '}}'")
        return value

    @field_validator("default")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return json_value(value)


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
        return env_mapping(value)


def env_mapping(value: Any) -> Any:
    """``[{name: A, value: 1}]`` or ``{A: 1}`` -> ``{"A": "1"}``; anything else is left for pydantic to refuse."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise FieldError(f"[{index}]", "expected {name: NAME, value: VALUE}")
            extra = set(item) - {"name", "value", "valueFrom"}
            if extra:
                raise FieldError(f"[{index}].{sorted(extra)[0]}", "unknown field (expected name, value or valueFrom)")
            if "valueFrom" in item:
                continue  # resolved by Kubernetes only
            out[_env_name(item["name"], f"[{index}].name")] = _env_text(item.get("value", ""), f"[{index}].value")
        return out
    if isinstance(value, dict):
        return {_env_name(str(k), str(k)): _env_text(v, str(k)) for k, v in value.items()}
    return value


def _env_name(name: str, path: str) -> str:
    # execve refuses these: a spec error now, not a step that cannot start.
    if not name or "=" in name or "\x00" in name:
        raise FieldError(path, f"invalid environment variable name {name[:70]!r} (empty, '=' or NUL)")
    return name


def _env_text(value: Any, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        if "\x00" in str(value):
            raise FieldError(path, "an environment variable's value must not contain NUL")
        return str(value)
    raise FieldError(path, f"expected a string, got {type(value).__name__}")


class PythonImpl(SpecModel):
    """``implementation.python``: a function decorated with ``@workbench.component``."""

    file: str
    function: str
    #: Report the function's return value as this metric (a number) or as metrics (a dict).
    report_as: str | None = None

    @field_validator("function")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"expected a Python function name, got {value!r}")
        return value


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
    #: Pod settings for the ``kubernetes`` backend (resources, node selection, security); ignored locally.
    kubernetes: KubernetesSpec | None = None

    _unsupported_fields: ClassVar[dict[str, str]] = {
        "graph": "graph components are not supported; use a Workbench pipeline instead",
    }

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_label(value, "component name")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_value(value)

    @model_validator(mode="after")
    def _check_io(self) -> Component:
        for kind, items in (("inputs", self.inputs), ("outputs", self.outputs)):
            seen: set[str] = set()
            for index, item in enumerate(items):
                try:  # an input's value and an output are files named after it
                    check_label(item.name, f"{kind[:-1]} name", file_name=True)
                except ValueError as err:
                    raise FieldError(f"{kind}[{index}].name", str(err)) from None
                if item.name in seen:
                    raise FieldError(f"{kind}[{index}].name", f"duplicate name {item.name!r}")
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

    def path_inputs(self) -> set[str]:
        """Inputs a container command takes as files (``inputPath``/``inputUri``, anywhere in command and args).

        Passed an upstream artifact, such an input is an input artifact whatever its declared type (KFP v1
        passes files); an upstream parameter output (``String``, ``Integer``, ...) stays a value.
        """
        container = self.implementation.container
        if container is None:
            return set()
        found: set[str] = set()
        todo: list[Any] = [*container.command, *container.args]
        while todo:
            item = todo.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if key in ("inputPath", "inputUri") and isinstance(value, str):
                        found.add(value)
                    elif isinstance(value, (dict, list)):
                        todo.append(value)
            elif isinstance(item, list):
                todo.extend(item)
        return found

    def output(self, name: str) -> IOSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def digest(self) -> str:
        """A stable digest of the interface and implementation (not of Python source)."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("kubernetes") is None:
            data.pop("kubernetes", None)  # components without pod settings keep the digest they always had
        blob = json.dumps(data, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def check_placeholder(item: Any, inputs: set[str], outputs: set[str], path: str, depth: int = 0) -> None:
    """Validate one command-line item: a literal or a KFP v1 placeholder."""
    if depth > 50:
        raise FieldError(path, "placeholders are nested too deeply")
    if isinstance(item, (str, int, float, bool)):
        return
    if not isinstance(item, dict) or len(item) != 1:
        raise FieldError(f"{path}", "expected a string or one placeholder such as {inputValue: name}")
    key, value = next(iter(item.items()))
    if key not in _PLACEHOLDER_KEYS:
        raise FieldError(f"{path}", f"unknown placeholder {key!r} (expected one of {sorted(_PLACEHOLDER_KEYS)})")
    if key in ("inputValue", "inputPath", "inputUri"):
        _check_io_name(value, inputs, "input", f"{path}.{key}")
    elif key in ("outputPath", "outputUri"):
        _check_io_name(value, outputs, "output", f"{path}.{key}")
    elif key == "concat":
        if not isinstance(value, list):
            raise FieldError(f"{path}.concat", "expected a list")
        for index, part in enumerate(value):
            check_placeholder(part, inputs, outputs, f"{path}.concat[{index}]", depth + 1)
    elif key == "if":
        if not isinstance(value, dict) or "cond" not in value or "then" not in value:
            raise FieldError(f"{path}.if", "expected {cond: {isPresent: name}, then: [...], else: [...]}")
        extra = sorted(str(k) for k in value if k not in ("cond", "then", "else"))
        if extra:
            raise FieldError(f"{path}.if.{extra[0]}", "unknown field (expected cond, then or else)")
        cond = value["cond"]
        if isinstance(cond, dict) and len(cond) == 1 and next(iter(cond)) in ("isPresent", "inputValue"):
            kind = next(iter(cond))
            _check_io_name(cond[kind], inputs, "input", f"{path}.if.cond.{kind}")
        elif not isinstance(cond, (bool, str)):
            raise FieldError(f"{path}.if.cond", "expected {isPresent: name}, {inputValue: name} or a boolean")
        for branch in ("then", "else"):
            parts = value.get(branch)
            if parts is None:
                continue
            if not isinstance(parts, list):
                parts = [parts]
            for index, part in enumerate(parts):
                check_placeholder(part, inputs, outputs, f"{path}.if.{branch}[{index}]", depth + 1)


def _check_io_name(value: Any, names: set[str], kind: str, path: str) -> None:
    if not isinstance(value, str):
        raise FieldError(path, f"expected the name of an {kind}, got {type(value).__name__}")
    if value not in names:
        raise FieldError(path, f"no {kind} named {value!r} ({kind}s: {sorted(names)})")
