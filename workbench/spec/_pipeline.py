"""Pipeline spec: a DAG of steps, each a component with arguments.

Arguments are literals or references:

- ``"{{params.lr}}"`` — a pipeline parameter;
- ``"{{steps.train.outputs.model}}"`` — an upstream step's output (a dependency).

A string holding exactly one reference keeps the referenced value's type; a
string mixing text and references is interpolated. ``when`` is a small
expression over the same names (``steps.evaluate.outputs.accuracy > 0.9 and
params.deploy``) that decides whether the step runs or is Skipped.

Control flow (the Python DSL in :mod:`workbench.dsl` writes the same fields):

- ``when`` on each branch's steps is if/elif/else (``not (A) and (B)`` for an elif);
  ``{{oneOf(steps.a.outputs.x, steps.b.outputs.x)}}`` takes the output of the branch that ran;
- ``forEach`` runs a step once per item (``{{item}}``, ``{{item.KEY}}``) as ``step[0]``,
  ``step[1]``, ...; seen from other steps its outputs are lists, one value per iteration;
- a step whose ``component`` is a pipeline runs that pipeline (nested, its steps named
  ``step.inner``); its ``outputs`` map names to inner step outputs;
- ``onExit`` is a step that runs when everything else has ended, with ``{{run.status}}``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from workbench.spec._component import ARTIFACT_TYPES, Component, IOSpec, SpecModel, env_mapping
from workbench.spec._condition import (
    REFERENCE,
    check_condition,
    condition_references,
    malformed_references,
    one_of_alternatives,
    ref_kind,
)
from workbench.spec._kubernetes import KubernetesSpec, pod_settings
from workbench.spec._validation import FieldError, check_name, json_value, parse_duration, spec_error_from

__all__ = [
    "REFERENCE",
    "Loop",
    "Pipeline",
    "PipelineOutput",
    "RetryPolicy",
    "Step",
    "references",
    "split_output_ref",
    "step_references",
]


def references(value: Any) -> list[str]:
    """Every reference (``params.x``, ``steps.s.outputs.o``, ``item``, ``run.status``, ``oneOf(...)``) in a value."""
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


class Loop(SpecModel):
    """``forEach``: run a step once per item of a list (a fan-out).

    ``items`` is a literal list, ``{{params.NAME}}`` or ``{{steps.STEP.outputs.OUTPUT}}`` (a
    JSON list); ``forEach: [1, 2]`` is short for ``forEach: {items: [1, 2]}``. At most
    ``parallelism`` iterations run at once. A failed iteration (after its retries) fails the
    loop and no further iteration starts, unless ``ignoreFailures``: then the loop succeeds
    with the outputs of the iterations that did.
    """

    items: Any
    parallelism: int | None = Field(None, ge=1)
    ignore_failures: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"items": value} if isinstance(value, (list, str)) else value

    @field_validator("items")
    @classmethod
    def _items(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = REFERENCE.fullmatch(value.strip())
            if match is None or ref_kind(match.group(1).strip()) not in ("params", "steps"):
                raise ValueError(
                    f"expected a list, {{{{params.NAME}}}} or {{{{steps.STEP.outputs.OUTPUT}}}}, got {value[:80]!r}"
                )
            return value
        if not isinstance(value, list):
            raise ValueError(f"a loop runs over a list, got {type(value).__name__} {str(value)[:60]!r}")
        return json_value(value)

    def reference(self) -> str | None:
        """The ``params.x`` / ``steps.s.outputs.o`` the items come from (``None`` for a literal list)."""
        if isinstance(self.items, str):
            match = REFERENCE.fullmatch(self.items.strip())
            return match.group(1).strip() if match else None
        return None


def _component_or_pipeline(value: Any) -> Any:
    """Validate a step's ``component`` as a ``Component`` or (with ``steps``) a nested ``Pipeline``."""
    if not isinstance(value, dict):
        return value
    model: type[SpecModel] = Pipeline if "steps" in value and "implementation" not in value else Component
    try:
        return model.model_validate(value)
    except ValidationError as err:
        problem = spec_error_from(err)
        raise FieldError(problem.path, problem.message) from None


class Step(SpecModel):
    """A component (or a nested pipeline) instantiated in a pipeline."""

    name: str
    component: Component | Pipeline
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
    #: Run once per item (a fan-out); ``None`` runs once.
    for_each: Loop | None = None
    #: A human name for dashboards (the step's ``name`` stays its identity).
    display_name: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "step name")

    @field_validator("component", mode="before")
    @classmethod
    def _component(cls, value: Any) -> Any:
        return _component_or_pipeline(value)

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

    @property
    def is_pipeline(self) -> bool:
        """Whether this step runs a nested pipeline."""
        return isinstance(self.component, Pipeline)

    def upstream(self) -> set[str]:
        """Names of the steps this one depends on (data, condition, loop items or explicit ``after``)."""
        deps = set(self.after)
        for ref in step_references(self):
            for alternative in one_of_alternatives(ref):
                if alternative.startswith("steps."):
                    deps.add(split_output_ref(alternative)[0])
        return deps


def step_references(step: Step) -> list[str]:
    """Every reference a step reads: arguments, ``when`` and ``forEach`` items."""
    refs = references(step.arguments)
    if step.when:
        refs += condition_references(step.when)
    if step.for_each is not None:
        ref = step.for_each.reference()
        refs += [ref] if ref is not None else references(step.for_each.items)
    return refs


class PipelineOutput(SpecModel):
    """An output of a pipeline used as a component: ``{name: model, from: "{{steps.train.outputs.model}}"}``."""

    name: str
    type: str | None = None
    description: str = ""
    from_: str = Field(alias="from")

    @property
    def is_artifact(self) -> bool:
        return self.type in ARTIFACT_TYPES

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        match = REFERENCE.fullmatch(value.strip())
        if match is None or ref_kind(match.group(1).strip()) not in ("steps", "oneOf"):
            raise ValueError(f"expected {{{{steps.STEP.outputs.OUTPUT}}}} or {{{{oneOf(...)}}}}, got {value[:80]!r}")
        return value

    def reference(self) -> str:
        match = REFERENCE.fullmatch(self.from_.strip())
        assert match is not None
        return match.group(1).strip()


class MetricDeclaration(SpecModel):
    """A metric a pipeline reports (``spec.metrics``): what an experiment over it may use as its objective.

    Declaring metrics is optional; a trial template that declares them lets ``workbench validate`` (and the
    dashboard's New experiment page) warn when an objective names a metric the template never reports.
    """

    name: str
    #: The direction that makes this metric better, if it has one.
    goal: Literal["minimize", "maximize"] | None = None
    description: str = ""


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
    #: What this pipeline gives back when another pipeline uses it as a component.
    outputs: list[PipelineOutput] = Field(default_factory=list)
    #: The exit handler: runs when every step has ended, whatever the outcome.
    on_exit: Step | None = None
    #: The metrics its steps report (a declaration for validation: collection does not depend on it).
    metrics: list[MetricDeclaration] = Field(default_factory=list)

    @field_validator("max_cache_staleness", mode="before")
    @classmethod
    def _staleness(cls, value: Any) -> float | None:
        return parse_duration(value)

    # A pipeline used as a component: its parameters are its inputs.
    @property
    def inputs(self) -> list[IOSpec]:
        return self.parameters

    def input(self, name: str) -> IOSpec | None:
        return next((i for i in self.parameters if i.name == name), None)

    def output(self, name: str) -> PipelineOutput | None:
        return next((o for o in self.outputs if o.name == name), None)

    def digest(self) -> str:
        """A stable digest of the whole pipeline spec (the metric declaration, which runs nothing, left out)."""
        body = self.model_dump(mode="json", exclude={"metrics"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def metric_names(self) -> list[str]:
        """The names of the metrics this pipeline declares it reports (empty: it does not say)."""
        return [m.name for m in self.metrics]

    def walk(self, prefix: str = "") -> list[tuple[str, Step]]:
        """Every step with its path (``outer.inner``), nested pipelines and exit handlers included."""
        found: list[tuple[str, Step]] = []
        for step in [*self.steps, *([self.on_exit] if self.on_exit else [])]:
            found.append((prefix + step.name, step))
            if isinstance(step.component, Pipeline):
                found += step.component.walk(f"{prefix}{step.name}.")
        return found

    def secret_names(self) -> list[str]:
        """Names whose values are secret: parameters and component inputs marked ``secret: true`` (nested too)."""
        names = {p.name for p in self.parameters if p.secret}
        for _, step in self.walk():
            names |= {i.name for i in step.component.inputs if i.secret}
        return sorted(names)

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
            self._check_step(step, f"steps[{index}]", params, by_name)
            if isinstance(step.component, Pipeline):
                for other_index, other in enumerate(self.steps):
                    if other.name.startswith(step.name + "."):
                        raise FieldError(
                            f"steps[{other_index}].name",
                            f"{other.name!r} clashes with the steps of the nested pipeline {step.name!r} "
                            f"(named {step.name}.STEP when it runs): rename one of them",
                        )
        for index, step in enumerate(self.steps):
            if isinstance(step.component, Pipeline) and step.component.on_exit is not None:
                raise FieldError(
                    f"steps[{index}].component.onExit",
                    "an exit handler runs only for the top-level pipeline of a run; the nested pipeline's "
                    "would never run: move it to the top-level pipeline",
                )
        try:
            self.topological_order()
        except ValueError as err:
            raise FieldError("steps", str(err)) from None
        seen_outputs: set[str] = set()
        for index, out in enumerate(self.outputs):
            if out.name in seen_outputs:
                raise FieldError(f"outputs[{index}].name", f"duplicate output {out.name!r}")
            seen_outputs.add(out.name)
            for alternative in one_of_alternatives(out.reference()):
                self._check_output_ref(alternative, f"outputs[{index}].from", by_name)
        declared: set[str] = set()
        for index, metric in enumerate(self.metrics):
            if metric.name in declared:
                raise FieldError(f"metrics[{index}].name", f"metric {metric.name!r} is declared twice")
            declared.add(metric.name)
        if self.on_exit is not None:
            if self.on_exit.name in by_name:
                raise FieldError("onExit.name", f"the exit handler's name {self.on_exit.name!r} is also a step's name")
            self._check_step(self.on_exit, "onExit", params, by_name, exit_handler=True)
        return self

    def _check_step(
        self, step: Step, where: str, params: set[str], by_name: dict[str, Step], exit_handler: bool = False
    ) -> None:
        places = [(f"{where}.arguments.{arg}", value) for arg, value in step.arguments.items()]
        if step.when is not None:
            places.append((f"{where}.when", step.when))
        if step.for_each is not None:  # a reference, or a literal list that may hold references
            places.append((f"{where}.forEach.items", step.for_each.items))
        for arg in step.arguments:
            if step.component.input(arg) is None:
                what = "pipeline" if isinstance(step.component, Pipeline) else "component"
                raise FieldError(
                    f"{where}.arguments.{arg}",
                    f"{what} {step.component.name!r} has no input {arg!r} "
                    f"(inputs: {[i.name for i in step.component.inputs]})",
                )
        for place, value in places:
            for path, text in _strings(value, place):
                bad = malformed_references(text)
                if bad:
                    raise FieldError(
                        path,
                        f"malformed reference {bad[0]}: write {{{{params.NAME}}}}, "
                        "{{steps.STEP.outputs.OUTPUT}}, {{item}}, {{run.status}} or {{oneOf(...)}}",
                    )
            refs = condition_references(value) if place.endswith(".when") else references(value)
            for ref in refs:
                self._check_reference(ref, place, step, params, by_name, exit_handler)
        if exit_handler and (step.after or step.for_each is not None):
            field = "after" if step.after else "forEach"
            raise FieldError(
                f"{where}.{field}", "the exit handler runs once, after every step: it takes no after and no forEach"
            )
        for dep_index, dep in enumerate(step.after):
            if dep not in by_name:
                raise FieldError(f"{where}.after[{dep_index}]", f"no step named {dep!r} (steps: {list(by_name)})")
        for inp in step.component.inputs:
            if inp.name not in step.arguments and inp.default is None and not inp.optional:
                raise FieldError(
                    f"{where}.arguments",
                    f"required input {inp.name!r} of {step.component.name!r} is not given",
                )
        if step.for_each is not None:
            self._check_loop(step, f"{where}.forEach", by_name)

    def _check_loop(self, step: Step, where: str, by_name: dict[str, Step]) -> None:
        """A loop must run over a list: check what can be known before the run."""
        loop = step.for_each
        assert loop is not None
        ref = loop.reference()
        if ref is None:
            keys = {r[len("item.") :].split(".")[0] for r in step_references(step) if r.startswith("item.")}
            for index, item in enumerate(loop.items):
                if keys and not (isinstance(item, dict) and keys <= set(item)):
                    raise FieldError(
                        f"{where}.items[{index}]",
                        f"the step uses {{{{item.{sorted(keys)[0]}}}}}: every item must be a mapping with "
                        f"{sorted(keys)}, got {str(item)[:60]!r}",
                    )
            return
        if ref.startswith("params."):
            param = next(p for p in self.parameters if p.name == ref[len("params.") :])
            if param.type not in (None, "JsonArray"):
                raise FieldError(
                    f"{where}.items",
                    f"a loop runs over a list, but parameter {param.name!r} is {param.type} (declare it JsonArray)",
                )
            if param.default is not None and not isinstance(param.default, list):
                raise FieldError(
                    f"{where}.items",
                    f"a loop runs over a list, but the default of parameter {param.name!r} is "
                    f"{type(param.default).__name__} {str(param.default)[:60]!r}",
                )
            return
        producer, output = split_output_ref(ref)
        spec = by_name[producer]
        declared = spec.component.output(output)
        if spec.for_each is None and declared is not None and declared.type not in (None, "JsonArray"):
            raise FieldError(
                f"{where}.items",
                f"a loop runs over a list, but output {output!r} of step {producer!r} is {declared.type} "
                "(a JsonArray output, or a list returned by a Python component, is a list)",
            )

    def _check_output_ref(self, ref: str, place: str, by_name: dict[str, Step]) -> None:
        up, output = split_output_ref(ref)
        if up not in by_name:
            raise FieldError(place, f"reference {{{{{ref}}}}} names no step {up!r} (steps: {list(by_name)})")
        if by_name[up].component.output(output) is None:
            raise FieldError(
                place,
                f"step {up!r} produces no output {output!r} "
                f"(outputs: {[o.name for o in by_name[up].component.outputs]})",
            )

    def _check_reference(
        self, ref: str, place: str, step: Step, params: set[str], by_name: dict[str, Step], exit_handler: bool
    ) -> None:
        kind = ref_kind(ref)
        if kind == "params":
            if ref[len("params.") :] not in params:
                raise FieldError(
                    place, f"reference {{{{{ref}}}}} names no pipeline parameter (parameters: {sorted(params)})"
                )
            return
        if kind == "item":
            if step.for_each is None:
                raise FieldError(place, f"{{{{{ref}}}}} is only defined in a step with forEach")
            if place.endswith(".forEach.items"):
                raise FieldError(place, "a loop's items cannot come from its own {{item}}")
            return
        if kind == "run":
            if not exit_handler:
                raise FieldError(
                    place, f"{{{{{ref}}}}} is only known when the run has ended: use it in the exit handler (onExit)"
                )
            return
        if exit_handler:
            raise FieldError(
                place,
                f"the exit handler runs whatever the outcome, so the step behind {{{{{ref}}}}} may not have run; "
                "give it {{run.status}} and parameters only",
            )
        alternatives = one_of_alternatives(ref)
        if kind == "oneOf":
            if len(alternatives) < 2:
                raise FieldError(place, f"{{{{{ref}}}}}: oneOf takes two or more step outputs")
            for alternative in alternatives:
                if not alternative.startswith("steps.") or not REFERENCE.fullmatch(f"{{{{{alternative}}}}}"):
                    raise FieldError(place, f"{{{{{ref}}}}}: {alternative!r} is not a step output reference")
                up = split_output_ref(alternative)[0]
                if up in by_name and by_name[up].when is None:
                    raise FieldError(
                        place,
                        f"{{{{{ref}}}}}: step {up!r} has no condition (when), so it always runs; "
                        "oneOf picks between conditional branches",
                    )
        for alternative in alternatives:
            self._check_output_ref(alternative, place, by_name)

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


Step.model_rebuild()
