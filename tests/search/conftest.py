"""Optuna bridge tests: keep Optuna's per-trial logging quiet."""

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
