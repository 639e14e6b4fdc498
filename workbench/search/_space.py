"""Search space: Katib ``parameters`` as Optuna distributions, grid points and trial values.

Mapping (Katib ``parameterType`` -> Optuna):

- ``double`` -> ``FloatDistribution(min, max, log=distribution == "logUniform", step=step)``;
- ``int`` -> ``IntDistribution(min, max, step=step or 1, log=...)``;
- ``discrete`` -> ``CategoricalDistribution`` of the numbers: ints when every list item is written
  as a whole number (``[16, 32, 64]``), floats otherwise (``[0.1, 0.5]``, ``[1.0, 2.0]``), so a trial
  receives ``16`` rather than ``16.0``;
- ``categorical`` -> ``CategoricalDistribution`` of the strings.

When ``max - min`` is not a whole number of steps, ``max`` is lowered to the last step (what Optuna
and Katib's grid do), without Optuna's warning. Optuna cannot combine a log scale with a step: that
is a ``SpecError`` on ``feasibleSpace.step``.

Example:
    >>> from workbench.spec import ParameterSpec
    >>> lr = ParameterSpec.model_validate(
    ...     {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}}
    ... )
    >>> distributions([lr])["lr"]
    FloatDistribution(high=0.1, log=False, low=0.001, step=None)
    >>> trial_values([lr], {"lr": 0.01})
    {'lr': 0.01}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from workbench.errors import SpecError
from workbench.spec._experiment import ParameterSpec

#: Grid searches with more points than this are refused (Optuna's GridSampler materializes every point).
MAX_GRID_POINTS = 100_000
#: Version of the ``space_signature`` format.
SIGNATURE_VERSION = 1


def _path(index: int, field: str = "") -> str:
    return f"spec.parameters[{index}]" + (f".{field}" if field else "")


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _n_steps(low: float, high: float, step: float) -> int:
    """How many whole steps fit between low and high (exact decimal arithmetic on the written values)."""
    return int((_dec(high) - _dec(low)) // _dec(step))


def _stepped_high(low: float, high: float, step: float) -> float:
    return float(_dec(low) + _n_steps(low, high, step) * _dec(step))


def on_step(value: float, low: float, high: float, step: float) -> float:
    """``value`` as the exact decimal ``low + k * step`` nearest to it, within ``[low, high]``.

    Samplers compute ``low + k * step`` in binary floating point, which gives ``0.45000000000000007``
    for ``0.1 + 7 * 0.05``; this gives ``0.45``, written with the step's decimals.

    Example:
        >>> on_step(0.45000000000000007, 0.1, 0.5, 0.05)
        0.45
    """
    k = ((Decimal(repr(float(value))) - _dec(low)) / _dec(step)).to_integral_value()
    exact = min(max(_dec(low) + k * _dec(step), _dec(low)), _dec(high))
    return float(exact)


def _discrete_choices(param: ParameterSpec) -> list[int] | list[float]:
    items = list(param.feasible_space.choices or [])
    try:
        return [int(item) for item in items]
    except ValueError:
        return [float(item) for item in items]


def _distribution(param: ParameterSpec, index: int) -> BaseDistribution:
    fs = param.feasible_space
    log = fs.distribution == "logUniform"
    if param.parameter_type == "double":
        assert fs.min is not None and fs.max is not None
        if log and fs.step is not None:
            raise SpecError(
                "a logUniform double parameter cannot have a step (Optuna samples log scales continuously); "
                "remove step, or use distribution uniform",
                path=_path(index, "feasibleSpace.step"),
            )
        high = fs.max if fs.step is None else _stepped_high(fs.min, fs.max, fs.step)
        return FloatDistribution(fs.min, high, log=log, step=fs.step)
    if param.parameter_type == "int":
        assert fs.min is not None and fs.max is not None
        step = int(fs.step or 1)
        if log and step != 1:
            raise SpecError(
                "a logUniform int parameter cannot have a step other than 1; remove step, or use distribution uniform",
                path=_path(index, "feasibleSpace.step"),
            )
        low, high = int(fs.min), int(fs.max)
        high = low + ((high - low) // step) * step
        return IntDistribution(low, high, log=log, step=step)
    if param.parameter_type == "discrete":
        return CategoricalDistribution(_discrete_choices(param))
    return CategoricalDistribution(list(param.feasible_space.choices or []))


def distributions(parameters: Sequence[ParameterSpec]) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every search parameter, by name, in spec order.

    Raises ``SpecError`` (path ``spec.parameters[i].feasibleSpace.step``) for a log scale with a step.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> bs = ParameterSpec.model_validate(
        ...     {"name": "bs", "parameterType": "discrete", "feasibleSpace": {"list": ["16", "32"]}}
        ... )
        >>> distributions([bs])
        {'bs': CategoricalDistribution(choices=(16, 32))}
    """
    return {param.name: _distribution(param, index) for index, param in enumerate(parameters)}


def trial_values(parameters: Sequence[ParameterSpec], optuna_params: dict[str, Any]) -> dict[str, Any]:
    """The typed values a trial passes to its pipeline, from an Optuna trial's ``params``.

    ``int`` -> ``int``, ``double`` -> ``float`` (with a step: the exact decimal, ``0.45``), ``discrete``
    -> the number as listed (``int`` when the list holds whole numbers, else ``float``),
    ``categorical`` -> ``str``. Keys of
    ``optuna_params`` that are not search parameters are left out.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> n = ParameterSpec.model_validate(
        ...     {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}}
        ... )
        >>> trial_values([n], {"n": 3.0})
        {'n': 3}
    """
    out: dict[str, Any] = {}
    for param in parameters:
        if param.name not in optuna_params:
            raise KeyError(f"the trial has no value for search parameter {param.name!r}")
        value = optuna_params[param.name]
        if param.parameter_type == "int":
            out[param.name] = int(value)
        elif param.parameter_type == "double":
            fs = param.feasible_space
            if fs.step is not None and fs.min is not None and fs.max is not None:  # 0.45, not 0.45000000000000007
                out[param.name] = on_step(value, fs.min, _stepped_high(fs.min, fs.max, fs.step), fs.step)
            else:
                out[param.name] = float(value)
        elif param.parameter_type == "discrete":
            out[param.name] = int(value) if isinstance(_discrete_choices(param)[0], int) else float(value)
        else:
            out[param.name] = str(value)
    return out


def coerce_value(param: ParameterSpec, raw: Any, index: int = 0) -> Any:
    """A user-given value (YAML scalar or CSV text) as the Optuna value of ``param``.

    Raises ``ValueError`` saying what was expected when the value is not in the parameter's space.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> n = ParameterSpec.model_validate(
        ...     {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}}
        ... )
        >>> coerce_value(n, "4")
        4
    """
    dist = _distribution(param, index)
    if isinstance(dist, CategoricalDistribution):
        if param.parameter_type == "discrete":
            number = _parse_number(raw)
            for choice in dist.choices:
                if math.isclose(float(choice), number, rel_tol=1e-12, abs_tol=0.0):
                    return choice
            raise ValueError(f"expected one of {list(dist.choices)}, got {raw!r}")
        text = _text(raw)
        if text not in dist.choices:
            raise ValueError(f"expected one of {list(dist.choices)}, got {raw!r}")
        return text
    number = _parse_number(raw)
    if isinstance(dist, IntDistribution):
        if number != int(number):
            raise ValueError(f"expected a whole number, got {raw!r}")
        value: int | float = int(number)
    else:
        value = number
    assert isinstance(dist, (IntDistribution, FloatDistribution))
    if not dist.low <= value <= dist.high:
        raise ValueError(f"expected a number from {dist.low:g} to {dist.high:g}, got {raw!r}")
    if dist.step is not None and not dist._contains(dist.to_internal_repr(value)):
        raise ValueError(f"expected {dist.low:g} plus a whole number of steps of {dist.step:g}, got {raw!r}")
    return value


def _parse_number(raw: Any) -> float:
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {raw!r}")
    return number


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


# --------------------------------------------------------------------------- grid


def _grid_count(param: ParameterSpec, index: int) -> int:
    fs = param.feasible_space
    if param.parameter_type == "double":
        assert fs.min is not None and fs.max is not None
        if fs.step is None:
            raise SpecError(
                f"grid search needs feasibleSpace.step for double parameter {param.name!r}",
                path=_path(index, "feasibleSpace.step"),
            )
        return _n_steps(fs.min, fs.max, fs.step) + 1
    if param.parameter_type == "int":
        assert fs.min is not None and fs.max is not None
        return (int(fs.max) - int(fs.min)) // int(fs.step or 1) + 1
    return len(fs.choices or [])


def grid_size(parameters: Sequence[ParameterSpec]) -> int:
    """How many points a grid search visits (the product of every parameter's number of values).

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> x = ParameterSpec.model_validate(
        ...     {"name": "x", "parameterType": "double", "feasibleSpace": {"min": 0, "max": 1, "step": 0.25}}
        ... )
        >>> grid_size([x])
        5
    """
    return math.prod(_grid_count(param, index) for index, param in enumerate(parameters))


def grid_points(parameters: Sequence[ParameterSpec]) -> dict[str, list[Any]]:
    """The values of every parameter for ``optuna.samplers.GridSampler``.

    ``double`` needs a ``step`` (``min, min+step, ... <= max``), ``int`` uses ``step`` or 1,
    ``discrete`` and ``categorical`` use their list. Grids above ``MAX_GRID_POINTS`` points are refused.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> x = ParameterSpec.model_validate(
        ...     {"name": "x", "parameterType": "double", "feasibleSpace": {"min": 0, "max": 0.3, "step": 0.1}}
        ... )
        >>> grid_points([x])
        {'x': [0.0, 0.1, 0.2, 0.3]}
    """
    size = grid_size(parameters)
    if size > MAX_GRID_POINTS:
        raise SpecError(
            f"the grid has {size:,} points, more than grid search allows ({MAX_GRID_POINTS:,}); "
            "use coarser steps or shorter lists, or another algorithm (random, sobol, tpe)",
            path="spec.parameters",
        )
    out: dict[str, list[Any]] = {}
    for index, param in enumerate(parameters):
        fs = param.feasible_space
        if param.parameter_type == "double":
            assert fs.min is not None and fs.step is not None
            count = _grid_count(param, index)
            out[param.name] = [float(_dec(fs.min) + k * _dec(fs.step)) for k in range(count)]
        elif param.parameter_type == "int":
            assert fs.min is not None and fs.max is not None
            out[param.name] = list(range(int(fs.min), int(fs.max) + 1, int(fs.step or 1)))
        elif param.parameter_type == "discrete":
            out[param.name] = list(_discrete_choices(param))
        else:
            out[param.name] = list(fs.choices or [])
    return out


# --------------------------------------------------------------------------- signature


def space_signature(parameters: Sequence[ParameterSpec]) -> dict[str, Any]:
    """A JSON-able description of the search space, stored with a study to detect incompatible reuse.

    It describes the effective Optuna distributions, so two specs that sample the same space have
    the same signature.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> n = ParameterSpec.model_validate(
        ...     {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}}
        ... )
        >>> space_signature([n])
        {'version': 1, 'parameters': [{'name': 'n', 'type': 'int', 'low': 1, 'high': 5, 'step': 1, 'log': False}]}
    """
    described: list[dict[str, Any]] = []
    for param, dist in zip(parameters, distributions(parameters).values(), strict=True):
        entry: dict[str, Any] = {"name": param.name, "type": param.parameter_type}
        if isinstance(dist, (FloatDistribution, IntDistribution)):
            entry.update(low=dist.low, high=dist.high, step=dist.step, log=dist.log)
        else:
            assert isinstance(dist, CategoricalDistribution)
            entry["choices"] = list(dist.choices)
        described.append(entry)
    return {"version": SIGNATURE_VERSION, "parameters": described}


def _describe(entry: dict[str, Any]) -> str:
    if "choices" in entry:
        return f"{entry.get('type')} {entry['choices']}"
    text = f"{entry.get('type')} [{entry.get('low')}, {entry.get('high')}]"
    step = entry.get("step")
    if step is not None and not (entry.get("type") == "int" and step == 1):
        text += f" step {step}"
    if entry.get("log"):
        text += " logUniform"
    return text


def check_compatible(old_signature: dict[str, Any], new_signature: dict[str, Any], experiment: str = "NAME") -> None:
    """Raise ``SpecError`` explaining how the new search space differs from the stored one.

    Any difference (a parameter added or removed, a changed type, range, step, scale or list) is
    incompatible: Optuna's samplers cannot mix trials drawn from different spaces in one study.
    The order of parameters does not matter.

    Example:
        >>> from workbench.spec import ParameterSpec
        >>> n = ParameterSpec.model_validate(
        ...     {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}}
        ... )
        >>> check_compatible(space_signature([n]), space_signature([n]))  # same space: no error
    """
    old = {p.get("name"): p for p in old_signature.get("parameters", [])}
    new_list = list(new_signature.get("parameters", []))
    new = {p.get("name"): p for p in new_list}
    if old == new:
        return
    problems: list[str] = []
    first_index: int | None = None
    for index, entry in enumerate(new_list):
        name = entry.get("name")
        if name not in old:
            problems.append(f"parameter {name!r} was added")
        elif old[name] != entry:
            before, after = old[name], entry
            if before.get("type") != after.get("type"):
                problems.append(f"parameter {name!r} changed type from {before.get('type')} to {after.get('type')}")
            else:
                problems.append(f"parameter {name!r} changed from {_describe(before)} to {_describe(after)}")
        else:
            continue
        if first_index is None:
            first_index = index
    for name in old:
        if name not in new:
            problems.append(f"parameter {name!r} was removed")
    raise SpecError(
        "this experiment name already holds trials from a different search space: "
        + "; ".join(problems)
        + ". Trials from different spaces cannot share one Optuna study: use a new experiment name, "
        f"or delete the old experiment first (workbench delete {experiment})",
        path=_path(first_index) if first_index is not None else "spec.parameters",
    )
