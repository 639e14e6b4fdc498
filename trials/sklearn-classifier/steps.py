"""Steps of the ``sklearn-classifier`` trial template: load -> train -> evaluate.

- ``load`` reads a dataset that ships with scikit-learn (no download), splits it into
  stratified train/validation/test sets, standardizes the features with the training
  statistics and writes one ``.npz`` file.
- ``train`` fits an ``SGDClassifier`` (logistic loss) with ``partial_fit``, one call per
  epoch, and reports the validation accuracy and log loss after every epoch so that a
  pruner can stop a poor trial early.
- ``evaluate`` scores the model on the test set and writes the metrics and the
  confusion matrix.

Heavy imports (numpy, scikit-learn) happen inside the functions: importing this file
costs nothing, and only ``train`` pays for importing scikit-learn (``load`` reads the
bundled data files with numpy, ``evaluate`` scores the exported linear weights with numpy).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

from workbench import ClassificationMetrics, Dataset, Input, Metrics, Model, Output, component, report

#: Datasets bundled with scikit-learn: name -> (data file, loader function in sklearn.datasets).
DATASETS = {
    "digits": ("digits.csv.gz", "load_digits"),
    "iris": ("iris.csv", "load_iris"),
    "wine": ("wine_data.csv", "load_wine"),
    "breast_cancer": ("breast_cancer.csv", "load_breast_cancer"),
}
PENALTIES = ("l2", "l1", "elasticnet")
SCHEDULES = ("constant", "optimal", "invscaling", "adaptive")
#: Files inside the model directory.
MODEL_PICKLE = "model.pkl"
MODEL_WEIGHTS = "weights.npz"
MODEL_INFO = "model.json"


# --------------------------------------------------------------------------- helpers


def _bundled_data(name: str) -> tuple[Any, Any, list[str]] | None:
    """``(X, y, target_names)`` read straight from scikit-learn's data files, without importing sklearn.

    Returns ``None`` if the files are not where scikit-learn keeps them (the caller then
    falls back to ``sklearn.datasets``).
    """
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / DATASETS[name][0]
    if not path.is_file():
        return None
    try:
        if name == "digits":
            table = np.loadtxt(path, delimiter=",")
            target_names = [str(i) for i in range(10)]
        else:
            # First line: n_samples, n_features, target names; then rows of features + target.
            with open(path, encoding="utf-8") as f:
                header = f.readline().strip().split(",")
                table = np.loadtxt(f, delimiter=",")
            target_names = header[2:]
            if table.shape[0] != int(header[0]) or table.shape[1] != int(header[1]) + 1:
                return None
    except (OSError, ValueError, IndexError):
        return None
    return table[:, :-1].astype(np.float64), table[:, -1].astype(np.int64), target_names


def load_arrays(name: str) -> tuple[Any, Any, list[str]]:
    """``(X, y, target_names)`` of a dataset bundled with scikit-learn."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
    found = _bundled_data(name)
    if found is not None:
        return found
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, DATASETS[name][1])()
    return bunch.data, bunch.target, [str(t) for t in bunch.target_names]


def stratified_split(y: Any, test_size: float, validation_size: float, seed: int) -> tuple[Any, Any, Any]:
    """Index arrays ``(train, validation, test)``; every class is split in the same proportions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts: list[list[Any]] = [[], [], []]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(len(members) * test_size))
        n_val = int(round((len(members) - n_test) * validation_size))
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val, test


def linear_predict(weights: Any, X: Any) -> Any:
    """What ``SGDClassifier.predict`` computes, from the exported ``coef``/``intercept``/``classes``."""
    import numpy as np

    scores = X @ weights["coef"].T + weights["intercept"]
    classes = weights["classes"]
    if scores.shape[1] == 1:  # binary: one score, positive means classes[1]
        return classes[(scores[:, 0] > 0).astype(int)]
    return classes[np.argmax(scores, axis=1)]


def classification_scores(y_true: Any, y_pred: Any, labels: Any) -> tuple[dict[str, float], Any]:
    """Accuracy and macro F1/precision/recall (0 where undefined), and the confusion matrix."""
    import numpy as np

    index = {label: i for i, label in enumerate(labels.tolist())}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        matrix[index[t], index[p]] += 1
    true_pos = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(actual > 0, true_pos / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    scores = {
        "accuracy": float(true_pos.sum() / max(matrix.sum(), 1)),
        "f1_macro": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
    }
    return scores, matrix


# --------------------------------------------------------------------------- steps


@component
def load(
    data: Output[Dataset],
    dataset: str = "digits",
    test_size: float = 0.25,
    validation_size: float = 0.2,
    seed: int = 0,
) -> None:
    """Load a dataset bundled with scikit-learn and write a standardized train/validation/test split.

    ``test_size`` is the test fraction of the whole dataset, ``validation_size`` the
    validation fraction of what remains. The ``.npz`` file holds float32 features ``X_train``, ``y_train``,
    ``X_val``, ``y_val``, ``X_test``, ``y_test``, ``target_names`` and ``feature_mean``/``feature_scale``.
    """
    import numpy as np

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    if not 0.0 < validation_size < 1.0:
        raise ValueError(f"validation_size must be between 0 and 1, got {validation_size}")
    X, y, target_names = load_arrays(dataset)
    train, val, test = stratified_split(y, test_size, validation_size, seed)
    if min(len(train), len(val), len(test)) == 0:
        raise ValueError(f"split sizes {len(train)}/{len(val)}/{len(test)}: adjust test_size and validation_size")
    mean = X[train].mean(axis=0)
    scale = X[train].std(axis=0)
    scale[scale == 0.0] = 1.0
    features = {
        split: ((X[idx] - mean) / scale).astype(np.float32)
        for split, idx in (("train", train), ("val", val), ("test", test))
    }
    arrays = {
        "X_train": features["train"],
        "y_train": y[train],
        "X_val": features["val"],
        "y_val": y[val],
        "X_test": features["test"],
        "y_test": y[test],
        "target_names": np.array(target_names, dtype=str),
        "feature_mean": mean,
        "feature_scale": scale,
    }
    Path(data.path).parent.mkdir(parents=True, exist_ok=True)
    with open(data.path, "wb") as f:  # a file object: np.savez would otherwise append ".npz" to the path
        np.savez(f, **arrays)
    print(
        f"dataset {dataset}: {X.shape[1]} features, {len(target_names)} classes, "
        f"train {len(train)} / validation {len(val)} / test {len(test)}",
        flush=True,
    )


@component
def train(
    data: Input[Dataset],
    model: Output[Model],
    alpha: float = 1e-4,
    eta0: float = 0.01,
    learning_rate: str = "constant",
    penalty: str = "l2",
    l1_ratio: float = 0.15,
    epochs: int = 20,
    seed: int = 0,
) -> float:
    """Train an SGDClassifier epoch by epoch, reporting validation accuracy and log loss; return the final accuracy.

    ``learning_rate`` is scikit-learn's schedule (``constant``, ``optimal``, ``invscaling``,
    ``adaptive``) and ``eta0`` its initial rate (ignored by ``optimal``). The model is a
    directory: ``model.pkl`` (the pickled estimator), ``weights.npz`` (``coef``,
    ``intercept``, ``classes``) and ``model.json`` (hyperparameters and summary).
    """
    import numpy as np

    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}: choose one of {list(PENALTIES)}")
    if learning_rate not in SCHEDULES:
        raise ValueError(f"unknown learning_rate {learning_rate!r}: choose one of {list(SCHEDULES)}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")

    from sklearn.linear_model import SGDClassifier

    with np.load(data.path) as npz:
        X_train, y_train = npz["X_train"], npz["y_train"]
        X_val, y_val = npz["X_val"], npz["y_val"]
    classes = np.unique(np.concatenate([y_train, y_val]))
    clf = SGDClassifier(
        loss="log_loss",
        alpha=alpha,
        penalty=penalty,
        l1_ratio=l1_ratio,
        learning_rate=learning_rate,
        eta0=eta0,
        random_state=seed,
    )
    column = np.searchsorted(classes, y_val)
    started = time.perf_counter()
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        clf.partial_fit(X_train, y_train, classes=classes)
        accuracy = float(np.mean(clf.predict(X_val) == y_val))
        proba = np.clip(clf.predict_proba(X_val), 1e-15, 1.0)
        loss = float(-np.mean(np.log(proba[np.arange(len(y_val)), column])))
        report(accuracy=accuracy, loss=loss, step=epoch)
        # No name=value pairs here: report() already sent these values with their step, and a second,
        # step-less copy of each would be counted as another intermediate value.
        print(f"epoch {epoch}/{epochs}: validation accuracy {accuracy:.6f}, log loss {loss:.6f}", flush=True)
    seconds = time.perf_counter() - started
    nonzero = int(np.count_nonzero(clf.coef_))

    out = Path(model.path)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / MODEL_PICKLE, "wb") as f:
        pickle.dump(clf, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(out / MODEL_WEIGHTS, "wb") as f:
        np.savez(f, coef=clf.coef_, intercept=clf.intercept_, classes=clf.classes_)
    info = {
        "estimator": "sklearn.linear_model.SGDClassifier",
        "params": {k: v for k, v in clf.get_params().items() if isinstance(v, (str, int, float, bool, type(None)))},
        "epochs": epochs,
        "nonzero_weights": nonzero,
        "validation_accuracy": accuracy,
        "train_seconds": seconds,
    }
    (out / MODEL_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")

    report(nonzero_weights=nonzero, train_seconds=seconds)
    print(f"model: {nonzero} non-zero weights, {epochs} epochs in {seconds:.3f} s", flush=True)
    return accuracy


@component
def evaluate(
    data: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    confusion_matrix: Output[ClassificationMetrics],
) -> float:
    """Score the model on the test set: write metrics and the confusion matrix; return the test accuracy.

    Scores the exported linear weights with numpy when present (no scikit-learn import);
    otherwise unpickles the estimator (``model.pkl`` in the model directory, or the model
    file itself) and calls its ``predict``.
    """
    import numpy as np

    with np.load(data.path) as npz:
        X_test, y_test = npz["X_test"], npz["y_test"]
        target_names = [str(t) for t in npz["target_names"]]
    location = Path(model.path)
    weights_file = location / MODEL_WEIGHTS
    if weights_file.is_file():
        with np.load(weights_file) as weights:
            y_pred = linear_predict(weights, X_test)
            labels = weights["classes"]
    else:
        pickled = location / MODEL_PICKLE if location.is_dir() else location
        with open(pickled, "rb") as f:
            estimator = pickle.load(f)  # only ever the model this pipeline's train step wrote
        y_pred = estimator.predict(X_test)
        labels = np.asarray(estimator.classes_)
    scores, matrix = classification_scores(y_test, y_pred, labels)

    names = [target_names[int(c)] if 0 <= int(c) < len(target_names) else str(c) for c in labels.tolist()]
    for artifact, text in (
        (metrics, json.dumps(scores, indent=2)),
        (confusion_matrix, json.dumps({"labels": names, "matrix": matrix.tolist()})),
    ):
        os.makedirs(os.path.dirname(os.path.abspath(artifact.path)), exist_ok=True)
        Path(artifact.path).write_text(text + "\n", encoding="utf-8")

    report(accuracy=scores["accuracy"], f1=scores["f1_macro"], precision=scores["precision"], recall=scores["recall"])
    print(f"accuracy={scores['accuracy']}", flush=True)  # Katib StdOut format: name=value
    print(f"f1={scores['f1_macro']}", flush=True)
    return scores["accuracy"]
