"""Specs: pydantic models and YAML loaders for Experiments, Pipelines and Components.

Pure: nothing here writes anywhere. Every problem is a :class:`~workbench.errors.SpecError`
that names the file and the field path.
"""

from workbench.errors import SpecError
from workbench.spec._component import ARTIFACT_TYPES, PARAMETER_TYPES, Component, IOSpec
from workbench.spec._condition import evaluate_condition
from workbench.spec._experiment import (
    API_VERSION,
    DEFAULT_METRICS_FORMAT,
    KATIB_API_VERSION,
    AlgorithmSpec,
    ExperimentSpec,
    FeasibleSpace,
    MetricsCollectorSpec,
    ObjectiveItem,
    ObjectiveSpec,
    ParameterSpec,
    TrialTemplate,
    WarmStart,
)
from workbench.spec._load import (
    experiment_from_dict,
    experiment_to_document,
    list_templates,
    load_component,
    load_experiment,
    load_pipeline,
    pipeline_from_dict,
    pipeline_to_document,
    trial_bindings,
)
from workbench.spec._pipeline import Pipeline, RetryPolicy, Step, references, split_output_ref
from workbench.spec._validation import parse_duration
from workbench.spec._yaml import parse_yaml, read_yaml

__all__ = [
    "API_VERSION",
    "ARTIFACT_TYPES",
    "DEFAULT_METRICS_FORMAT",
    "KATIB_API_VERSION",
    "PARAMETER_TYPES",
    "AlgorithmSpec",
    "Component",
    "ExperimentSpec",
    "FeasibleSpace",
    "IOSpec",
    "MetricsCollectorSpec",
    "ObjectiveItem",
    "ObjectiveSpec",
    "ParameterSpec",
    "Pipeline",
    "RetryPolicy",
    "SpecError",
    "Step",
    "TrialTemplate",
    "WarmStart",
    "evaluate_condition",
    "experiment_from_dict",
    "experiment_to_document",
    "list_templates",
    "load_component",
    "load_experiment",
    "load_pipeline",
    "parse_duration",
    "parse_yaml",
    "pipeline_from_dict",
    "pipeline_to_document",
    "read_yaml",
    "references",
    "split_output_ref",
    "trial_bindings",
]
