"""The kfold-cv template: one training step per fold (a fan-out), the mean fold accuracy as objective."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from trials_helpers import EXAMPLES, TRIALS, import_file, markers

from workbench.spec import list_templates, load_experiment, load_pipeline

STEPS = TRIALS / "kfold-cv" / "steps.py"
PIPELINE = TRIALS / "kfold-cv" / "pipeline.yaml"


@pytest.fixture(scope="module")
def steps():
    return import_file(STEPS)


def test_in_the_catalog_and_fans_out_over_the_folds():
    assert list_templates()["kfold-cv"] == PIPELINE.resolve()
    p = load_pipeline(PIPELINE)
    assert p.topological_order() == ["folds", "train", "average"]
    train = p.step("train")
    assert train.for_each is not None and train.for_each.items == "{{steps.folds.outputs.Output}}"
    assert train.arguments["fold"] == "{{item}}"
    assert p.step("average").arguments == {"scores": "{{steps.train.outputs.Output}}"}
    assert {x.name: x.default for x in p.parameters} == {"dataset": "breast_cancer", "k": 5, "C": 1.0, "seed": 0}


def test_folds_checks_its_settings(steps):
    assert steps.folds.func(k=3) == [0, 1, 2]
    with pytest.raises(ValueError, match="k must be between 2 and 20"):
        steps.folds.func(k=1)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        steps.folds.func(dataset="mnist")


def test_the_folds_partition_the_data_and_match_sklearn(steps):
    """The k fold steps together score every sample once: their mean equals cross_val_score's."""
    import numpy as np
    import sklearn.datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        scores = [steps.train.func(fold=i, k=4, dataset="wine", C=0.5, seed=1) for i in range(4)]
    X, y = sklearn.datasets.load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    expected = cross_val_score(model, X, y, cv=StratifiedKFold(4, shuffle=True, random_state=1))
    np.testing.assert_allclose(scores, expected)
    assert [m["fold_accuracy"] for m in markers(out.getvalue())] == scores
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        mean = steps.average.func(scores=scores)
    assert mean == pytest.approx(float(np.mean(expected)))
    reported = markers(printed.getvalue())[0]
    assert reported["accuracy"] == mean and reported["accuracy_std"] == pytest.approx(float(np.std(expected)))


def test_the_example_uses_the_template():
    spec = load_experiment(EXAMPLES / "kfold-cv.yaml")
    assert spec.trial_template.pipeline == load_pipeline(PIPELINE)
    assert spec.objective.objective_metric_name == "accuracy"


@pytest.mark.slow
def test_a_small_sweep(tmp_path: Path):
    """Three trials of 3 folds each: every fold is its own step; the objective is the fold mean."""
    import yaml
    from typer.testing import CliRunner

    import workbench
    from workbench.cli import app

    doc = yaml.safe_load((EXAMPLES / "kfold-cv.yaml").read_text())
    doc["metadata"]["name"] = "kfold-small"
    doc["spec"].update(maxTrialCount=3, parallelTrialCount=2)
    settings = [{"name": "random_state", "value": "1"}]
    doc["spec"]["algorithm"] = {"algorithmName": "random", "algorithmSettings": settings}
    doc["spec"]["trialTemplate"]["arguments"] = {"dataset": "iris", "k": 3}
    path = tmp_path / "kfold.yaml"
    path.write_text(yaml.safe_dump(doc))
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["run", str(path), "--home", str(home), "--quiet"])
    assert result.exit_code == 0, result.output
    trials = workbench.load("kfold-small", workspace=home).trials_dataframe()
    assert len(trials) == 3 and (trials["state"] == "Succeeded").all()
    assert trials["metrics.accuracy"].between(0.3, 1.0).all()
    logs = sorted(p.name for p in (home / "runs").rglob("train[[]*.log"))
    assert len(logs) == 9 and {"train[0].log", "train[1].log", "train[2].log"} == set(logs)
