"""The ``sklearn-classifier`` trial template: spec, each step run in-process, and the whole chain via the launcher."""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from trials_helpers import TRIALS, import_file, launch, markers, plain_lines

from workbench.dsl import ClassificationMetrics, Dataset, Metrics, Model, PythonComponent
from workbench.spec import DEFAULT_METRICS_FORMAT, list_templates, load_pipeline

STEPS = TRIALS / "sklearn-classifier" / "steps.py"
PIPELINE = TRIALS / "sklearn-classifier" / "pipeline.yaml"


@pytest.fixture(scope="module")
def steps():
    return import_file(STEPS)


@dataclass
class Chain:
    """Artifacts and output of one in-process load -> train -> evaluate."""

    data: Dataset
    model: Model
    metrics: Metrics
    confusion: ClassificationMetrics
    val_accuracy: float
    test_accuracy: float
    train_out: str
    evaluate_out: str


def run_chain(steps: Any, where: Path, dataset: str = "digits", epochs: int = 20, **train_args: Any) -> Chain:
    data = Dataset(str(where / "load" / "data"))
    model = Model(str(where / "train" / "model"))
    metrics = Metrics(str(where / "evaluate" / "metrics"))
    confusion = ClassificationMetrics(str(where / "evaluate" / "confusion_matrix"))
    with contextlib.redirect_stdout(io.StringIO()):
        steps.load.func(data, dataset=dataset)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        val_accuracy = steps.train.func(data, model, epochs=epochs, **train_args)
    train_out = out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        test_accuracy = steps.evaluate.func(data, model, metrics, confusion)
    return Chain(data, model, metrics, confusion, val_accuracy, test_accuracy, train_out, out.getvalue())


@pytest.fixture(scope="module")
def digits(steps, tmp_path_factory) -> Chain:
    """The template's defaults on digits, run once for the module."""
    return run_chain(steps, tmp_path_factory.mktemp("digits"))


# --------------------------------------------------------------------------- spec


def test_in_the_catalog():
    assert list_templates()["sklearn-classifier"] == PIPELINE.resolve()


def test_pipeline_spec(steps):
    pipeline = load_pipeline(PIPELINE)
    assert pipeline.name == "sklearn-classifier"
    assert pipeline.topological_order() == ["load", "train", "evaluate"]
    params = {p.name: (p.type, p.default) for p in pipeline.parameters}
    assert params["dataset"] == ("String", "digits")
    assert params["alpha"] == ("Float", 1e-4)
    assert params["epochs"] == ("Integer", 20)
    assert params["penalty"] == ("String", "l2")
    assert params["test_size"] == ("Float", 0.25)
    assert params["seed"] == ("Integer", 0)
    assert params["eta0"][0] == "Float"
    outputs = {s.name: {o.name: o.type for o in s.component.outputs} for s in pipeline.steps}
    assert outputs == {
        "load": {"data": "Dataset"},
        "train": {"model": "Model", "Output": "Float"},
        "evaluate": {"metrics": "Metrics", "confusion_matrix": "ClassificationMetrics", "Output": "Float"},
    }
    # The pipeline's defaults are the functions' defaults: running a step alone behaves the same.
    for step in pipeline.steps:
        for name, value in step.arguments.items():
            match = re.fullmatch(r"\{\{params\.(\w+)\}\}", str(value))
            if match:
                assert step.component.input(name).default == params[match[1]][1], (step.name, name)
    assert all(isinstance(getattr(steps, n), PythonComponent) for n in ("load", "train", "evaluate"))


def test_loading_the_file_imports_nothing_heavy():
    import subprocess
    import sys

    from trials_helpers import subprocess_env

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {str(STEPS)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(','.join(n for n in ('numpy', 'sklearn', 'scipy', 'pandas') if n in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == ""


# --------------------------------------------------------------------------- load


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer"])
def test_bundled_data_matches_sklearn(steps, name):
    import numpy as np
    import sklearn.datasets

    X, y, target_names = steps.load_arrays(name)
    bunch = getattr(sklearn.datasets, f"load_{name}")()
    np.testing.assert_allclose(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert target_names == [str(t) for t in bunch.target_names]


def test_load_writes_a_stratified_standardized_split(digits):
    import numpy as np

    with np.load(digits.data.path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    n_train, n_val, n_test = (len(arrays[f"y_{s}"]) for s in ("train", "val", "test"))
    assert n_train + n_val + n_test == 1797
    assert n_test == pytest.approx(1797 * 0.25, abs=10)
    assert n_val == pytest.approx((1797 - n_test) * 0.2, abs=10)
    per_class = {s: np.bincount(arrays[f"y_{s}"], minlength=10) for s in ("train", "val", "test")}
    total = sum(per_class.values())
    np.testing.assert_allclose(per_class["test"], total * 0.25, atol=1)  # stratified: each class split alike
    np.testing.assert_allclose(per_class["val"], (total - per_class["test"]) * 0.2, atol=1)
    for split in ("train", "val", "test"):
        assert arrays[f"X_{split}"].shape == (len(arrays[f"y_{split}"]), 64)
        assert arrays[f"X_{split}"].dtype == np.float32
    X_train = arrays["X_train"]
    informative = arrays["feature_scale"] != 1.0
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X_train.std(axis=0)[informative], 1.0, atol=1e-4)
    assert list(arrays["target_names"]) == [str(i) for i in range(10)]


def test_load_is_deterministic_and_seeded(steps, tmp_path):
    import numpy as np

    paths = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        data = Dataset(str(tmp_path / name))
        with contextlib.redirect_stdout(io.StringIO()):
            steps.load.func(data, dataset="iris", seed=seed)
        paths.append(data.path)
    with np.load(paths[0]) as a, np.load(paths[1]) as b, np.load(paths[2]) as c:
        np.testing.assert_array_equal(a["y_test"], b["y_test"])
        assert not np.array_equal(a["y_test"], c["y_test"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
        ({"test_size": 1.0}, "test_size"),
        ({"validation_size": 0.0}, "validation_size"),
    ],
)
def test_load_rejects_bad_arguments(steps, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        steps.load.func(Dataset(str(tmp_path / "data")), **kwargs)


# --------------------------------------------------------------------------- train


def test_train_reports_every_epoch(digits):
    reported = markers(digits.train_out)
    per_epoch = [r for r in reported if "step" in r]
    assert [r["step"] for r in per_epoch] == list(range(1, 21))
    assert all(set(r) == {"accuracy", "loss", "step"} for r in per_epoch)
    assert per_epoch[-1]["accuracy"] == digits.val_accuracy
    assert per_epoch[-1]["loss"] < per_epoch[0]["loss"]
    final = [r for r in reported if "step" not in r]
    assert len(final) == 1 and set(final[0]) == {"nonzero_weights", "train_seconds"}
    assert 0 < final[0]["nonzero_weights"] <= 640
    # The epoch lines are for people: report() already sent these values, with their step.
    assert not [m for line in plain_lines(digits.train_out) for m in re.finditer(DEFAULT_METRICS_FORMAT, line)]


def test_train_is_accurate_with_the_defaults(digits):
    assert digits.val_accuracy > 0.9


def test_train_writes_the_model_directory(steps, digits):
    import numpy as np

    model_dir = Path(digits.model.path)
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.json", "model.pkl", "weights.npz"]
    info = json.loads((model_dir / "model.json").read_text())
    assert info["params"]["alpha"] == 1e-4 and info["params"]["penalty"] == "l2" and info["epochs"] == 20
    with open(model_dir / "model.pkl", "rb") as f:
        estimator = pickle.load(f)
    with np.load(digits.data.path) as npz:
        X_test = npz["X_test"]
    with np.load(model_dir / "weights.npz") as weights:
        np.testing.assert_array_equal(steps.linear_predict(weights, X_test), estimator.predict(X_test))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"penalty": "l3"}, "unknown penalty"),
        ({"learning_rate": "fast"}, "unknown learning_rate"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_train_rejects_bad_arguments(steps, digits, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        steps.train.func(digits.data, Model(str(tmp_path / "model")), **kwargs)


# --------------------------------------------------------------------------- evaluate


def test_evaluate_metrics_and_confusion_matrix(digits):
    import numpy as np
    from sklearn import metrics as skm

    scores = json.loads(Path(digits.metrics.path).read_text())
    assert set(scores) == {"accuracy", "f1_macro", "precision", "recall"}
    assert scores["accuracy"] == digits.test_accuracy > 0.9
    confusion = json.loads(Path(digits.confusion.path).read_text())
    assert confusion["labels"] == [str(i) for i in range(10)]
    matrix = np.array(confusion["matrix"])
    with np.load(digits.data.path) as npz:
        y_test = npz["y_test"]
    assert matrix.shape == (10, 10)
    assert matrix.sum() == len(y_test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(scores["accuracy"])
    # Same numbers as scikit-learn's own metrics.
    y_pred = np.repeat(np.arange(10), matrix.sum(axis=0))  # any order: rebuild predictions per column
    y_true = np.concatenate([np.repeat(np.arange(10), matrix[:, j]) for j in range(10)])
    assert skm.f1_score(y_true, y_pred, average="macro") == pytest.approx(scores["f1_macro"])
    assert skm.precision_score(y_true, y_pred, average="macro") == pytest.approx(scores["precision"])
    assert skm.recall_score(y_true, y_pred, average="macro") == pytest.approx(scores["recall"])
    np.testing.assert_array_equal(skm.confusion_matrix(y_true, y_pred), matrix)


def test_evaluate_reports_and_prints_katib_lines(digits):
    reported = markers(digits.evaluate_out)
    assert len(reported) == 1
    assert set(reported[0]) == {"accuracy", "f1", "precision", "recall"}
    assert reported[0]["accuracy"] == digits.test_accuracy
    found = {
        m[1]: float(m[2])
        for line in plain_lines(digits.evaluate_out)
        for m in re.finditer(DEFAULT_METRICS_FORMAT, line)
    }
    assert found == {"accuracy": pytest.approx(digits.test_accuracy), "f1": pytest.approx(reported[0]["f1"])}


def test_evaluate_falls_back_to_the_pickled_estimator(steps, digits, tmp_path):
    """A model that is a plain pickle file (any scikit-learn classifier) is scored with its own predict()."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    with np.load(digits.data.path) as npz:
        estimator = LogisticRegression(max_iter=200).fit(npz["X_train"], npz["y_train"])
        expected = float(np.mean(estimator.predict(npz["X_test"]) == npz["y_test"]))
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(pickle.dumps(estimator))
    with contextlib.redirect_stdout(io.StringIO()):
        accuracy = steps.evaluate.func(
            digits.data,
            Model(str(model_file)),
            Metrics(str(tmp_path / "m")),
            ClassificationMetrics(str(tmp_path / "c")),
        )
    assert accuracy == pytest.approx(expected)


@pytest.mark.parametrize(
    ("dataset", "n_classes", "penalty", "least"),
    [("iris", 3, "l2", 0.7), ("wine", 3, "elasticnet", 0.9), ("breast_cancer", 2, "l1", 0.9)],
)
def test_other_datasets(steps, tmp_path, dataset, n_classes, penalty, least):
    chain = run_chain(steps, tmp_path, dataset=dataset, epochs=10, penalty=penalty, eta0=0.05)
    assert chain.test_accuracy > least
    confusion = json.loads(Path(chain.confusion.path).read_text())
    assert len(confusion["labels"]) == n_classes
    assert len(confusion["matrix"]) == n_classes and all(len(row) == n_classes for row in confusion["matrix"])
    if dataset == "breast_cancer":
        assert confusion["labels"] == ["malignant", "benign"]


# --------------------------------------------------------------------------- the launcher


def test_the_three_steps_through_the_launcher(tmp_path):
    """load -> train -> evaluate as the engine runs them: one process each, artifacts passed by path."""
    data = {"path": str(tmp_path / "load" / "data"), "type": "Dataset"}
    model = {"path": str(tmp_path / "train" / "model"), "type": "Model"}
    load = launch(STEPS, "load", tmp_path, params={"dataset": "digits", "seed": 0}, outputs={"data": data})
    assert load.returncode == 0, load.stderr
    assert Path(data["path"]).is_file()

    train = launch(
        STEPS,
        "train",
        tmp_path,
        params={"alpha": 1e-4, "eta0": 0.01, "penalty": "l2", "epochs": 20},
        artifacts={"data": data},
        outputs={"model": model, "Output": {"path": str(tmp_path / "train" / "Output"), "type": "Float"}},
    )
    assert train.returncode == 0, train.stderr
    epochs = [r for r in markers(train.stdout) if "step" in r]
    assert [r["step"] for r in epochs] == list(range(1, 21))
    assert float((tmp_path / "train" / "Output").read_text()) == epochs[-1]["accuracy"] > 0.9
    assert (Path(model["path"]) / "model.pkl").is_file()

    outputs = {
        "metrics": {"path": str(tmp_path / "evaluate" / "metrics"), "type": "Metrics"},
        "confusion_matrix": {"path": str(tmp_path / "evaluate" / "confusion_matrix"), "type": "ClassificationMetrics"},
        "Output": {"path": str(tmp_path / "evaluate" / "Output"), "type": "Float"},
    }
    evaluate = launch(STEPS, "evaluate", tmp_path, artifacts={"data": data, "model": model}, outputs=outputs)
    assert evaluate.returncode == 0, evaluate.stderr
    accuracy = float((tmp_path / "evaluate" / "Output").read_text())
    assert accuracy > 0.9
    assert json.loads((tmp_path / "evaluate" / "metrics").read_text())["accuracy"] == accuracy
    assert len(json.loads((tmp_path / "evaluate" / "confusion_matrix").read_text())["matrix"]) == 10
    assert f"accuracy={accuracy}" in evaluate.stdout.splitlines()
    assert any(line.startswith("f1=") for line in evaluate.stdout.splitlines())
    print(
        f"sklearn-classifier via the launcher: load {load.seconds:.2f}s, train {train.seconds:.2f}s, "
        f"evaluate {evaluate.seconds:.2f}s"
    )
