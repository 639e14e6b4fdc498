"""Steps of the ``kfold-cv`` trial template: folds -> train (one step per fold) -> average.

- ``folds`` checks the settings and returns the fold indices ``[0, 1, ..., k-1]``: the list the
  ``train`` step fans out over (``forEach``), one step ``train[i]`` per fold.
- ``train`` fits a logistic regression on the other ``k-1`` folds of a dataset that ships with
  scikit-learn (stratified, shuffled with ``seed``: every fold step computes the same split) and
  returns its accuracy on its own fold (reported as ``fold_accuracy``).
- ``average`` receives the fold accuracies as a list (the fan-in) and reports the objective
  ``accuracy`` (their mean) and ``accuracy_std``.

Heavy imports (numpy, scikit-learn) happen inside the functions: importing this file costs nothing.
"""

from __future__ import annotations

import math

from workbench import component, report

DATASETS = ("iris", "wine", "breast_cancer", "digits")


@component
def folds(k: int = 5, dataset: str = "breast_cancer") -> list:
    """The fold indices to fan out over (``k`` between 2 and 20)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {list(DATASETS)}")
    if not 2 <= k <= 20:
        raise ValueError(f"k must be between 2 and 20, got {k}")
    return list(range(k))


@component
def train(fold: int, k: int = 5, dataset: str = "breast_cancer", C: float = 1.0, seed: int = 0) -> float:  # noqa: N803
    """Fit on every fold but ``fold``, return the accuracy on ``fold``."""
    import numpy as np
    import sklearn.datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 <= fold < k:
        raise ValueError(f"fold {fold} is not one of the {k} folds")
    X, y = getattr(sklearn.datasets, f"load_{dataset}")(return_X_y=True)
    splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y))
    train_idx, test_idx = splits[fold]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    model.fit(X[train_idx], y[train_idx])
    accuracy = float(np.mean(model.predict(X[test_idx]) == y[test_idx]))
    report(fold_accuracy=accuracy)
    print(f"fold {fold}/{k}: train {len(train_idx)}, test {len(test_idx)}, accuracy {accuracy:.4f}", flush=True)
    return accuracy


@component
def average(scores: list) -> float:
    """Mean of the fold accuracies: the trial's objective (``accuracy``), with ``accuracy_std``."""
    if not scores:
        raise ValueError("no fold produced a score")
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    report(accuracy=mean, accuracy_std=std)
    print(f"{len(scores)} folds: accuracy {mean:.4f} ± {std:.4f}", flush=True)
    return mean
