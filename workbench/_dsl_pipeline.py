"""Building pipelines from Python: what ``@workbench.pipeline`` functions run through.

Only used while a pipeline is built (``PipelineFunction.spec``, ``workbench pipeline export``),
never inside a step; it imports pydantic specs lazily all the same.

A pipeline function is called once with one reference per parameter. Every component called
inside it becomes a step (a :class:`StepHandle`); ``If``/``Elif``/``Else`` add ``when`` to the
steps created in their block; ``ParallelFor`` runs its block once per item: a block of one step
becomes that step with ``forEach``, a larger block a nested pipeline with ``forEach``;
``ExitHandler`` makes a step the pipeline's ``onExit``. The result is an ordinary
:class:`~workbench.spec.Pipeline`, the same model a YAML file loads into.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from workbench.errors import SpecError

_STACK: list[_Builder] = []


def _current(what: str) -> _Builder:
    if not _STACK:
        raise TypeError(f"{what} can only be used inside a @workbench.pipeline function")
    return _STACK[-1]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:50] or "x"


# --------------------------------------------------------------------------- references and conditions


class Ref:
    """A value known when the pipeline runs: a parameter, a step output, the loop item, the run's status.

    Use it as a component argument (also inside f-strings: ``f"{lr}"``), compare it to build a
    condition (``acc > 0.9``), take a field of the loop item (``item.lr`` or ``item["lr"]``, as in KFP).
    Its own attributes start with ``_`` so that any field name reads as a field (``item.type``).
    """

    def __init__(self, body: str, builder: _Builder | None, type_name: str | None = None) -> None:
        self._body = body
        self._builder = builder
        self._type = type_name

    def render(self, builder: _Builder | None = None) -> str:
        """``{{...}}`` as seen from ``builder`` (the pipeline being written; default: the current one)."""
        target = builder if builder is not None else (_STACK[-1] if _STACK else None)
        return "{{" + _body_in(self, target) + "}}"

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Ref({self._body!r})"

    def __getitem__(self, key: str) -> Ref:
        if not self._body.startswith("item"):
            raise TypeError(f"only the loop item has fields; {self._body} has none")
        return Ref(f"{self._body}.{key}", self._builder, None)

    def __getattr__(self, name: str) -> Ref:
        """``item.field``: a field of a loop item that is a mapping (KFP's ``ParallelFor`` spelling)."""
        if name.startswith("_"):
            raise AttributeError(name)
        if not self._body.startswith("item"):
            raise AttributeError(
                f"{{{{{self._body}}}}} has no attribute {name!r}: only the loop item has fields (item.{name}); "
                "a step's outputs are step.outputs['name'] (or step.output)"
            )
        return self[name]

    def _compare(self, op: str, other: Any) -> Condition:
        return Condition(f"{_literal(self)} {op} {_literal(other)}")

    def __gt__(self, other: Any) -> Condition:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> Condition:
        return self._compare(">=", other)

    def __lt__(self, other: Any) -> Condition:
        return self._compare("<", other)

    def __le__(self, other: Any) -> Condition:
        return self._compare("<=", other)

    def __eq__(self, other: Any) -> Condition:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: Any) -> Condition:  # type: ignore[override]
        return self._compare("!=", other)

    def is_in(self, values: list[Any]) -> Condition:
        """``{{ref}} in [...]``."""
        return self._compare("in", list(values))

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError("a pipeline value is only known when the pipeline runs: use `with dsl.If(...)`, not `if`")


class Condition:
    """A ``when`` expression; combine with ``&``, ``|`` and ``~``.

    ``with dsl.Condition(step.output == "heads"):`` is KFP v1's spelling of ``with dsl.If(...)``: the
    steps inside run only when the condition holds (``name`` is accepted and, as a display name, unused).
    """

    def __init__(self, text: Any, name: str | None = None) -> None:
        self.text = text if isinstance(text, str) else _condition_text(text)
        self.name = name
        self._block: If | None = None

    def __enter__(self) -> Condition:
        self._block = If(self)
        self._block.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._block is not None
        self._block.__exit__(*exc)

    def __and__(self, other: Any) -> Condition:
        return Condition(f"({self.text}) and ({_condition_text(other)})")

    def __or__(self, other: Any) -> Condition:
        return Condition(f"({self.text}) or ({_condition_text(other)})")

    def __invert__(self) -> Condition:
        return Condition(f"not ({self.text})")

    def __bool__(self) -> bool:
        raise TypeError("a condition is decided when the pipeline runs: use `with dsl.If(...)`, not `if`")

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"


def _condition_text(value: Any) -> str:
    if isinstance(value, Condition):
        return value.text
    if isinstance(value, Ref):
        return value.render()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a condition (e.g. `step.outputs['x'] > 1`), got {type(value).__name__}")


def _literal(value: Any) -> str:
    if isinstance(value, Ref):
        return value.render()
    if isinstance(value, Condition):
        return f"({value.text})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"cannot use {type(value).__name__} in a condition")


def OneOf(*refs: Ref) -> Ref:  # noqa: N802 - reads like the KFP name
    """The output of whichever conditional branch ran: ``OneOf(a.outputs["m"], b.outputs["m"])``."""
    builder = _current("OneOf")
    if len(refs) < 2 or not all(isinstance(r, Ref) for r in refs):
        raise TypeError("OneOf takes two or more step outputs")
    bodies = [_body_in(r, builder) for r in refs]
    if not all(b.startswith("steps.") for b in bodies):
        raise TypeError("OneOf takes step outputs (step.outputs['name'])")
    return Ref(f"oneOf({', '.join(bodies)})", builder, refs[0]._type)


class _RunRefs:
    """``dsl.run.status`` (Succeeded, Failed, Cancelled), ``.message``, ``.id``, ``.failed_steps``: exit handlers."""

    status = Ref("run.status", None, "String")
    message = Ref("run.message", None, "String")
    id = Ref("run.id", None, "String")
    failed_steps = Ref("run.failedSteps", None, "JsonArray")


run = _RunRefs()


def _body_in(ref: Ref, builder: _Builder | None) -> str:
    """The reference body as written in ``builder``'s pipeline: imported from an enclosing
    pipeline as a parameter, or exported from a nested one as an output."""
    if ref._builder is not None and ref._builder is builder and ref._body.split(".")[0] == "item":
        return builder.import_(ref._body, ref._type)  # the loop step passes its item in as a parameter
    if ref._builder is None or builder is None or ref._builder is builder:
        return ref._body
    if builder.has_ancestor(ref._builder):  # from an enclosing pipeline: becomes a parameter of this one
        assert builder.parent is not None
        outer = _body_in(ref, builder.parent)
        return builder.import_(outer, ref._type)
    if ref._builder.has_ancestor(builder):  # from a nested loop body: becomes an output of it
        source = ref._builder
        body = ref._body
        while source is not builder:
            body = source.export(body, ref._type)
            assert source.parent is not None
            source = source.parent
        return body
    raise SpecError(f"{{{{{ref._body}}}}} belongs to another pipeline and cannot be used here")


# --------------------------------------------------------------------------- steps


class Outputs:
    """``handle.outputs["name"]``: references to a step's outputs."""

    def __init__(self, handle: StepHandle) -> None:
        self._handle = handle

    def __getitem__(self, name: str) -> Ref:
        handle = self._handle
        declared = {o.name: o.type for o in handle.component.outputs}
        if name not in declared:
            raise KeyError(f"step {handle.name!r} has no output {name!r} (outputs: {sorted(declared)})")
        return Ref(f"steps.{handle.name}.outputs.{name}", handle.builder, declared[name])

    def __iter__(self) -> Iterator[str]:
        return iter(o.name for o in self._handle.component.outputs)

    def __repr__(self) -> str:
        return f"Outputs({list(self)})"


_RESOURCES = "use .resources(cpu=..., memory=..., gpu=...) (requests = limits)"
#: KFP step methods Workbench spells differently: what to write instead.
_KFP_STEP_SPELLINGS = {
    "set_cpu_limit": _RESOURCES,
    "set_cpu_request": _RESOURCES,
    "set_memory_limit": _RESOURCES,
    "set_memory_request": _RESOURCES,
    "set_gpu_limit": _RESOURCES,
    "set_accelerator_limit": _RESOURCES,
    "add_env_variable": "use .env(NAME=value)",
    "set_env_variable": "use .env(NAME=value)",
    "set_timeout": "use .timeout('10m')",
    "add_node_selector_constraint": "set kubernetes.nodeSelector on the component or the step (YAML)",
    "apply": "set kubernetes settings on the component or the step (YAML)",
}


class StepHandle:
    """A step created by calling a component in a pipeline; step options chain:

    ``train(data=d).retry(2).timeout("10m").cache(False).resources(cpu="2", memory="4Gi")``
    """

    def __init__(self, builder: _Builder, name: str, component: Any, step: dict[str, Any]) -> None:
        self.builder = builder
        self.name = name
        self.component = component
        self.step = step
        self.outputs = Outputs(self)

    @property
    def output(self) -> Ref:
        """The only output (``Output`` for a Python function's return value)."""
        outs = list(self.outputs)
        if len(outs) != 1:
            raise AttributeError(f"step {self.name!r} has {len(outs)} outputs {outs}: use .outputs[NAME]")
        return self.outputs[outs[0]]

    def retry(
        self, limit: int, backoff: str | float | None = None, factor: float | None = None, max_backoff: Any = None
    ) -> StepHandle:
        policy: dict[str, Any] = {"limit": limit}
        for key, value in (("backoff", backoff), ("factor", factor), ("maxBackoff", max_backoff)):
            if value is not None:
                policy[key] = value
        self.step["retry"] = policy
        return self

    def timeout(self, duration: str | float) -> StepHandle:
        self.step["timeout"] = duration
        return self

    def cache(self, enabled: bool = True, max_staleness: str | float | None = None) -> StepHandle:
        self.step["cache"] = enabled
        if max_staleness is not None:
            self.step["maxCacheStaleness"] = max_staleness
        return self

    def resources(
        self, cpu: str | float | None = None, memory: str | None = None, gpu: int | None = None
    ) -> StepHandle:
        """CPU, memory and GPUs of the step's pod (``kubernetes`` backend; ignored locally)."""
        values = {k: v for k, v in (("cpu", cpu), ("memory", memory), ("gpu", gpu)) if v is not None}
        kube = self.step.setdefault("kubernetes", {})
        kube["resources"] = {**kube.get("resources", {}), **values}
        return self

    def env(self, values: dict[str, Any] | None = None, **more: Any) -> StepHandle:
        self.step["env"] = {**self.step.get("env", {}), **(values or {}), **more}
        return self

    def display_name(self, text: str) -> StepHandle:
        self.step["displayName"] = text
        return self

    # KFP v1/v2 spellings whose meaning is the same.

    def set_retry(
        self,
        num_retries: int,
        policy: str | None = None,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> StepHandle:
        """KFP's ``set_retry``: :meth:`retry` (``policy`` is not supported: every failure is retried)."""
        if policy is not None:
            raise TypeError("set_retry(policy=...) is not supported: Workbench retries every failure of a step")
        return self.retry(num_retries, backoff_duration, backoff_factor, backoff_max_duration)

    def set_display_name(self, name: str) -> StepHandle:
        """KFP's ``set_display_name``: :meth:`display_name`."""
        return self.display_name(name)

    def set_caching_options(self, enable_caching: bool) -> StepHandle:
        """KFP's ``set_caching_options``: :meth:`cache`."""
        return self.cache(enable_caching)

    def __getattr__(self, name: str) -> Any:
        if name in _KFP_STEP_SPELLINGS:
            raise AttributeError(f"a step has no {name}() (a KFP method): {_KFP_STEP_SPELLINGS[name]}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def after(self, *steps: StepHandle) -> StepHandle:
        for other in steps:
            if not isinstance(other, StepHandle):
                raise TypeError(f"after() takes steps, got {type(other).__name__}")
            if other.builder is not self.builder:
                raise SpecError(f"step {self.name!r} cannot wait for {other.name!r}: it is in another block")
            if other.name not in self.step.setdefault("after", []):
                self.step["after"].append(other.name)
        return self

    def __repr__(self) -> str:
        return f"StepHandle({self.name!r})"


# --------------------------------------------------------------------------- the builder


class _Builder:
    """One pipeline being written: the top-level one, or the body of a multi-step loop."""

    def __init__(self, name: str, parent: _Builder | None = None) -> None:
        self.name = name
        self.parent = parent
        self.parameters: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.handles: list[StepHandle] = []
        self.outputs: list[dict[str, Any]] = []
        self.on_exit: dict[str, Any] | None = None
        self.conditions: list[str] = []
        #: Conditions of the if/elif branches just closed, and the depth they were closed at.
        self.chain: list[str] | None = None
        self.chain_depth = 0
        #: Loop bodies: parameter name -> what the loop step passes (a reference in the parent).
        self.imports: dict[str, str] = {}
        #: Loop bodies: the loop step in the parent.
        self.loop_step: dict[str, Any] | None = None
        self.counter = itertools.count(1)

    def has_ancestor(self, other: _Builder) -> bool:
        node = self.parent
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False

    def unique(self, base: str) -> str:
        taken = {s["name"] for s in self.steps} | ({self.on_exit["name"]} if self.on_exit else set())
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def import_(self, outer_body: str, type_name: str | None) -> str:
        """A reference of the enclosing pipeline, seen here as a parameter of this loop body."""
        for name, text in self.imports.items():
            if text == outer_body:
                return f"params.{name}"
        base = _slug(outer_body.replace("steps.", "").replace(".outputs.", "-").replace("params.", ""))
        name, n = base, 1
        while name in self.imports:
            n += 1
            name = f"{base}-{n}"
        self.imports[name] = outer_body
        self.parameters.append({"name": name, **({"type": type_name} if type_name else {})})
        return f"params.{name}"

    def export(self, body: str, type_name: str | None) -> str:
        """An output of a step of this loop body, seen from the parent (a list: one value per iteration)."""
        assert self.loop_step is not None
        for out in self.outputs:
            if out["from"] == "{{" + body + "}}":
                return f"steps.{self.loop_step['name']}.outputs.{out['name']}"
        base = _slug(body.replace("steps.", "").replace(".outputs.", "-"))
        name, n = base, 1
        while any(o["name"] == name for o in self.outputs):
            n += 1
            name = f"{base}-{n}"
        self.outputs.append({"name": name, **({"type": type_name} if type_name else {}), "from": "{{" + body + "}}"})
        return f"steps.{self.loop_step['name']}.outputs.{name}"

    def when(self) -> str | None:
        if not self.conditions:
            return None
        if len(self.conditions) == 1:
            return self.conditions[0]
        return " and ".join(f"({c})" for c in self.conditions)

    def _touch(self) -> None:
        """Something other than an elif/else follows: the if/elif chain at this depth is over."""
        if self.chain is not None and self.chain_depth == len(self.conditions):
            self.chain = None

    def add_step(self, component: Any, kwargs: dict[str, Any], base_name: str) -> StepHandle:
        self._touch()
        arguments: dict[str, Any] = {}
        for key, value in kwargs.items():
            if component.input(key) is None:
                raise TypeError(
                    f"{component.name!r} has no input {key!r} (inputs: {[i.name for i in component.inputs]})"
                )
            arguments[key] = _argument(value, self)
        name = self.unique(_slug(base_name))
        step: dict[str, Any] = {"name": name, "component": component, "arguments": arguments}
        when = self.when()
        if when:
            step["when"] = when
        self.steps.append(step)
        handle = StepHandle(self, name, component, step)
        self.handles.append(handle)
        return handle


def _argument(value: Any, builder: _Builder) -> Any:
    if isinstance(value, Ref):
        return value.render(builder)
    if isinstance(value, Condition):
        raise TypeError("a condition is not a value: pass it to dsl.If(...)")
    if isinstance(value, StepHandle):
        return value.output.render(builder)
    if isinstance(value, (list, tuple)):
        return [_argument(v, builder) for v in value]
    if isinstance(value, dict):
        return {str(k): _argument(v, builder) for k, v in value.items()}
    return value


def add_component_step(component: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepHandle:
    """Called by a component called inside a pipeline function."""
    builder = _current("calling a component as a step")
    if args:
        raise TypeError(f"pass the inputs of {component.name!r} by name (e.g. data=..., lr=...)")
    return builder.add_step(component, kwargs, component.name)


# --------------------------------------------------------------------------- control flow


class If:
    """``with dsl.If(step.outputs["acc"] > 0.9):`` steps inside run only when the condition holds (else Skipped)."""

    def __init__(self, condition: Any) -> None:
        self.builder = _current("If")
        self.text = _condition_text(condition)
        self.previous: list[str] = []

    def _effective(self) -> str:
        parts = [f"not ({c})" for c in self.previous] + [f"({self.text})" if self.previous else self.text]
        return " and ".join(parts)

    def __enter__(self) -> If:
        self.builder._touch()
        self.builder.conditions.append(self._effective())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.builder.conditions.pop()
        self.builder.chain = [*self.previous, self.text]
        self.builder.chain_depth = len(self.builder.conditions)


class Elif(If):
    """``with dsl.Elif(cond):`` right after an If/Elif block: runs when the earlier ones did not and ``cond`` holds."""

    def __enter__(self) -> Elif:
        b = self.builder
        if b.chain is None or b.chain_depth != len(b.conditions):
            raise SpecError(f"{type(self).__name__} must directly follow an If or Elif block")
        self.previous = list(b.chain)
        b.conditions.append(self._effective())
        return self


class Else(Elif):
    """``with dsl.Else():`` right after an If/Elif block: runs when none of them did."""

    def __init__(self) -> None:
        self.builder = _current("Else")
        self.text = ""
        self.previous = []

    def _effective(self) -> str:
        return " and ".join(f"not ({c})" for c in self.previous)

    def __exit__(self, *exc: Any) -> None:
        self.builder.conditions.pop()
        self.builder.chain = None


class ParallelFor:
    """``with dsl.ParallelFor(items, parallelism=4) as item:`` the block runs once per item (a fan-out).

    ``items`` is a list, a pipeline parameter or a step output holding a JSON list. ``item``
    (or ``item["field"]``) is the current item. Outside the block, a step's outputs are lists
    with one value per iteration (the fan-in). ``ignore_failures=True`` lets the loop succeed
    when some iterations fail.
    """

    def __init__(self, items: Any, parallelism: int | None = None, ignore_failures: bool = False) -> None:
        self.parent = _current("ParallelFor")
        if isinstance(items, Ref):
            source: Any = items.render(self.parent)
        elif isinstance(items, (list, tuple)):
            source = [_argument(v, self.parent) for v in items]
        else:
            raise TypeError(f"ParallelFor runs over a list, a parameter or a step output, got {type(items).__name__}")
        self.loop: dict[str, Any] = {"items": source}
        if parallelism is not None:
            self.loop["parallelism"] = parallelism
        if ignore_failures:
            self.loop["ignoreFailures"] = True
        self.body: _Builder | None = None

    def __enter__(self) -> Ref:
        parent = self.parent
        parent._touch()
        name = parent.unique(f"for-each-{next(parent.counter)}")
        self.body = _Builder(name, parent)
        step: dict[str, Any] = {"name": name, "component": None, "arguments": {}, "forEach": self.loop}
        when = parent.when()
        if when:
            step["when"] = when
        self.body.loop_step = step
        parent.steps.append(step)
        _STACK.append(self.body)
        return Ref("item", self.body, None)

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        body = self.body
        assert body is not None and body.loop_step is not None
        _STACK.pop()
        if exc_type is not None:
            return
        parent, step = self.parent, body.loop_step
        if not body.steps:
            raise SpecError("a ParallelFor block must call at least one component")
        nested = [s for s in body.steps if s.get("forEach") is not None or s["component"] is None]
        if len(body.steps) == 1 and not nested and not body.outputs and body.on_exit is None:
            self._hoist(parent, body, step)
            return
        step["arguments"] = {name: "{{" + text + "}}" for name, text in body.imports.items()}
        step["component"] = _pipeline_dict(body)

    def _hoist(self, parent: _Builder, body: _Builder, step: dict[str, Any]) -> None:
        """A one-step block: that step itself loops (named ``train[0]``, ``train[1]``, ... when it runs)."""
        inner = body.steps[0]
        handle = body.handles[0]

        def back(text: Any) -> Any:
            if isinstance(text, str):
                for name, outer in body.imports.items():
                    text = re.sub(r"\{\{\s*params\." + re.escape(name) + r"\s*\}\}", "{{" + outer + "}}", text)
                return text
            if isinstance(text, list):
                return [back(t) for t in text]
            if isinstance(text, dict):
                return {k: back(v) for k, v in text.items()}
            return text

        index = parent.steps.index(step)
        parent.steps.pop(index)
        hoisted = {**inner, "arguments": back(inner["arguments"]), "forEach": self.loop}
        hoisted["name"] = parent.unique(inner["name"])
        conditions = [c for c in (step.get("when"), back(inner.get("when"))) if c]
        if conditions:
            hoisted["when"] = conditions[0] if len(conditions) == 1 else " and ".join(f"({c})" for c in conditions)
        else:
            hoisted.pop("when", None)
        parent.steps.insert(index, hoisted)
        handle.builder, handle.name, handle.step = parent, hoisted["name"], hoisted
        parent.handles.append(handle)


class ExitHandler:
    """Make a step the pipeline's exit handler: it runs when the run ends, whatever the outcome.

    ``with dsl.ExitHandler(notify(status=dsl.run.status)):`` (or call it as a statement). The
    exit handler may use parameters and ``dsl.run.*``, not other steps' outputs.
    """

    def __init__(self, exit_step: StepHandle) -> None:
        builder = _current("ExitHandler")
        if not isinstance(exit_step, StepHandle) or exit_step.builder is not builder or builder.parent is not None:
            raise SpecError("ExitHandler takes a step created at the top level of the same pipeline")
        if builder.on_exit is not None:
            raise SpecError("a pipeline has one exit handler")
        builder.steps.remove(exit_step.step)
        builder.handles.remove(exit_step)
        exit_step.step.pop("when", None)
        builder.on_exit = exit_step.step

    def __enter__(self) -> ExitHandler:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


# --------------------------------------------------------------------------- pipeline functions


def _pipeline_dict(builder: _Builder) -> dict[str, Any]:
    # The lists themselves, not copies: a loop body gains outputs when steps after the loop use them.
    doc: dict[str, Any] = {
        "name": builder.name,
        "parameters": builder.parameters,
        "steps": builder.steps,
        "outputs": builder.outputs,
    }
    if builder.on_exit is not None:
        doc["onExit"] = builder.on_exit
    return doc


_BUILDING: list[Any] = []


def build(function: Any) -> Any:
    """The :class:`~workbench.spec.Pipeline` of a ``@pipeline`` function (a ``SpecError`` if it is invalid)."""
    import inspect

    from workbench.dsl import _param_type
    from workbench.spec._load import pipeline_from_dict

    func = function.func
    if function in _BUILDING:
        chain = [f.name for f in _BUILDING[_BUILDING.index(function) :]] + [function.name]
        raise SpecError(f"recursion: pipeline {function.name!r} uses itself ({' -> '.join(chain)})")
    builder = _Builder(function.name)
    sig = inspect.signature(func)
    hints = _hints(func)
    kwargs: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise SpecError(f"pipeline {function.name!r}: *args and **kwargs cannot be parameters; name each one")
        type_name = _param_type(hints.get(name, param.annotation))
        spec: dict[str, Any] = {"name": name, "type": type_name}
        if param.default is not inspect.Parameter.empty:
            spec["default"] = param.default
            spec["optional"] = param.default is None
        builder.parameters.append(spec)
        kwargs[name] = Ref(f"params.{name}", builder, type_name)
    _BUILDING.append(function)
    _STACK.append(builder)
    try:
        returned = func(**kwargs)
        _collect_outputs(builder, returned)
    except SpecError:
        raise
    except Exception as err:  # a misuse of the DSL (or a bug in the function): a message, not a traceback
        raise SpecError(f"pipeline {function.name!r}{_where(err, func)}: {type(err).__name__}: {err}") from err
    finally:
        _STACK.pop()
        _BUILDING.pop()
    doc = _pipeline_dict(builder)
    if function.description:
        doc["description"] = function.description
    source = inspect.getsourcefile(func)
    base = os.path.dirname(os.path.abspath(source)) if source else os.getcwd()
    return pipeline_from_dict(doc, base_dir=base, source=f"@pipeline {function.name}")


def _where(err: BaseException, func: Any) -> str:
    """`` (FILE.py, line N)``: the innermost line of the pipeline function's file the error went through."""
    import inspect
    import traceback

    source = inspect.getsourcefile(func)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == source]
    return f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})" if frames else ""


def _hints(func: Any) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: fall back to the raw ones
        return {}


def _collect_outputs(builder: _Builder, returned: Any) -> None:
    if returned is None:
        return
    if isinstance(returned, StepHandle):
        returned = returned.output
    items = returned.items() if isinstance(returned, dict) else [("Output", returned)]
    for name, ref in items:
        if not isinstance(ref, Ref):
            raise SpecError(f"a pipeline returns step outputs (step.outputs['x']), got {type(ref).__name__}")
        body = _body_in(ref, builder)
        builder.outputs.append({"name": name, **({"type": ref._type} if ref._type else {}), "from": "{{" + body + "}}"})


def add_pipeline_step(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepHandle:
    """A ``@pipeline`` function called inside another: a nested pipeline step."""
    builder = _current("calling a pipeline as a step")
    if args:
        raise TypeError(f"pass the parameters of pipeline {function.name!r} by name")
    return builder.add_step(function.spec, kwargs, function.name)


def to_yaml(pipeline: Any) -> str:
    """The YAML document of a pipeline (``kind: Pipeline``); loading it gives an equal pipeline."""
    import yaml

    from workbench.spec._load import API_VERSION

    body = pipeline.to_dict()
    name = body.pop("name")
    doc = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": body}
    return yaml.safe_dump(json.loads(json.dumps(doc)), sort_keys=False, allow_unicode=True, width=120)


def pipeline_from_ref(ref: str, base_dir: str | None = None) -> Any:
    """The pipeline of ``FILE.py:FUNCTION`` or ``package.module:FUNCTION`` (a ``@pipeline`` function).

    Example:
        >>> pipeline_from_ref("pipelines.py:cv").name  # doctest: +SKIP
        'cv'
    """
    import importlib
    from pathlib import Path

    from workbench.spec._load import _import_file

    target, sep, function = ref.rpartition(":")
    if not sep or not target or not function.isidentifier():
        raise SpecError(f"expected FILE.py:FUNCTION or MODULE:FUNCTION, got {ref!r}")
    if target.endswith(".py"):
        path = (Path(base_dir or os.getcwd()) / target).resolve()
        if not path.is_file():
            raise SpecError(f"Python file {str(path)!r} not found")
        sys_path = str(path.parent)
        import sys

        if sys_path not in sys.path:  # the file's own imports (helpers next to it) resolve
            sys.path.insert(0, sys_path)
        module = _import_file(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise SpecError(f"cannot import module {target!r}: {err}") from None
    obj = getattr(module, function, None)
    if obj is None:
        raise SpecError(f"{target} defines no {function!r}")
    build_spec = getattr(obj, "__workbench_pipeline__", None)
    if not callable(build_spec):
        raise SpecError(f"{function!r} in {target} is not a @workbench.pipeline function")
    return build_spec()
