"""Resolving a step's inputs and building its command line.

Values travel between steps as files (Kubeflow Pipelines v1 semantics): every output
is a file the step writes; a consumer gets its path (``inputPath``) or its content
(``inputValue``), converted to the consumer's declared type. A value given as text (an
argument, a default, a parameter value written in YAML or on the command line) is
checked against its type but reaches ``inputValue`` as it was written, as in KFP v1:
a Boolean ``"False"`` stays ``False``, it does not become ``false``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.spec import PARAMETER_TYPES, Component, Step, split_output_ref
from workbench.spec._pipeline import REFERENCE


def convert(value: Any, type_name: str | None) -> Any:
    """Convert a value (often text read from a file) to a declared parameter type."""
    if value is None or type_name not in PARAMETER_TYPES:
        return value
    target = PARAMETER_TYPES[type_name]
    if isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    text = value if isinstance(value, str) else encode(value)
    try:
        if target is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no", ""):
                return False
            raise ValueError(text)
        if target is int:
            number = float(text)
            if number != int(number):
                raise ValueError(text)
            return int(number)
        if target is float:
            return float(text)
        if target in (dict, list):
            parsed = json.loads(text)
            if not isinstance(parsed, target):
                raise ValueError(text)
            return parsed
    except (ValueError, TypeError):
        raise ValueError(f"cannot convert {text[:80]!r} to {type_name}") from None
    return text


def encode(value: Any) -> str:
    """The text form of a value on a command line or in a file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def read_value(path: str, type_name: str | None) -> Any:
    """Read an output file as a value of ``type_name`` (untyped: JSON if it parses, else text)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if type_name in PARAMETER_TYPES:
        return convert(text.strip() if type_name != "String" else text, type_name)
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        return text


@dataclass
class Resolved:
    """One input of a step: a value, a path, or both (read lazily)."""

    type: str | None
    value: Any = None
    path: str | None = None
    present: bool = True
    is_artifact: bool = False
    #: The value as it was given, when it was given as text (what ``inputValue`` passes on).
    text: str | None = None

    def get_text(self) -> str:
        """What ``inputValue`` puts on the command line: the text given, else the value's text form."""
        return self.text if self.text is not None else encode(self.get_value())

    def get_value(self) -> Any:
        if self.value is None and self.path is not None:
            self.value = read_value(self.path, self.type)
        return self.value

    def get_path(self, scratch: Path, name: str) -> str:
        if self.path is None:
            scratch.mkdir(parents=True, exist_ok=True)
            target = scratch / name
            target.write_text(encode(self.value), encoding="utf-8")
            self.path = str(target)
        return self.path


@dataclass
class OutputRef:
    """Where upstream outputs live: ``outputs[step][name] = (path, type)``."""

    outputs: dict[str, dict[str, tuple[str, str | None]]]
    #: Content digests of outputs produced (or reused) in this run, by path: input digests for cache keys.
    digests: dict[str, str] = field(default_factory=dict)

    def value(self, ref: str) -> Any:
        step, name = split_output_ref(ref)
        path, type_name = self.outputs[step][name]
        return read_value(path, type_name)

    def path(self, ref: str) -> tuple[str, str | None]:
        step, name = split_output_ref(ref)
        return self.outputs[step][name]


@dataclass
class Source:
    """What a reference stands for: an output file (``path``, read on demand) or a value."""

    value: Any = None
    path: str | None = None
    type: str | None = None
    #: The value as it was given, when it was given as text.
    text: str | None = None

    def get(self) -> Any:
        """The value (an output file is read and converted to its type)."""
        return read_value(self.path, self.type) if self.path is not None else self.value

    def get_text(self) -> str:
        """The value as text: as it was given, if it was given as text."""
        return self.text if self.text is not None else encode(self.get())


#: ``lookup(ref)`` -> the ``Source`` of a reference body (``params.x``, ``steps.s.outputs.o``, ``item``, ...).
Lookup = Callable[[str], Source]


def reference_value(ref: str, params: dict[str, Any], upstream: OutputRef) -> Any:
    if ref.startswith("params."):
        return params.get(ref[len("params.") :])
    return upstream.value(ref)


def resolve_inputs(step: Step, params: dict[str, Any], upstream: OutputRef) -> dict[str, Resolved]:
    """Resolve every input of ``step``'s component from parameter values and upstream output files."""

    def lookup(ref: str) -> Source:
        if ref.startswith("steps."):
            path, type_name = upstream.path(ref)
            return Source(path=path, type=type_name)
        return Source(value=reference_value(ref, params, upstream))

    return resolve_step_inputs(step, lookup)


def resolve_step_inputs(step: Step, lookup: Lookup) -> dict[str, Resolved]:
    """Resolve every input of ``step``'s component from arguments, references (through ``lookup``) and defaults."""
    resolved: dict[str, Resolved] = {}
    by_path = step.component.path_inputs()
    for inp in step.component.inputs:
        if inp.name in step.arguments:
            arg = step.arguments[inp.name]
            match = REFERENCE.fullmatch(arg.strip()) if isinstance(arg, str) else None
            source = lookup(match.group(1).strip()) if match else None
            if source is not None and source.path is not None:
                # An upstream artifact taken by path is an input artifact (lineage: an INPUT event) whatever
                # the input's type says; an upstream parameter (String, Integer, ...) stays a value.
                upstream_file = inp.name in by_path and source.type not in PARAMETER_TYPES
                resolved[inp.name] = Resolved(
                    type=inp.type or source.type, path=source.path, is_artifact=inp.is_artifact or upstream_file
                )
            elif source is not None:
                value = source.value
                text = source.text if source.text is not None else value if isinstance(value, str) else None
                resolved[inp.name] = Resolved(
                    type=inp.type, value=convert(value, inp.type), present=value is not None, text=text
                )
            elif isinstance(arg, str) and REFERENCE.search(arg):
                text = REFERENCE.sub(lambda m: lookup(m.group(1).strip()).get_text(), arg)
                resolved[inp.name] = Resolved(type=inp.type, value=convert(text, inp.type), text=text)
            else:
                if isinstance(arg, (list, dict)):  # references inside a literal list or mapping
                    arg = _substitute(arg, lookup)
                resolved[inp.name] = Resolved(
                    type=inp.type,
                    value=convert(arg, inp.type),
                    is_artifact=inp.is_artifact,
                    text=arg if isinstance(arg, str) else None,
                )
                if inp.is_artifact and isinstance(arg, str):
                    resolved[inp.name].path = arg
        elif inp.default is not None:
            text = inp.default if isinstance(inp.default, str) else None
            resolved[inp.name] = Resolved(type=inp.type, value=convert(inp.default, inp.type), text=text)
        else:
            resolved[inp.name] = Resolved(type=inp.type, present=False)
    return resolved


def _substitute(value: Any, lookup: Lookup) -> Any:
    """A literal list/mapping with every reference inside replaced by its value."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match:
            return lookup(match.group(1).strip()).get()
        if REFERENCE.search(value):
            return REFERENCE.sub(lambda m: lookup(m.group(1).strip()).get_text(), value)
        return value
    if isinstance(value, list):
        return [_substitute(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, lookup) for k, v in value.items()}
    return value


def expand(item: Any, inputs: dict[str, Resolved], outputs: dict[str, str], scratch: Path) -> list[str]:
    """Expand one command-line item (a literal or a KFP v1 placeholder) to zero or more args."""
    if not isinstance(item, dict):
        return [encode(item) if not isinstance(item, str) else item]
    key, value = next(iter(item.items()))
    if key == "inputValue":
        res = inputs[value]
        if not res.present:
            raise ValueError(f"input {value!r} has no value (give an argument or a default)")
        return [res.get_text()]
    if key in ("inputPath", "inputUri"):
        res = inputs[value]
        if not res.present:
            raise ValueError(f"input {value!r} has no value (give an argument or a default)")
        return [res.get_path(scratch, value)]
    if key in ("outputPath", "outputUri"):
        return [outputs[value]]
    if key == "concat":
        return ["".join("".join(expand(part, inputs, outputs, scratch)) for part in value)]
    if key == "if":
        cond = value["cond"]
        if isinstance(cond, dict) and "isPresent" in cond:
            truth = inputs[cond["isPresent"]].present
        elif isinstance(cond, dict):  # a placeholder such as {inputValue: flag}
            truth = "".join(expand(cond, inputs, outputs, scratch)).strip().lower() == "true"
        else:
            truth = str(cond).lower() == "true" if isinstance(cond, str) else bool(cond)
        branch = value.get("then" if truth else "else", []) or []
        if not isinstance(branch, list):
            branch = [branch]
        return [arg for part in branch for arg in expand(part, inputs, outputs, scratch)]
    raise ValueError(f"unknown placeholder {key!r}")


def build_argv(component: Component, inputs: dict[str, Resolved], outputs: dict[str, str], scratch: Path) -> list[str]:
    """The command line of a step."""
    impl = component.implementation
    if impl.python is not None:
        spec = {
            "file": impl.python.file,
            "function": impl.python.function,
            "params": {n: r.get_value() for n, r in inputs.items() if not r.is_artifact and r.present},
            "artifacts": {
                n: {"path": r.get_path(scratch, n), "type": r.type or "Artifact"}
                for n, r in inputs.items()
                if r.is_artifact and r.present
            },
            "outputs": {o.name: {"path": outputs[o.name], "type": o.type or "String"} for o in component.outputs},
            "report_as": impl.python.report_as,
        }
        return [sys.executable, "-m", "workbench.runtime.launch", json.dumps(spec)]
    assert impl.container is not None
    argv: list[str] = []
    for item in [*impl.container.command, *impl.container.args]:
        argv += expand(item, inputs, outputs, scratch)
    return argv
