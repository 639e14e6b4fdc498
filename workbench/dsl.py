"""Python components and pipelines: ``@workbench.component``, ``@workbench.pipeline``, artifact annotations.

This module is imported by step processes, so it imports nothing heavy: the pipeline
builder (``If``/``Elif``/``Else``, ``ParallelFor``, ``ExitHandler``, ``OneOf``, ``run``)
lives in ``workbench._dsl_pipeline`` and is loaded on first use.

Pipeline example (see the README for more)::

    from workbench import dsl, pipeline

    @pipeline
    def cv(folds: list = [0, 1, 2], alpha: float = 1e-4):
        data = load()
        with dsl.ParallelFor(folds, parallelism=2) as fold:
            fit = train(data=data.outputs["data"], fold=fold, alpha=alpha).retry(1)
        mean = average(scores=fit.outputs["Output"])
        with dsl.If(mean.output > 0.9):
            publish(score=mean.output)

Example:
    >>> from workbench.dsl import component, Input, Output, Dataset, Model
    >>> @component
    ... def train(data: Input[Dataset], model: Output[Model], c: float = 1.0) -> float:
    ...     return 0.9
    >>> [i.name for i in train.spec.inputs], [o.name for o in train.spec.outputs]
    (['data', 'c'], ['model', 'Output'])
"""

from __future__ import annotations

import os
import sys
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Artifact:
    """A file or directory a step reads or writes. ``path`` is where it lives locally.

    (A plain class, not a dataclass: importing ``dataclasses`` costs a step ~10 ms of start-up.)
    """

    def __init__(self, path: str, name: str = "", metadata: dict[str, Any] | None = None) -> None:
        self.path = path
        self.name = name
        self.metadata = metadata if metadata is not None else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    @property
    def uri(self) -> str:
        return self.path


class Dataset(Artifact):
    """Tabular or other training data."""


class Model(Artifact):
    """A trained model."""


class Metrics(Artifact):
    """A JSON object of scalar metrics."""


class ClassificationMetrics(Artifact):
    """A JSON object with a confusion matrix (``labels``, ``matrix``) and/or ROC data."""


class HTML(Artifact):
    """An HTML page (rendered sandboxed in the dashboard)."""


class Markdown(Artifact):
    """A Markdown document."""


ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    c.__name__: c for c in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}


class _Direction:
    def __init__(self, direction: str) -> None:
        self.direction = direction

    def __repr__(self) -> str:
        return self.direction


_INPUT = _Direction("input")
_OUTPUT = _Direction("output")


class Input(Generic[T]):
    """``Input[Dataset]``: the step receives an existing artifact (its ``path`` to read)."""

    def __class_getitem__(cls, item: Any) -> Any:
        return typing.Annotated[item, _INPUT]


class Output(Generic[T]):
    """``Output[Model]``: the step receives an artifact whose ``path`` it must write."""

    def __class_getitem__(cls, item: Any) -> Any:
        return typing.Annotated[item, _OUTPUT]


_PY_TO_KFP = {str: "String", int: "Integer", float: "Float", bool: "Boolean", dict: "JsonObject", list: "JsonArray"}


def _artifact_direction(annotation: Any) -> tuple[str, str] | None:
    """``(direction, type_name)`` for ``Input[X]``/``Output[X]`` annotations, else ``None``."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        for marker in extra:
            if isinstance(marker, _Direction) and isinstance(base, type) and issubclass(base, Artifact):
                return marker.direction, base.__name__
    return None


def _param_type(annotation: Any) -> str:
    import inspect

    if annotation is inspect.Parameter.empty:
        return "String"
    args = typing.get_args(annotation)
    if args and type(None) in args:  # Optional[X] and X | None are X
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _param_type(rest[0])
    origin = typing.get_origin(annotation) or annotation
    try:
        return _PY_TO_KFP.get(origin, "String")
    except TypeError:  # unhashable annotation objects
        return "String"


def describe(func: Callable[..., Any]) -> dict[str, Any]:
    """The component spec (as a dict) of a Python function, read from its signature."""
    import inspect  # here, not at module level: step processes import this module and must start fast

    hints = typing.get_type_hints(func, include_extras=True)
    sig = inspect.signature(func)
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for name, param in sig.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"component {func.__name__!r}: *args and **kwargs cannot be inputs; name each input")
        annotation = hints.get(name, param.annotation)
        artifact = _artifact_direction(annotation)
        if artifact and artifact[0] == "output":
            outputs.append({"name": name, "type": artifact[1]})
            continue
        spec: dict[str, Any] = {"name": name, "type": artifact[1] if artifact else _param_type(annotation)}
        if param.default is not inspect.Parameter.empty:
            spec["default"] = param.default
            spec["optional"] = param.default is None
        inputs.append(spec)
    ret = hints.get("return", inspect.Signature.empty)
    if ret not in (inspect.Signature.empty, None, type(None)):
        fields = getattr(ret, "__annotations__", None)
        if isinstance(ret, type) and issubclass(ret, tuple) and fields:
            outputs += [{"name": n, "type": _param_type(t)} for n, t in fields.items()]
        else:
            outputs.append({"name": "Output", "type": _param_type(ret)})
    source = inspect.getsourcefile(func) or ""
    return {
        "name": func.__name__.replace("_", "-"),
        "description": (inspect.getdoc(func) or "").split("\n\n")[0],
        "inputs": inputs,
        "outputs": outputs,
        "implementation": {"python": {"file": os.path.abspath(source), "function": func.__name__}},
    }


class PythonComponent:
    """A function usable as a pipeline step; calling it still runs the plain function."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a ``@pipeline`` function: add a step (returns its handle). Elsewhere: run the function."""
        builder = sys.modules.get("workbench._dsl_pipeline")
        if builder is not None and builder._STACK:  # type: ignore[attr-defined]
            return builder.add_component_step(self.spec, args, kwargs)  # type: ignore[attr-defined]
        return self.func(*args, **kwargs)

    @property
    def spec(self) -> Any:
        """The ``Component`` spec (imports pydantic: not for use inside a step)."""
        cached = self.__dict__.get("_spec")
        if cached is None:
            from workbench.spec import Component

            cached = self.__dict__["_spec"] = Component.model_validate(describe(self.func))
        return cached


class ComponentOp:
    """A component loaded from YAML (KFP v1 ``component.yaml``), callable as a step in a pipeline function."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.name = spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from workbench._dsl_pipeline import add_component_step

        return add_component_step(self.spec, args, kwargs)


def load_component(path: str, base_dir: str | None = None) -> ComponentOp:
    """A ``component.yaml`` (or ``FILE.py:FUNCTION``) to call inside ``@pipeline`` functions.

    A relative path is relative to the file that calls ``load_component``.
    """
    from pathlib import Path

    from workbench.spec import load_component as load

    if base_dir is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        base_dir = os.path.dirname(os.path.abspath(caller)) if caller else os.getcwd()
    return ComponentOp(load(path, Path(base_dir)))


class PipelineFunction:
    """A function decorated with ``@pipeline``: its parameters are the pipeline's, its calls its steps.

    ``.spec`` is the :class:`~workbench.spec.Pipeline` (built once, on first use). Called
    inside another pipeline function it becomes a nested pipeline step.
    """

    def __init__(self, func: Callable[..., Any], name: str | None = None, description: str | None = None) -> None:
        self.func = func
        self.name = name or func.__name__.replace("_", "-")
        self.description = description if description is not None else (func.__doc__ or "").strip().split("\n\n")[0]
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    @property
    def spec(self) -> Any:
        """The ``Pipeline`` spec (a ``SpecError`` names what is wrong)."""
        cached = self.__dict__.get("_spec")
        if cached is None:
            from workbench._dsl_pipeline import build

            cached = self.__dict__["_spec"] = build(self)
        return cached

    def __workbench_pipeline__(self) -> Any:
        return self.spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = sys.modules.get("workbench._dsl_pipeline")
        if builder is None or not builder._STACK:  # type: ignore[attr-defined]
            raise TypeError(
                f"pipeline {self.name!r} runs as a step of another @pipeline function; to run it, use "
                f"`workbench pipeline run` or workbench.tune(...) with {self.__name__}.spec"
            )
        return builder.add_pipeline_step(self, args, kwargs)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def pipeline(func: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Turn a function that calls components into a pipeline (``@pipeline`` or ``@pipeline(name=...)``).

    The function's parameters (with their annotations and defaults) are the pipeline's
    parameters, so an experiment's search parameters fill them. Calling a component inside
    returns a step handle: ``train(data=load().outputs["data"]).retry(2).timeout("5m")``.
    Return a step output (or a dict of them) to give the pipeline outputs.
    """
    if func is None:
        return lambda f: PipelineFunction(f, name=name, description=description)
    return PipelineFunction(func, name=name, description=description)


_BUILDER_NAMES = ("If", "Elif", "Else", "ParallelFor", "ExitHandler", "OneOf", "run", "Condition", "Ref", "StepHandle")


#: KFP DSL names Workbench spells differently: what to write instead.
_KFP_SPELLINGS = {
    "ContainerOp": "load a component.yaml with dsl.load_component(...) or write a @component function",
    "PipelineParam": "a pipeline function's parameters are its pipeline parameters: use them directly",
    "Collected": "outside a ParallelFor block a step's outputs are already lists (one value per iteration)",
    "importer": "pass the artifact's path as an argument of a component's Input[...]",
}


def __getattr__(name: str) -> Any:
    if name in _BUILDER_NAMES:
        import importlib

        value = getattr(importlib.import_module("workbench._dsl_pipeline"), name)
        globals()[name] = value
        return value
    if name in _KFP_SPELLINGS:
        raise AttributeError(f"workbench.dsl has no {name!r} (a KFP name): {_KFP_SPELLINGS[name]}")
    raise AttributeError(f"module 'workbench.dsl' has no attribute {name!r}")


def component(func: Callable[..., Any]) -> PythonComponent:
    """Turn a Python function into a component.

    Parameters typed ``str``/``int``/``float``/``bool``/``dict``/``list`` are input
    parameters; ``Input[Dataset]`` (etc.) are input artifacts; ``Output[Model]`` (etc.)
    are output artifacts whose ``path`` the function writes. The return value becomes
    the output ``Output`` (or one output per field of a ``NamedTuple``).
    Put heavy imports inside the function so that loading the component stays fast.
    """
    if func.__module__ == "__main__" and not getattr(sys.modules["__main__"], "__file__", None):
        raise TypeError("components must be defined in a file (not an interactive session)")
    return PythonComponent(func)
