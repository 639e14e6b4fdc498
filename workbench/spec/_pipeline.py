"""Pipeline spec: a DAG of steps, each a component with arguments.

Arguments are literals or references:

- ``"{{params.lr}}"`` — a pipeline parameter;
- ``"{{steps.train.outputs.model}}"`` — an upstream step's output (a dependency).

A string holding exactly one reference keeps the referenced value's type; a
string mixing text and references is interpolated. ``when`` is a small
expression over the same names (``steps.evaluate.outputs.accuracy > 0.9 and
params.deploy``) that decides whether the step runs or is Skipped.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from workbench.spec._component import Component, IOSpec, SpecModel
from workbench.spec._condition import check_condition, condition_references
from workbench.spec._validation import FieldError, check_name, parse_duration

REFERENCE = re.compile(r"\{\{\s*(params\.[A-Za-z_][\w-]*|steps\.[A-Za-z0-9_.-]+?\.outputs\.[A-Za-z_][\w-]*)\s*\}\}")


def references(value: Any) -> list[str]:
    """Every ``params.x`` / ``steps.s.outputs.o`` reference in an argument value."""
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, list):
        return [r for item in value for r in references(item)]
    if isinstance(value, dict):
        return [r for item in value.values() for r in references(item)]
    return []


def split_output_ref(ref: str) -> tuple[str, str]:
    """``steps.train.outputs.model`` -> ``("train", "model")``."""
    body = ref[len("steps.") :]
    step, _, output = body.rpartition(".outputs.")
    return step, output


class RetryPolicy(SpecModel):
    """Retries with exponential backoff: ``backoff * factor**attempt``, capped at ``max_backoff``."""

    limit: int = Field(0, ge=0, le=100)
    backoff: float = 1.0
    factor: float = Field(2.0, ge=1.0)
    max_backoff: float = 60.0

    @field_validator("backoff", "max_backoff", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value) or 0.0


class Step(SpecModel):
    """A component instantiated in a pipeline."""

    name: str
    component: Component
    arguments: dict[str, Any] = Field(default_factory=dict)
    when: str | None = None
    after: list[str] = Field(default_factory=list)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "step name")

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            check_condition(value)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("retry", mode="before")
    @classmethod
    def _retry_int(cls, value: Any) -> Any:
        return {"limit": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    def upstream(self) -> set[str]:
        """Names of the steps this one depends on (data, condition or explicit ``after``)."""
        deps = set(self.after)
        refs = references(self.arguments)
        if self.when:
            refs += condition_references(self.when)
        for ref in refs:
            if ref.startswith("steps."):
                deps.add(split_output_ref(ref)[0])
        return deps


class Pipeline(SpecModel):
    """A DAG of steps; the trial template of an experiment.

    Example:
        >>> p = Pipeline.model_validate({
        ...     "name": "hello",
        ...     "parameters": [{"name": "who", "type": "String", "default": "world"}],
        ...     "steps": [{
        ...         "name": "greet",
        ...         "component": {"name": "echo", "inputs": [{"name": "msg"}],
        ...                       "implementation": {"container": {"command": ["echo", {"inputValue": "msg"}]}}},
        ...         "arguments": {"msg": "hello {{params.who}}"},
        ...     }],
        ... })
        >>> p.topological_order()
        ['greet']
    """

    name: str
    description: str = ""
    parameters: list[IOSpec] = Field(default_factory=list)
    steps: list[Step]
    #: Directory that relative paths and container commands run from (set by the loader).
    base_dir: str | None = None

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, value: list[Step]) -> list[Step]:
        if not value:
            raise ValueError("a pipeline needs at least one step")
        return value

    @model_validator(mode="after")
    def _check_graph(self) -> Pipeline:
        names = [s.name for s in self.steps]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate step names: {sorted(dup)}")
        params = {p.name for p in self.parameters}
        by_name = {s.name: s for s in self.steps}
        for index, step in enumerate(self.steps):
            where = f"steps[{index}]"
            for arg in step.arguments:
                if step.component.input(arg) is None:
                    raise FieldError(
                        f"{where}.arguments.{arg}",
                        f"component {step.component.name!r} has no input {arg!r} "
                        f"(inputs: {[i.name for i in step.component.inputs]})"
                    )
            refs = references(step.arguments) + (condition_references(step.when) if step.when else [])
            for ref in refs:
                if ref.startswith("params."):
                    if ref[len("params.") :] not in params:
                        raise FieldError(f"{where}", f"reference {{{{{ref}}}}} names no pipeline parameter")
                    continue
                up, output = split_output_ref(ref)
                if up not in by_name:
                    raise FieldError(f"{where}", f"reference {{{{{ref}}}}} names no step {up!r}")
                if by_name[up].component.output(output) is None:
                    raise FieldError(
                        f"{where}",
                        f"step {up!r} produces no output {output!r} "
                        f"(outputs: {[o.name for o in by_name[up].component.outputs]})"
                    )
            for dep in step.after:
                if dep not in by_name:
                    raise FieldError(f"{where}.after", f"no step named {dep!r}")
            for inp in step.component.inputs:
                if inp.name not in step.arguments and inp.default is None and not inp.optional:
                    raise FieldError(f"{where}.arguments", f"required input {inp.name!r} of {step.component.name!r} is not given")
        self.topological_order()
        return self

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def topological_order(self) -> list[str]:
        """Step names so that every step comes after its upstream steps; a cycle is an error."""
        deps = {s.name: s.upstream() for s in self.steps}
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = chain[chain.index(name) :] + [name]
                raise ValueError(f"the pipeline has a cycle: {' -> '.join(cycle)}")
            state[name] = 1
            for dep in sorted(deps[name]):
                visit(dep, chain + [name])
            state[name] = 2
            order.append(name)

        for step in self.steps:
            visit(step.name, [])
        return order
