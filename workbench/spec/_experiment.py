"""Experiment spec: Katib ``v1beta1`` Experiment fields, snake_case in Python.

The YAML form is Katib's (``objective``, ``algorithm``, ``earlyStopping``,
``parameters``, ``trialTemplate``, ``metricsCollectorSpec``, ...). Workbench adds:

- ``objective.objectives`` for multi-objective searches;
- ``trialTemplate.template`` / ``pipeline`` / ``component`` and ``arguments`` to use a
  Workbench pipeline as the trial instead of a Kubernetes ``trialSpec``;
- ``warmStart`` to enqueue known parameter sets or add finished trials from a CSV.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from workbench.spec._component import SpecModel
from workbench.spec._pipeline import Pipeline
from workbench.spec._validation import FieldError, check_name

DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
API_VERSION = "workbench.io/v1alpha1"
KATIB_API_VERSION = "kubeflow.org/v1beta1"


def _number(value: Any) -> float | None:
    """Katib writes numbers as strings; accept both."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


class FeasibleSpace(SpecModel):
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[str] | None = Field(None, alias="list")
    distribution: Literal["uniform", "logUniform"] | None = None

    @field_validator("min", "max", "step", mode="before")
    @classmethod
    def _num(cls, value: Any) -> float | None:
        return _number(value)

    @field_validator("choices", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v if isinstance(v, str) else _scalar_text(v) for v in value]
        return value

    @field_validator("distribution", mode="before")
    @classmethod
    def _distribution(cls, value: Any) -> Any:
        if value in ("normal", "logNormal"):
            raise ValueError(
                f"distribution {value!r} is not supported: Optuna samples only uniform and "
                "log-uniform spaces; use 'uniform' or 'logUniform' with min and max"
            )
        return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"list items must be scalars, got {type(value).__name__}")


class ParameterSpec(SpecModel):
    """One dimension of the search space."""

    name: str
    parameter_type: Literal["double", "int", "discrete", "categorical"]
    feasible_space: FeasibleSpace

    @model_validator(mode="after")
    def _check(self) -> ParameterSpec:
        fs = self.feasible_space
        kind = self.parameter_type
        if kind in ("double", "int"):
            if fs.min is None or fs.max is None:
                raise FieldError("feasibleSpace", f"a {kind} parameter needs min and max")
            if fs.min > fs.max:
                raise FieldError("feasibleSpace.min", f"{fs.min:g} must not be greater than max ({fs.max:g})")
            if fs.step is not None and fs.step <= 0:
                raise FieldError("feasibleSpace.step", f"must be positive, got {fs.step:g}")
            if fs.distribution == "logUniform" and fs.min <= 0:
                raise FieldError("feasibleSpace.min", "a logUniform parameter needs min > 0")
            if kind == "int":
                for field in ("min", "max", "step"):
                    value = getattr(fs, field)
                    if value is not None and value != int(value):
                        raise FieldError(f"feasibleSpace.{field}", "an int parameter needs a whole number")
            if fs.choices:
                raise FieldError("feasibleSpace.list", f"a {kind} parameter takes min/max, not a list")
        else:
            if not fs.choices:
                raise FieldError("feasibleSpace.list", f"a {kind} parameter needs a non-empty list")
            if len(set(fs.choices)) != len(fs.choices):
                raise FieldError("feasibleSpace.list", "has duplicate values")
            if kind == "discrete":
                for item in fs.choices:
                    try:
                        _number(item)
                    except ValueError:
                        raise FieldError("feasibleSpace.list", f"a discrete parameter needs numbers, got {item!r}") from None
        return self


class MetricStrategy(SpecModel):
    name: str
    value: Literal["min", "max", "latest"]


class ObjectiveItem(SpecModel):
    """One objective of a multi-objective experiment."""

    metric_name: str
    type: Literal["minimize", "maximize"]


class ObjectiveSpec(SpecModel):
    type: Literal["minimize", "maximize"] | None = None
    goal: float | None = None
    objective_metric_name: str | None = None
    additional_metric_names: list[str] = Field(default_factory=list)
    metric_strategies: list[MetricStrategy] = Field(default_factory=list)
    objectives: list[ObjectiveItem] = Field(default_factory=list)

    @field_validator("goal", mode="before")
    @classmethod
    def _goal(cls, value: Any) -> float | None:
        return _number(value)

    @model_validator(mode="after")
    def _check(self) -> ObjectiveSpec:
        if self.objectives:
            if self.objective_metric_name or self.type:
                raise ValueError("give either objectives (multi-objective) or type and objectiveMetricName, not both")
            if self.goal is not None:
                raise ValueError("goal applies to single-objective experiments only")
            names = [o.metric_name for o in self.objectives]
            if len(set(names)) != len(names):
                raise ValueError("objectives: duplicate metric names")
        else:
            if not self.objective_metric_name:
                raise ValueError("objectiveMetricName is required")
            if not self.type:
                raise ValueError("type is required (minimize or maximize)")
        return self

    @property
    def metric_names(self) -> list[str]:
        """The objective metrics, in order."""
        if self.objectives:
            return [o.metric_name for o in self.objectives]
        return [self.objective_metric_name or ""]

    @property
    def directions(self) -> list[str]:
        if self.objectives:
            return [o.type for o in self.objectives]
        return [self.type or "minimize"]

    @property
    def is_multi(self) -> bool:
        return len(self.metric_names) > 1

    def strategy(self, metric: str) -> str:
        """How a metric's reported values are reduced: Katib defaults to the objective's direction."""
        for s in self.metric_strategies:
            if s.name == metric:
                return s.value
        if metric in self.metric_names:
            direction = self.directions[self.metric_names.index(metric)]
            return "min" if direction == "minimize" else "max"
        return "latest"


class Setting(SpecModel):
    name: str
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if value is None:
            raise ValueError("a setting needs a value")
        return _scalar_text(value)


class AlgorithmSpec(SpecModel):
    algorithm_name: str
    algorithm_settings: list[Setting] = Field(default_factory=list)

    def settings(self) -> dict[str, str]:
        return {s.name: s.value for s in self.algorithm_settings}


class FileSystemPath(SpecModel):
    path: str
    kind: Literal["File", "Directory"] = "File"
    format: Literal["TEXT", "JSON"] = "TEXT"


class MetricsFilter(SpecModel):
    metrics_format: list[str] = Field(default_factory=list)


class CollectorSource(SpecModel):
    file_system_path: FileSystemPath | None = None
    filter: MetricsFilter | None = None
    http_get: dict[str, Any] | None = None


class CollectorKind(SpecModel):
    kind: Literal["StdOut", "File", "None", "Push", "TensorFlowEvent", "PrometheusMetric", "Custom"] = "StdOut"
    custom_collector: dict[str, Any] | None = None

    @field_validator("kind")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value in ("TensorFlowEvent", "PrometheusMetric", "Custom"):
            raise ValueError(
                f"metrics collector kind {value!r} is not supported by Workbench; "
                "use StdOut, File, Push or None"
            )
        return value


class MetricsCollectorSpec(SpecModel):
    collector: CollectorKind = Field(default_factory=CollectorKind)
    source: CollectorSource | None = None

    @model_validator(mode="after")
    def _check(self) -> MetricsCollectorSpec:
        if self.collector.kind == "File" and (self.source is None or self.source.file_system_path is None):
            raise ValueError("a File collector needs source.fileSystemPath.path")
        for regex in self.metrics_formats:
            import re

            try:
                compiled = re.compile(regex)
            except re.error as err:
                raise ValueError(f"source.filter.metricsFormat {regex!r} is not a valid regex: {err}") from None
            if compiled.groups < 2:
                raise ValueError(
                    f"source.filter.metricsFormat {regex!r} needs two groups: (name) and (value)"
                )
        return self

    @property
    def metrics_formats(self) -> list[str]:
        if self.source and self.source.filter and self.source.filter.metrics_format:
            return list(self.source.filter.metrics_format)
        return [DEFAULT_METRICS_FORMAT]


class TrialParameterSpec(SpecModel):
    name: str
    description: str = ""
    reference: str = ""


class TrialTemplate(SpecModel):
    """What one trial runs: a Workbench pipeline, or a Katib ``trialSpec``.

    After loading, ``pipeline`` always holds the resolved ``Pipeline``.
    """

    template: str | None = None
    pipeline: Pipeline | None = None
    component: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    trial_parameters: list[TrialParameterSpec] = Field(default_factory=list)
    # Katib fields.
    primary_container_name: str | None = None
    trial_spec: dict[str, Any] | None = None
    config_map: dict[str, Any] | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    retain: bool = False
    primary_pod_labels: dict[str, str] | None = None


class WarmStart(SpecModel):
    """Known results to start from: parameter sets to try first, and finished trials from a CSV."""

    enqueue: list[dict[str, Any]] = Field(default_factory=list)
    csv: str | None = None


class ExperimentSpec(SpecModel):
    """A search: objective, algorithm, search space, budget and trial template."""

    name: str
    namespace: str = "default"
    objective: ObjectiveSpec
    algorithm: AlgorithmSpec = Field(default_factory=lambda: AlgorithmSpec(algorithm_name="tpe"))
    early_stopping: AlgorithmSpec | None = None
    parallel_trial_count: int = Field(3, ge=1, le=10_000)
    max_trial_count: int | None = Field(None, ge=1)
    max_failed_trial_count: int | None = Field(None, ge=0)
    resume_policy: Literal["Never", "LongRunning", "FromVolume"] = "LongRunning"
    parameters: list[ParameterSpec]
    trial_template: TrialTemplate
    metrics_collector_spec: MetricsCollectorSpec = Field(default_factory=MetricsCollectorSpec)
    warm_start: WarmStart | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "experiment name")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_name(value, "namespace")

    @field_validator("parameters")
    @classmethod
    def _params(cls, value: list[ParameterSpec]) -> list[ParameterSpec]:
        if not value:
            raise ValueError("an experiment needs at least one parameter")
        names = [p.name for p in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate parameter names: {dup}")
        return value

    @model_validator(mode="after")
    def _check_budget(self) -> ExperimentSpec:
        if self.max_trial_count is not None and self.parallel_trial_count > self.max_trial_count:
            self.parallel_trial_count = self.max_trial_count
        names = {p.name for p in self.parameters}
        for index, tp in enumerate(self.trial_template.trial_parameters):
            ref = tp.reference or tp.name
            if ref not in names and not ref.startswith("${trialSpec."):
                raise FieldError(
                    f"trialTemplate.trialParameters[{index}].reference",
                    f"{ref!r} names no parameter (parameters: {sorted(names)})",
                )
        return self

    @property
    def metric_names(self) -> list[str]:
        """Objective metrics first, then additional metrics."""
        out = list(self.objective.metric_names)
        out += [m for m in self.objective.additional_metric_names if m not in out]
        return out
