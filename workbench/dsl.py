"""Python-function components: ``@workbench.component`` and artifact annotations.

This module is imported by step processes, so it imports nothing heavy.

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
        return self.func(*args, **kwargs)

    @property
    def spec(self) -> Any:
        """The ``Component`` spec (imports pydantic: not for use inside a step)."""
        from workbench.spec import Component

        return Component.model_validate(describe(self.func))


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
