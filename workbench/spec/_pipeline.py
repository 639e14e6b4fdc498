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

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from workbench.spec._component import Component, IOSpec, SpecModel, env_mapping
from workbench.spec._condition import REFERENCE, check_condition, condition_references, malformed_references
from workbench.spec._kubernetes import KubernetesSpec, pod_settings
from workbench.spec._validation import FieldError, check_name, json_value, parse_duration

__all__ = ["REFERENCE", "Pipeline", "RetryPolicy", "Step", "references", "split_output_ref"]


def references(value: Any) -> list[str]:
    """Every ``params.x`` / ``steps.s.outputs.o`` reference in an argument value."""
    if isinstance(value, str):
        return [ref.strip() for ref in REFERENCE.findall(value)]
    if isinstance(value, list):
        return [r for item in value for r in references(item)]
    if isinstance(value, dict):
        return [r for item in value.values() for r in references(item)]
    return []


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside an argument value, with its path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        return [s for i, item in enumerate(value) for s in _strings(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [s for k, item in value.items() for s in _strings(item, f"{path}.{k}")]
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

    @field_validator("factor", mode="before")
    @classmethod
    def _factor(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return value


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
    #: Pod settings merged over the component's (``kubernetes`` backend only).
    kubernetes: KubernetesSpec | None = None
    #: ``false`` never reuses (nor offers) this step's outputs; ``None`` follows the pipeline.
    cache: bool | None = None
    #: Reuse only outputs younger than this (``7d``, ``12h``); ``None`` follows the pipeline.
    max_cache_staleness: float | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "step name")

    @field_validator("max_cache_staleness", mode="before")
    @classmethod
    def _staleness(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            check_condition(value)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        seconds = parse_duration(value)
        if seconds is not None and seconds <= 0:
            raise ValueError("a timeout must be positive")
        return seconds

    @field_validator("arguments")
    @classmethod
    def _json_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_value(value)

    @field_validator("retry", mode="before")
    @classmethod
    def _retry_int(cls, value: Any) -> Any:
        return {"limit": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return env_mapping(value)

    def pod_settings(self) -> dict[str, Any]:
        """The component's pod settings with this step's on top (camelCase; ``{}`` when there are none)."""
        return pod_settings(self.component, self)

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
    #: Step caching for the whole pipeline (a step's own ``cache`` wins).
    cache: bool = True
    #: Reuse only cached outputs younger than this, for every step without its own limit.
    max_cache_staleness: float | None = None

    @field_validator("max_cache_staleness", mode="before")
    @classmethod
    def _staleness(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, value: list[Step]) -> list[Step]:
        if not value:
            raise ValueError("a pipeline needs at least one step")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "pipeline name")

    @model_validator(mode="after")
    def _check_graph(self) -> Pipeline:
        params: set[str] = set()
        for index, param in enumerate(self.parameters):
            try:
                check_name(param.name, "parameter name")
            except ValueError as err:
                raise FieldError(f"parameters[{index}].name", str(err)) from None
            if param.name in params:
                raise FieldError(f"parameters[{index}].name", f"duplicate parameter {param.name!r}")
            params.add(param.name)
        by_name: dict[str, Step] = {}
        for index, step in enumerate(self.steps):
            if step.name in by_name:
                raise FieldError(f"steps[{index}].name", f"duplicate step name {step.name!r}")
            by_name[step.name] = step
        for index, step in enumerate(self.steps):
            where = f"steps[{index}]"
            places = [(f"{where}.arguments.{arg}", value) for arg, value in step.arguments.items()]
            if step.when is not None:
                places.append((f"{where}.when", step.when))
            for arg in step.arguments:
                if step.component.input(arg) is None:
                    raise FieldError(
                        f"{where}.arguments.{arg}",
                        f"component {step.component.name!r} has no input {arg!r} "
                        f"(inputs: {[i.name for i in step.component.inputs]})",
                    )
            for place, value in places:
                for path, text in _strings(value, place):
                    bad = malformed_references(text)
                    if bad:
                        raise FieldError(
                            path,
                            f"malformed reference {bad[0]}: write {{{{params.NAME}}}} or "
                            "{{steps.STEP.outputs.OUTPUT}}",
                        )
                refs = condition_references(value) if place.endswith(".when") else references(value)
                for ref in refs:
                    self._check_reference(ref, place, step, params, by_name)
            for dep_index, dep in enumerate(step.after):
                if dep not in by_name:
                    raise FieldError(f"{where}.after[{dep_index}]", f"no step named {dep!r} (steps: {list(by_name)})")
            for inp in step.component.inputs:
                if inp.name not in step.arguments and inp.default is None and not inp.optional:
                    raise FieldError(
                        f"{where}.arguments",
                        f"required input {inp.name!r} of component {step.component.name!r} is not given",
                    )
        try:
            self.topological_order()
        except ValueError as err:
            raise FieldError("steps", str(err)) from None
        return self

    @staticmethod
    def _check_reference(ref: str, place: str, step: Step, params: set[str], by_name: dict[str, Step]) -> None:
        if ref.startswith("params."):
            if ref[len("params.") :] not in params:
                raise FieldError(
                    place, f"reference {{{{{ref}}}}} names no pipeline parameter (parameters: {sorted(params)})"
                )
            return
        up, output = split_output_ref(ref)
        if up not in by_name:
            raise FieldError(place, f"reference {{{{{ref}}}}} names no step {up!r} (steps: {list(by_name)})")
        if by_name[up].component.output(output) is None:
            raise FieldError(
                place,
                f"step {up!r} produces no output {output!r} "
                f"(outputs: {[o.name for o in by_name[up].component.outputs]})",
            )

    def step(self, name: str) -> Step:
        """The step called ``name`` (``KeyError`` if there is none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def topological_order(self) -> list[str]:
        """Step names so that every step comes after its upstream steps; a cycle is a ``ValueError``.

        The cycle is shown as ``a -> b -> a`` where each step needs the next one's outputs.
        """
        deps = {s.name: sorted(d for d in s.upstream()) for s in self.steps}
        order: list[str] = []
        state: dict[str, int] = {}
        for root in deps:
            if state.get(root):
                continue
            state[root] = 1
            chain = [root]
            stack = [iter(deps[root])]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    stack.pop()
                    done = chain.pop()
                    state[done] = 2
                    order.append(done)
                    continue
                if dep not in deps or state.get(dep) == 2:
                    continue
                if state.get(dep) == 1:
                    cycle = chain[chain.index(dep) :] + [dep]
                    raise ValueError(f"the pipeline has a cycle: {' -> '.join(cycle)} (each step needs the next)")
                state[dep] = 1
                chain.append(dep)
                stack.append(iter(deps[dep]))
        return order
