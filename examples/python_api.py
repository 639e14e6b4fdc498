"""The Python API: define and run experiments from Python, then read the results back.

    python examples/python_api.py

Three things are shown:

1. ``Experiment(...).run()`` — the same experiment a YAML file describes (here the
   sklearn-classifier trial template with TPE and median stopping), built in Python;
2. ``tune(function, parameters=...)`` — the shortcut for a plain Python function: each
   trial calls it in its own process with one point of the search space; the function
   reports intermediate values with ``workbench.report`` and returns the objective;
3. ``load(name)`` — the results of any experiment (also one started from the CLI or
   another machine sharing the workspace): the best trial and every trial as a DataFrame.

Keep the ``if __name__ == "__main__":`` guard: trial processes import this file to find
``train_toy_model`` and must not start the experiments again.
"""

from __future__ import annotations

import math

import workbench
from workbench import Experiment, Parameter, load, tune


def train_toy_model(lr: float, layers: int, optimizer: str, batch_size: int) -> float:
    """A stand-in for a training loop: reports the loss every epoch and returns the final loss.

    Tuned with ``tune`` below. Heavy imports (torch, sklearn, ...) belong inside the
    function, so that importing this file stays fast.
    """
    best_lr = {"sgd": 0.05, "adam": 0.003}[optimizer]
    floor = 0.05 + 0.3 * math.log10(lr / best_lr) ** 2 + 0.02 * (layers - 3) ** 2 + 0.0005 * batch_size
    loss = float("inf")
    for epoch in range(1, 11):
        loss = floor + math.exp(-0.4 * epoch)
        workbench.report(loss=loss, step=epoch)  # intermediate values: the pruner may stop this trial here
    return loss


def sweep_template() -> None:
    """An experiment over a trial template from the catalog (trials/sklearn-classifier)."""
    experiment = Experiment(
        name="python-api-sklearn",
        objective="accuracy",
        direction="maximize",
        parameters=[
            Parameter.double("alpha", 1e-6, 1e-1, log=True),
            Parameter.double("eta0", 1e-4, 1.0, log=True),
            Parameter.categorical("penalty", ["l2", "l1", "elasticnet"]),
        ],
        template="sklearn-classifier",
        arguments={"dataset": "digits", "epochs": 20},  # fixed pipeline parameters
        metric_strategies={"accuracy": "latest"},  # the test accuracy, not the best validation epoch
        algorithm="tpe",
        early_stopping="medianstop",
        max_trials=10,
        parallel=2,
    )
    experiment.run()  # blocks until the budget is spent; Ctrl-C stops it, running it again resumes it

    results = load("python-api-sklearn")
    best = results.best_trial
    print(f"best trial #{best.number}: accuracy {best.values} with {best.params}")
    frame = results.trials_dataframe()  # one row per trial: number, state, params, metrics, durations
    print(frame.sort_values("number").to_string(max_rows=20))


def tune_function() -> None:
    """The shortcut: tune a Python function directly."""
    tune(
        train_toy_model,
        parameters=[
            Parameter.double("lr", 1e-4, 1e-1, log=True),
            Parameter.int("layers", 1, 4),
            Parameter.categorical("optimizer", ["sgd", "adam"]),
            Parameter.discrete("batch_size", [16, 32, 64]),
        ],
        objective="loss",
        direction="minimize",
        max_trials=20,
        name="tune-demo",
    )
    results = load("tune-demo")
    print("best parameters:", results.best_trial.params, "loss:", results.best_trial.values)
    print(results.trials_dataframe().head())


if __name__ == "__main__":
    sweep_template()
    tune_function()
