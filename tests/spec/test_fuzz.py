"""Property tests: whatever a document looks like, loaders return a model or raise SpecError -- nothing else.

Valid Experiment (Katib and Workbench), Pipeline and Component documents are mutated at random
(keys dropped, values swapped for other types, junk inserted, random nested structures) and fed
to the loaders. A loader must either return a model -- which must then survive a JSON round
trip unchanged -- or raise a ``SpecError`` with a message that is not an internal error.
``WORKBENCH_FUZZ_EXAMPLES`` sets the number of examples (default 450 per property: 2,250 in all).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_helpers import (
    KATIB_POD_FILE_JSON,
    KATIB_RANDOM,
    KFP_COMPONENT,
    STEPS_PY,
    assert_clean_error,
    experiment_doc,
    pipeline_doc,
)
from spec_helpers import load as load_yaml_text

from workbench.errors import SpecError
from workbench.spec import (
    Component,
    ExperimentSpec,
    Pipeline,
    experiment_from_dict,
    experiment_to_document,
    load_component,
    parse_yaml,
    pipeline_from_dict,
    pipeline_to_document,
)

EXAMPLES = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "450"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

BASE_DIR = Path(tempfile.mkdtemp(prefix="workbench-spec-fuzz-"))
(BASE_DIR / "steps.py").write_text(STEPS_PY, encoding="utf-8")

LR = {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}}
INLINE_COMPONENT = {
    "name": "objective",
    "inputs": [{"name": "lr", "type": "Float"}, {"name": "flag", "type": "Boolean", "optional": True}],
    "outputs": [{"name": "out", "type": "Metrics"}],
    "implementation": {
        "container": {
            "image": "python",
            "command": [
                "run",
                {"inputValue": "lr"},
                {"outputPath": "out"},
                {"if": {"cond": {"isPresent": "flag"}, "then": ["--flag", {"inputValue": "flag"}]}},
            ],
        }
    },
}

EXPERIMENTS: list[dict[str, Any]] = [
    load_yaml_text(KATIB_RANDOM),
    load_yaml_text(KATIB_POD_FILE_JSON),
    experiment_doc({"pipeline": pipeline_doc(), "arguments": {"tag": "v2"}}),
    experiment_doc({"component": INLINE_COMPONENT}),
    experiment_doc({"component": "steps.py:objective"}, [LR]),
]
PIPELINES: list[dict[str, Any]] = [pipeline_doc(), pipeline_doc()["spec"] | {"name": "bare"}]
COMPONENTS: list[dict[str, Any]] = [load_yaml_text(KFP_COMPONENT), INLINE_COMPONENT]

# Words that matter to the loaders, so that mutations hit interesting cases often.
KEYS = sorted(
    {
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "name",
        "namespace",
        "objective",
        "type",
        "goal",
        "objectiveMetricName",
        "additionalMetricNames",
        "metricStrategies",
        "objectives",
        "algorithm",
        "algorithmName",
        "algorithmSettings",
        "value",
        "earlyStopping",
        "parallelTrialCount",
        "maxTrialCount",
        "maxFailedTrialCount",
        "parameters",
        "parameterType",
        "feasibleSpace",
        "min",
        "max",
        "step",
        "list",
        "distribution",
        "trialTemplate",
        "template",
        "pipeline",
        "component",
        "arguments",
        "trialParameters",
        "reference",
        "trialSpec",
        "primaryContainerName",
        "containers",
        "command",
        "args",
        "env",
        "metricsCollectorSpec",
        "collector",
        "source",
        "fileSystemPath",
        "path",
        "format",
        "filter",
        "metricsFormat",
        "steps",
        "when",
        "after",
        "retry",
        "timeout",
        "inputs",
        "outputs",
        "implementation",
        "container",
        "python",
        "file",
        "function",
        "inputValue",
        "inputPath",
        "outputPath",
        "inputUri",
        "outputUri",
        "concat",
        "if",
        "cond",
        "isPresent",
        "then",
        "else",
        "default",
        "optional",
        "baseDir",
        "warmStart",
    }
)
WORDS = [
    "",
    " ",
    "..",
    "a/b",
    "x" * 70,
    "lr",
    "Job",
    "Pod",
    "TFJob",
    "File",
    "JSON",
    "TEXT",
    "StdOut",
    "Push",
    "double",
    "int",
    "discrete",
    "categorical",
    "uniform",
    "logUniform",
    "normal",
    "logNormal",
    "minimize",
    "maximize",
    "0",
    "-1",
    "1e400",
    "nan",
    "inf",
    "0.5",
    "true",
    "${trialParameters.learningRate}",
    "${trialParameters.nope}",
    "${trialSpec.Name}",
    "${trialParameters.}",
    "{{params.lr}}",
    "{{params.nope}}",
    "{{steps.train.outputs.model}}",
    "{{steps.train.outputs.nope}}",
    "{{param.lr}}",
    "{{steps.deploy.outputs.x}}",
    "steps.py:objective",
    "steps.py:train",
    "steps.py:nope",
    "nope.py:f",
    "missing.yaml",
    "(\\w+)=(\\d+)",
    "(unclosed",
    "1m",
    "-5s",
    "10h",
    "Dataset",
    "Float",
    "workbench.io/v1alpha1",
    "kubeflow.org/v1beta1",
    "Experiment",
    "Pipeline",
    "training-container",
    "main",
    "{{params.lr}} > 1",
    "not",
    "__import__('os')",
    "{{params.deploy}} == true",
    *KEYS,
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(WORDS),
)
junk = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=4),
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _other_type(value: Any) -> Any:
    """The same content in another type: "1" <-> 1, [x] <-> {"x": x}, mapping -> its values, ..."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    doc: Any = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["delete", "replace", "retype", "insert", "empty", "wrap", "duplicate", "word"]))
        if not path:
            if op in ("replace", "retype", "wrap"):
                doc = draw(junk) if op == "replace" else _other_type(doc) if op == "retype" else [doc]
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        value = parent[key]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(junk)
        elif op == "retype":
            parent[key] = _other_type(value)
        elif op == "word":
            parent[key] = draw(st.sampled_from(WORDS))
        elif op == "insert":
            if isinstance(value, dict):
                value[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)))] = draw(junk)
            elif isinstance(value, list):
                value.insert(draw(st.integers(0, len(value))), draw(junk))
            else:
                parent[key] = draw(junk)
        elif op == "empty":
            parent[key] = type(value)() if isinstance(value, (dict, list, str)) else None
        elif op == "wrap":
            parent[key] = [value]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
    return doc


def test_the_base_documents_are_valid() -> None:
    for doc in EXPERIMENTS:
        assert isinstance(experiment_from_dict(copy.deepcopy(doc), BASE_DIR), ExperimentSpec)
    for doc in PIPELINES:
        assert isinstance(pipeline_from_dict(copy.deepcopy(doc), BASE_DIR), Pipeline)
    for doc in COMPONENTS:
        assert isinstance(load_component(copy.deepcopy(doc), BASE_DIR), Component)


def _outcome(load: Any, doc: Any) -> Any:
    try:
        return load(doc)
    except SpecError as err:
        assert_clean_error(err)
        return None


@FUZZ
@given(mutated(EXPERIMENTS))
def test_experiment_loader_never_crashes(doc: Any) -> None:
    spec = _outcome(lambda d: experiment_from_dict(d, BASE_DIR), doc)
    if spec is not None:
        assert isinstance(spec, ExperimentSpec)
        stored = json.loads(json.dumps(experiment_to_document(spec)))
        assert experiment_from_dict(stored, Path("/nonexistent")) == spec


@FUZZ
@given(mutated(PIPELINES))
def test_pipeline_loader_never_crashes(doc: Any) -> None:
    pipeline = _outcome(lambda d: pipeline_from_dict(d, BASE_DIR), doc)
    if pipeline is not None:
        assert isinstance(pipeline, Pipeline)
        assert (
            Pipeline.model_validate(json.loads(json.dumps(pipeline.model_dump(by_alias=True, mode="json")))) == pipeline
        )
        assert pipeline_from_dict(json.loads(json.dumps(pipeline_to_document(pipeline)))) == pipeline


@FUZZ
@given(mutated(COMPONENTS))
def test_component_loader_never_crashes(doc: Any) -> None:
    component = _outcome(lambda d: load_component(d, BASE_DIR), doc)
    if component is not None:
        assert isinstance(component, Component)
        assert Component.model_validate(json.loads(json.dumps(component.model_dump(by_alias=True, mode="json")))) == (
            component
        )


@FUZZ
@given(junk)
def test_random_structures_never_crash(doc: Any) -> None:
    for load in (
        lambda d: experiment_from_dict(d, BASE_DIR),
        lambda d: pipeline_from_dict(d, BASE_DIR),
        lambda d: load_component(d, BASE_DIR),
    ):
        _outcome(load, copy.deepcopy(doc))


@FUZZ
@given(
    st.one_of(st.text(max_size=200), st.sampled_from(["a: &a [*a]", "- [", "x: !!binary Zg==", "? [a]\n: b", "1: 2"]))
)
def test_random_yaml_text_never_crashes(text: str) -> None:
    try:
        parse_yaml(text)
    except SpecError as err:
        assert_clean_error(err)
