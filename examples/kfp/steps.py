"""Python components of the KFP example pipeline (pipeline.yaml): generate -> [preprocess] -> train -> model-card.

``preprocess`` is a Kubeflow Pipelines v1 container component (components/preprocess.yaml);
these three are Python functions. Artifacts flow both ways between the two kinds: a
Python step's ``Output[Dataset]`` is the container's ``{inputPath: raw_data}``, and the
container's ``{outputPath: train_data}`` is a Python step's ``Input[Dataset]``.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

from workbench import Dataset, Input, Markdown, Model, Output, component, report


@component
def generate(data: Output[Dataset], n_samples: int = 600, noise: float = 0.2, seed: int = 0) -> None:
    """Write a two-moons classification CSV (x1, x2, x3, label); x3 is a large-scale, useless feature.

    x3 changes the distances an RBF kernel sees in a way that depends on how the preprocess
    step scales and clips it, so its ``scaling`` parameter matters.
    """
    if n_samples < 10:
        raise ValueError(f"n_samples must be at least 10, got {n_samples}")
    rng = random.Random(seed)
    Path(data.path).parent.mkdir(parents=True, exist_ok=True)
    with open(data.path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "x3", "label"])
        for i in range(n_samples):
            label = i % 2
            t = rng.uniform(0.0, math.pi)
            x1, x2 = (math.cos(t), math.sin(t)) if label == 0 else (1.0 - math.cos(t), 0.5 - math.sin(t))
            x1 += rng.gauss(0.0, noise)
            x2 += rng.gauss(0.0, noise)
            x3 = rng.gauss(0.0, 25.0)
            writer.writerow([f"{x1:.6f}", f"{x2:.6f}", f"{x3:.6f}", label])
    print(f"generate: {n_samples} rows, noise {noise}", flush=True)


def _read_csv(path: str) -> tuple[list[list[float]], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in row[:-1]] for row in rows], [row[-1] for row in rows]


@component
def train(
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    model: Output[Model],
    c: float = 1.0,
    gamma: float = 0.5,
) -> float:
    """Fit an RBF support vector classifier; report and return its test accuracy."""
    import pickle

    from sklearn.svm import SVC

    X_train, y_train = _read_csv(train_data.path)
    X_test, y_test = _read_csv(test_data.path)
    clf = SVC(C=c, gamma=gamma).fit(X_train, y_train)
    accuracy = float(clf.score(X_test, y_test))
    Path(model.path).parent.mkdir(parents=True, exist_ok=True)
    with open(model.path, "wb") as f:
        pickle.dump(clf, f)
    report(accuracy=accuracy, support_vectors=int(clf.n_support_.sum()))
    print(f"accuracy={accuracy:.6f}", flush=True)
    return accuracy


@component
def model_card(card: Output[Markdown], accuracy: float, c: float, gamma: float, scaling: str) -> None:
    """Write a short Markdown model card (the pipeline runs this step only for good models)."""
    Path(card.path).parent.mkdir(parents=True, exist_ok=True)
    Path(card.path).write_text(
        "# Two-moons SVC\n\n"
        f"Test accuracy: **{accuracy:.3f}**\n\n"
        "| setting | value |\n|---|---|\n"
        f"| C | {c:g} |\n| gamma | {gamma:g} |\n| feature scaling | {scaling} |\n",
        encoding="utf-8",
    )
    print(f"model card written for accuracy {accuracy:.3f}", flush=True)
