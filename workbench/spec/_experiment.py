"""Experiment spec: Katib ``v1beta1`` Experiment fields, snake_case in Python.

The YAML form is Katib's (``objective``, ``algorithm``, ``earlyStopping``,
``parameters``, ``trialTemplate``, ``metricsCollectorSpec``, ...). Workbench adds:

- ``objective.objectives`` for multi-objective searches;
- ``trialTemplate.template`` / ``pipeline`` / ``component`` and ``arguments`` to use a
  Workbench pipeline as the trial instead of a Kubernetes ``trialSpec``;
- ``warmStart`` to enqueue known parameter sets or add finished trials from a CSV;
- ``trialTemplate.cache`` to say whether trials may reuse cached steps (see :class:`TrialTemplate`).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from workbench.spec._component import SpecModel
from workbench.spec._pipeline import Pipeline
from workbench.spec._validation import FieldError, check_metric_name, check_name, json_value

DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
API_VERSION = "workbench.io/v1alpha1"
KATIB_API_VERSION = "kubeflow.org/v1beta1"
#: Katib's trial metadata references: ``${trialSpec.Name}``, ``${trialSpec.Labels[key]}``, ...
_META_REFERENCE = re.compile(r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|(?:Labels|Annotations)\[[^\]]+\])\}")


def is_meta_reference(reference: str) -> bool:
    """``${trialSpec.Name}`` and friends: trial metadata, not a search parameter."""
    return bool(_META_REFERENCE.fullmatch(reference))


def _number(value: Any) -> float | None:
    """Katib writes numbers as strings; accept both."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        shown = repr(value) if isinstance(value, (bool, int, float, str)) else f"a {type(value).__name__}"
        raise ValueError(f"expected a number, got {shown[:80]}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {str(value)[:80]!r}") from None
    except OverflowError:
        raise ValueError("the number is too large") from None
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
            out = []
            for index, item in enumerate(value):
                try:
                    out.append(item if isinstance(item, str) else _scalar_text(item))
                except ValueError as err:
                    raise FieldError(f"[{index}]", str(err)) from None
            return out
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
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ValueError(f"expected a finite number, got {value!r}")
    if isinstance(value, (int, float, str)):
        return str(value)
    shown = "null" if value is None else type(value).__name__
    raise ValueError(f"expected a string or a number, got {shown}")


class ParameterSpec(SpecModel):
    """One dimension of the search space."""

    name: str
    parameter_type: Literal["double", "int", "discrete", "categorical"]
    feasible_space: FeasibleSpace

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "parameter name")

    @model_validator(mode="after")
    def _check(self) -> ParameterSpec:
        fs = self.feasible_space
        kind = self.parameter_type
        if kind in ("double", "int"):
            for bound in ("min", "max"):
                if getattr(fs, bound) is None:
                    raise FieldError(f"feasibleSpace.{bound}", f"a {kind} parameter needs min and max")
            assert fs.min is not None and fs.max is not None
            if fs.min > fs.max:
                raise FieldError("feasibleSpace.min", f"{fs.min:g} must not be greater than max ({fs.max:g})")
            if fs.step is not None and fs.step <= 0:
                raise FieldError("feasibleSpace.step", f"must be positive, got {fs.step:g}")
            if fs.distribution == "logUniform" and fs.min <= 0:
                raise FieldError("feasibleSpace.min", f"a logUniform parameter needs min > 0, got {fs.min:g}")
            if kind == "int":
                for field in ("min", "max", "step"):
                    value = getattr(fs, field)
                    if value is not None and value != int(value):
                        raise FieldError(
                            f"feasibleSpace.{field}", f"an int parameter needs a whole number, got {value:g}"
                        )
            if fs.choices:  # Katib ignores an empty list here too
                raise FieldError("feasibleSpace.list", f"a {kind} parameter takes min and max, not a list")
        else:
            for field in ("min", "max", "step"):
                if getattr(fs, field) is not None:
                    raise FieldError(f"feasibleSpace.{field}", f"a {kind} parameter takes a list, not min/max/step")
            if fs.distribution is not None:
                raise FieldError("feasibleSpace.distribution", f"a {kind} parameter takes a list, not a distribution")
            if not fs.choices:
                raise FieldError("feasibleSpace.list", f"a {kind} parameter needs a non-empty list")
            seen: set[str] = set()
            for index, item in enumerate(fs.choices):
                if item in seen:
                    raise FieldError(f"feasibleSpace.list[{index}]", f"duplicate value {item!r}")
                seen.add(item)
                if kind == "discrete":
                    try:
                        number = _number(item)
                    except ValueError:
                        number = None
                    if number is None:
                        raise FieldError(
                            f"feasibleSpace.list[{index}]", f"a discrete parameter needs numbers, got {item!r}"
                        )
        return self


class MetricStrategy(SpecModel):
    name: str
    value: Literal["min", "max", "latest"]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class ObjectiveItem(SpecModel):
    """One objective of a multi-objective experiment."""

    metric_name: str
    type: Literal["minimize", "maximize"]

    @field_validator("metric_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


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
            if self.objective_metric_name is not None or self.type is not None:
                field = "objectiveMetricName" if self.objective_metric_name is not None else "type"
                raise FieldError(
                    field, "give either objectives (multi-objective) or type and objectiveMetricName, not both"
                )
            if self.goal is not None:
                raise FieldError("goal", "goal applies to single-objective experiments only")
            names = [o.metric_name for o in self.objectives]
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise FieldError(f"objectives[{index}].metricName", f"duplicate metric name {name!r}")
        else:
            if not self.objective_metric_name or not self.objective_metric_name.strip():
                raise FieldError("objectiveMetricName", "required field is missing (the metric to optimize)")
            if not self.type:
                raise FieldError("type", "required field is missing (minimize or maximize)")
        named = [(f"objectives[{i}].metricName", o.metric_name) for i, o in enumerate(self.objectives)] or [
            ("objectiveMetricName", self.objective_metric_name)
        ]
        named += [(f"additionalMetricNames[{i}]", n) for i, n in enumerate(self.additional_metric_names)]
        for path, name in named:
            try:
                check_metric_name(name)
            except ValueError as err:
                raise FieldError(path, str(err)) from None
        for index, name in enumerate(self.additional_metric_names):
            if name in self.metric_names:
                raise FieldError(f"additionalMetricNames[{index}]", f"{name!r} is already an objective metric")
        for index, s in enumerate(self.metric_strategies):
            if any(other.name == s.name for other in self.metric_strategies[:index]):
                raise FieldError(f"metricStrategies[{index}].name", f"duplicate metric {s.name!r}")
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
    """An algorithm (or early-stopping rule) by name; names and settings are checked by ``workbench.search``."""

    algorithm_name: str
    algorithm_settings: list[Setting] = Field(default_factory=list)

    @field_validator("algorithm_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

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

    @field_validator("http_get")
    @classmethod
    def _json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else json_value(value)


class CollectorKind(SpecModel):
    kind: Literal["StdOut", "File", "None", "Push", "TensorFlowEvent", "PrometheusMetric", "Custom"] = "StdOut"
    custom_collector: dict[str, Any] | None = None

    @field_validator("custom_collector")
    @classmethod
    def _json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else json_value(value)

    @field_validator("kind")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value in ("TensorFlowEvent", "PrometheusMetric", "Custom"):
            raise ValueError(
                f"metrics collector kind {value!r} is not supported by Workbench; use StdOut, File, Push or None"
            )
        return value


class MetricsCollectorSpec(SpecModel):
    collector: CollectorKind = Field(default_factory=CollectorKind)
    source: CollectorSource | None = None

    @model_validator(mode="after")
    def _check(self) -> MetricsCollectorSpec:
        source = self.source
        if self.collector.kind == "File":
            if source is None or source.file_system_path is None:
                raise FieldError("source.fileSystemPath", "a File collector needs source.fileSystemPath.path")
            fsp = source.file_system_path
            if not fsp.path.strip():
                raise FieldError("source.fileSystemPath.path", "must not be empty")
            if fsp.kind != "File":
                raise FieldError("source.fileSystemPath.kind", "a File collector reads a file: use kind File")
            if fsp.format == "JSON" and source.filter is not None and source.filter.metrics_format:
                raise FieldError("source.filter", "a JSON metrics file takes no metricsFormat filter")
        if source and source.filter:
            for index, regex in enumerate(source.filter.metrics_format):
                where = f"source.filter.metricsFormat[{index}]"
                try:
                    compiled = re.compile(regex)
                except re.error as err:
                    raise FieldError(where, f"{regex!r} is not a valid regular expression: {err}") from None
                except (RecursionError, OverflowError, MemoryError, ValueError):
                    raise FieldError(where, f"{regex[:80]!r} is not a usable regular expression") from None
                if compiled.groups < 2:
                    raise FieldError(where, f"{regex!r} needs two groups: (name) and (value)")
        return self

    @property
    def metrics_formats(self) -> list[str]:
        if self.source and self.source.filter and self.source.filter.metrics_format:
            return list(self.source.filter.metrics_format)
        return [DEFAULT_METRICS_FORMAT]


class TrialParameterSpec(SpecModel):
    """A name used in the trial template, filled with a search parameter (``reference``, default: same name)."""

    name: str
    description: str = ""
    reference: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "trial parameter name")


class TrialTemplate(SpecModel):
    """What one trial runs: a Workbench pipeline, or a Katib ``trialSpec``.

    After loading, ``pipeline`` always holds the resolved ``Pipeline``.

    ``cache`` says whether a trial's steps may be served from the step cache (a Workbench
    addition): ``false`` never; ``true`` (or ``Experiment``) from earlier trials of the same
    experiment (namespace and name); ``Shared`` also from other experiments and standalone runs
    of the same pipeline in the namespace. Unset, a Workbench pipeline, component or template is
    cached within its experiment, and a Katib ``trialSpec`` is never cached (Katib runs every trial).
    """

    template: str | None = None
    pipeline: Pipeline | None = None
    #: ``FILE.py:FUNCTION``, a component file, or an inline component (mapping).
    component: str | dict[str, Any] | None = None
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
    cache: bool | Literal["Experiment", "Shared"] | None = None

    @property
    def cache_mode(self) -> Literal["off", "experiment", "shared"]:
        """What ``cache`` means once its default is applied."""
        if self.cache is None:
            return "off" if self.trial_spec is not None else "experiment"
        if self.cache is False:
            return "off"
        return "shared" if self.cache == "Shared" else "experiment"

    @field_validator("component", "trial_spec", "config_map")
    @classmethod
    def _json_mapping(cls, value: Any) -> Any:
        return json_value(value) if isinstance(value, dict) else value

    @field_validator("arguments")
    @classmethod
    def _json_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_value(value)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _check_trial_parameters(self) -> TrialTemplate:
        names: set[str] = set()
        for index, tp in enumerate(self.trial_parameters):
            if tp.name in names:
                raise FieldError(f"trialParameters[{index}].name", f"duplicate trial parameter {tp.name!r}")
            names.add(tp.name)
        return self


class WarmStart(SpecModel):
    """Known results to start from: parameter sets to try first, and finished trials from a CSV (such as
    ``workbench trials NAME --csv`` writes) or from an earlier experiment of the workspace."""

    enqueue: list[dict[str, Any]] = Field(default_factory=list)
    csv: str | None = None
    #: An earlier experiment whose finished trials count as known results ...
    experiment: str | None = None
    #: ... in this namespace (default: the experiment's own).
    namespace: str | None = None

    @field_validator("enqueue")
    @classmethod
    def _json(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return json_value(value)

    @field_validator("experiment")
    @classmethod
    def _experiment(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "experiment name")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "namespace")

    @model_validator(mode="after")
    def _namespace_needs_experiment(self) -> WarmStart:
        if self.namespace is not None and self.experiment is None:
            raise FieldError("namespace", "names the namespace of warmStart.experiment: give the experiment too")
        return self


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

    _unsupported_fields: ClassVar[dict[str, str]] = {
        "nasConfig": "neural architecture search (nasConfig) is not supported; use parameters",
    }

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
        seen: set[str] = set()
        for index, param in enumerate(value):
            if param.name in seen:
                raise FieldError(f"[{index}].name", f"duplicate parameter name {param.name!r}")
            seen.add(param.name)
        return value

    @model_validator(mode="after")
    def _check_budget(self) -> ExperimentSpec:
        # A parallelism above the budget is clamped (the API's default of 3 with max_trials=2 is fine).
        if self.max_trial_count is not None and self.parallel_trial_count > self.max_trial_count:
            self.parallel_trial_count = self.max_trial_count
        if (
            self.max_trial_count is not None
            and self.max_failed_trial_count is not None
            and self.max_failed_trial_count > self.max_trial_count
        ):
            raise FieldError(
                "maxFailedTrialCount",
                f"{self.max_failed_trial_count} must not be greater than maxTrialCount ({self.max_trial_count})",
            )
        names = {p.name for p in self.parameters}
        for index, tp in enumerate(self.trial_template.trial_parameters):
            ref = tp.reference or tp.name
            if ref not in names and not is_meta_reference(ref):
                raise FieldError(
                    f"trialTemplate.trialParameters[{index}].reference",
                    f"{ref!r} names no parameter (parameters: {sorted(names)}; "
                    "or trial metadata such as ${trialSpec.Name})",
                )
        return self

    @property
    def metric_names(self) -> list[str]:
        """Objective metrics first, then additional metrics."""
        out = list(self.objective.metric_names)
        out += [m for m in self.objective.additional_metric_names if m not in out]
        return out

    def metric_warnings(self) -> list[str]:
        """What looks wrong with the metrics, when the trial pipeline declares the ones it reports (``spec.metrics``).

        An objective the template never reports would end every trial MetricsUnavailable; an objective that
        minimizes a metric the template says to maximize (or the other way round) searches for the worst
        trial. Warnings, not errors: a template's declaration may be incomplete. Empty when nothing is declared.
        """
        pipeline = self.trial_template.pipeline
        declared = {m.name: m for m in pipeline.metrics} if pipeline is not None else {}
        if not declared:
            return []
        known = ", ".join(declared)
        where = f"trial template {pipeline.name!r}" if pipeline is not None else "the trial template"
        out = []
        for index, (name, direction) in enumerate(
            zip(self.objective.metric_names, self.objective.directions, strict=False)
        ):
            path = f"objective.objectives[{index}].metricName" if self.objective.objectives else "objective"
            path += "" if self.objective.objectives else ".objectiveMetricName"
            declaration = declared.get(name)
            if declaration is None:
                out.append(
                    f"{path}: {name!r} is not a metric the {where} reports (it declares: {known}); "
                    "every trial would end MetricsUnavailable"
                )
            elif declaration.goal is not None and declaration.goal != direction:
                out.append(
                    f"{path}: the {where} says to {declaration.goal} {name!r}, but the objective {direction}s it"
                )
        for index, name in enumerate(self.objective.additional_metric_names):
            if name not in declared:
                out.append(
                    f"objective.additionalMetricNames[{index}]: {name!r} is not a metric the {where} reports "
                    f"(it declares: {known})"
                )
        return out
