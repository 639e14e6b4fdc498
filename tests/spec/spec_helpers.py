"""Documents and assertions shared by the spec tests (tests/spec)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.errors import SpecError

# Katib's examples/v1beta1/hp-tuning/random.yaml (as published), with a Job trialSpec.
KATIB_RANDOM = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  namespace: kubeflow
  name: random
spec:
  objective:
    type: maximize
    goal: 0.99
    objectiveMetricName: Validation-accuracy
    additionalMetricNames:
      - Train-accuracy
  algorithm:
    algorithmName: random
  parallelTrialCount: 3
  maxTrialCount: 12
  maxFailedTrialCount: 3
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace:
        min: "0.01"
        max: "0.03"
    - name: num-layers
      parameterType: int
      feasibleSpace:
        min: "2"
        max: "5"
    - name: optimizer
      parameterType: categorical
      feasibleSpace:
        list:
          - sgd
          - adam
          - ftrl
  trialTemplate:
    primaryContainerName: training-container
    trialParameters:
      - name: learningRate
        description: Learning rate for the training model
        reference: lr
      - name: numberLayers
        description: Number of training model layers
        reference: num-layers
      - name: optimizer
        description: Training model optimizer (sdg, adam or ftrl)
        reference: optimizer
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: training-container
                image: docker.io/kubeflowkatib/mxnet-mnist:latest
                command:
                  - "python3"
                  - "/opt/mxnet-mnist/mnist.py"
                  - "--batch-size=64"
                  - "--lr=${trialParameters.learningRate}"
                  - "--num-layers=${trialParameters.numberLayers}"
                  - "--optimizer=${trialParameters.optimizer}"
                resources:
                  limits:
                    memory: "1Gi"
                    cpu: "0.5"
            restartPolicy: Never
"""

# A Katib experiment whose trialSpec is a bare Pod, with a File collector reading JSON lines.
KATIB_POD_FILE_JSON = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: pod-json
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
    metricStrategies:
      - name: loss
        value: latest
  algorithm:
    algorithmName: tpe
    algorithmSettings:
      - name: random_state
        value: 7
  earlyStopping:
    algorithmName: medianstop
    algorithmSettings:
      - name: min_trials_required
        value: "2"
  maxTrialCount: 4
  metricsCollectorSpec:
    source:
      fileSystemPath:
        path: /var/log/metrics.json
        kind: File
        format: JSON
    collector:
      kind: File
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "0.001", max: "1", distribution: logUniform}
    - name: batch
      parameterType: discrete
      feasibleSpace: {list: ["16", "32", 64]}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: x
        reference: x
      - name: batchSize
        reference: batch
      - name: trialName
        reference: ${trialSpec.Name}
    trialSpec:
      apiVersion: v1
      kind: Pod
      spec:
        containers:
          - name: sidecar
            image: busybox
            command: [sleep, "3600"]
          - name: main
            image: python:3.11
            workingDir: /work
            command: [sh, -c]
            args:
              - >-
                python train.py --x ${trialParameters.x} --batch=${trialParameters.batchSize}
                --name ${trialParameters.trialName}
            env:
              - name: MODE
                value: fast
              - name: SECRET
                valueFrom: {secretKeyRef: {name: s, key: k}}
"""

# A KFP v1 component.yaml using every placeholder kind.
KFP_COMPONENT = """
name: Train model
description: Trains a model.
metadata:
  annotations: {author: someone}
inputs:
  - {name: Training data, type: Dataset}
  - {name: learning_rate, type: Float, default: "0.1"}
  - {name: epochs, type: Integer}
  - {name: checkpoint, type: {GCSPath: {data_type: ckpt}}, optional: true}
  - {name: verbose, type: Boolean, optional: true}
outputs:
  - {name: model, type: Model}
  - {name: metrics, type: Metrics}
implementation:
  container:
    image: python:3.11
    command:
      - python
      - train.py
      - --data
      - {inputPath: Training data}
      - --data-uri
      - {inputUri: Training data}
      - {concat: [--lr=, {inputValue: learning_rate}]}
      - --epochs
      - {inputValue: epochs}
      - --model
      - {outputPath: model}
      - --model-uri
      - {outputUri: model}
      - --metrics
      - {outputPath: metrics}
      - if:
          cond: {isPresent: checkpoint}
          then: [--checkpoint, {inputPath: checkpoint}]
          else: [--no-checkpoint]
      - if:
          cond: {inputValue: verbose}
          then: --verbose
    env:
      - {name: PYTHONUNBUFFERED, value: "1"}
"""

# A Python step file (component ref "steps.py:...").
STEPS_PY = '''
from typing import NamedTuple

from workbench import Dataset, Input, Model, Output, component


@component
def make_data(rows: int, data: Output[Dataset]) -> None:
    """Write a dataset."""


@component
def train(data: Input[Dataset], model: Output[Model], lr: float = 0.1, penalty: str = "l2") -> float:
    """Train a model and return its validation loss."""
    return 0.5


@component
def objective(lr: float, penalty: str = "l2", note: str = None) -> float:
    """A synthetic objective."""
    return lr


def evaluate(model: Input[Model], threshold: float = 0.5) -> NamedTuple("Out", [("accuracy", float), ("f1", float)]):
    return (0.9, 0.8)
'''


def load(text: str) -> Any:
    """A YAML document as plain data (a fresh copy every call)."""
    return copy.deepcopy(yaml.safe_load(text))


def write(directory: Path, name: str, content: str | dict[str, Any]) -> Path:
    """Write a file (YAML-dumping mappings) and return its path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def echo_component(inputs: list[str] = (), outputs: list[str] = (), optional: bool = False) -> dict[str, Any]:
    """An inline container component echoing its inputs and writing its outputs."""
    command: list[Any] = ["echo"] + [{"inputValue": i} for i in inputs] + [{"outputPath": o} for o in outputs]
    return {
        "name": "echo",
        "inputs": [{"name": i, "type": "String", "optional": optional} for i in inputs],
        "outputs": [{"name": o, "type": "String"} for o in outputs],
        "implementation": {"container": {"image": "busybox", "command": command}},
    }


def pipeline_doc() -> dict[str, Any]:
    """Our pipeline format: parameters, references, a condition, retry and timeout."""
    return {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "train-eval", "description": "prepare, train, evaluate, deploy"},
        "spec": {
            "parameters": [
                {"name": "lr", "type": "Float"},
                {"name": "deploy", "type": "Boolean", "default": False},
                {"name": "tag", "type": "String", "default": "v1"},
            ],
            "steps": [
                {
                    "name": "prepare",
                    "component": echo_component(["tag"], ["data"]),
                    "arguments": {"tag": "{{params.tag}}"},
                },
                {
                    "name": "train",
                    "component": echo_component(["data", "lr"], ["model", "loss"]),
                    "arguments": {"data": "{{steps.prepare.outputs.data}}", "lr": "{{params.lr}}"},
                    "retry": {"limit": 2, "backoff": "2s", "factor": 3, "maxBackoff": "1m"},
                    "timeout": "10m",
                },
                {
                    "name": "deploy",
                    "component": echo_component(["model", "note"]),
                    "arguments": {
                        "model": "{{steps.train.outputs.model}}",
                        "note": "lr={{params.lr}} tag={{params.tag}}",
                    },
                    "when": "{{params.deploy}} == true and {{steps.train.outputs.loss}} < 0.5",
                    "retry": 1,
                    "env": [{"name": "TARGET", "value": "staging"}],
                },
            ],
        },
    }


def experiment_doc(trial_template: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Workbench Experiment document around a trial template."""
    return {
        "apiVersion": "workbench.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "exp"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "tpe"},
            "maxTrialCount": 5,
            "parameters": parameters
            if parameters is not None
            else [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}}],
            "trialTemplate": trial_template,
        },
    }


@contextmanager
def raises_spec(path: str, *fragments: str) -> Iterator[pytest.ExceptionInfo[SpecError]]:
    """``with raises_spec("spec.x", "word"):`` -- a SpecError with exactly that path whose message has each fragment."""
    with pytest.raises(SpecError) as info:
        yield info
    err = info.value
    assert err.path == path, f"path {err.path!r} != {path!r} ({err})"
    assert err.message, "empty message"
    for fragment in fragments:
        assert fragment in str(err), f"{fragment!r} not in {str(err)!r}"
    assert not str(err).startswith("internal error") and "internal error" not in err.message, str(err)


def assert_clean_error(err: SpecError) -> None:
    """A SpecError a user can act on: a message, and not a Workbench bug."""
    assert isinstance(err, SpecError)
    assert err.message.strip()
    assert "internal error" not in err.message, str(err)
    assert not re.search(r"\bTraceback\b", str(err))
