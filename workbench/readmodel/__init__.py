"""The read model: everything ``ui/`` and the CLI's read commands show, as DataFrames and plain values. Read-only.

- :class:`ReadModel` (one per workspace and process): ``summaries()`` (plain dicts, what
  ``workbench ls`` prints), ``experiments()`` and ``experiment(name)`` -> :class:`ExperimentData`,
  from an incremental reader of the embedded Optuna journal (or Optuna's API for a database);
  per study record, :func:`summary_row`, :func:`best_trial_of`, :func:`pareto_front` (and
  :func:`pareto_ranks` of any rows),
  :func:`trial_columns` (the trial table as plain lists) and :func:`trials_frame` (as DataFrames).
- :class:`Stores`: read-only ML Metadata and MLflow handles; :func:`run_steps`,
  :func:`pipeline_graph`, :func:`mlflow_run`, :func:`metric_history`, :func:`lineage` (and
  :func:`lineage_graph`: which query found it),
  :func:`experiment_artifacts`, :func:`standalone_runs`, :func:`read_log`.
- Artifacts: :func:`resolve_artifact` (the one gate to files: inside the artifact store
  only), :func:`preview`, :func:`html_sandbox`, :func:`markdown_html`, :func:`table_diff`, :func:`text_diff`.
- :func:`filter_trials` (safe filter expressions), :func:`select_ranges` and :func:`ranges_expression` (the
  parallel-coordinates brush), :func:`sort_trials` (a metric ranks succeeded trials only),
  :func:`param_importance`.
- The experiment at a glance: :func:`best_of` (the best trial of one objective), :func:`what_matters` (the top
  parameters by importance with the range of the best trials, one sentence each).
- :func:`store_stamp`: changes when any store changes (the dashboard's cache key).
- :func:`step_logs` and :func:`failure_detail`: a run's step logs, and why it failed.
- Launch mode only: :func:`check_yaml`, :func:`launch`, :func:`stop`, :func:`starter_yaml`.

This package imports no Streamlit; ``ui/data.py`` wraps it in Streamlit caches. Its names load on
first use, each with its own module's imports: ``workbench ls`` reads the journal without pandas or Optuna.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> (module, name there). Loaded on first use: ``workbench ls`` reads the journal without
#: importing pandas, Optuna or ML Metadata, which only the pages and commands that use them pay for.
_LAZY: dict[str, tuple[str, str]] = {
    "ArtifactAccessError": ("workbench.readmodel._artifacts", "ArtifactAccessError"),
    "Preview": ("workbench.readmodel._artifacts", "Preview"),
    "classify_json": ("workbench.readmodel._artifacts", "classify_json"),
    "flatten": ("workbench.readmodel._artifacts", "flatten"),
    "html_sandbox": ("workbench.readmodel._artifacts", "html_sandbox"),
    "json_text": ("workbench.readmodel._artifacts", "json_text"),
    "list_files": ("workbench.readmodel._artifacts", "list_files"),
    "markdown_html": ("workbench.readmodel._artifacts", "markdown_html"),
    "preview": ("workbench.readmodel._artifacts", "preview"),
    "resolve_artifact": ("workbench.readmodel._artifacts", "resolve_artifact"),
    "table_diff": ("workbench.readmodel._artifacts", "table_diff"),
    "text_diff": ("workbench.readmodel._artifacts", "text_diff"),
    "experiment_record": ("workbench.readmodel._compare", "experiment_record"),
    "side_by_side": ("workbench.readmodel._compare", "side_by_side"),
    "trial_record": ("workbench.readmodel._compare", "trial_record"),
    "ExpressionError": ("workbench.readmodel._expr", "ExpressionError"),
    "filter_trials": ("workbench.readmodel._expr", "filter_trials"),
    "mask": ("workbench.readmodel._expr", "mask"),
    "ranges_expression": ("workbench.readmodel._expr", "ranges_expression"),
    "select_ranges": ("workbench.readmodel._expr", "select_ranges"),
    "IMPORTANCE_METHODS": ("workbench.readmodel._importance", "METHODS"),
    "param_importance": ("workbench.readmodel._importance", "param_importance"),
    "JournalReader": ("workbench.readmodel._journal", "JournalReader"),
    "StudyRecord": ("workbench.readmodel._journal", "StudyRecord"),
    "TrialRecord": ("workbench.readmodel._journal", "TrialRecord"),
    "records_from_storage": ("workbench.readmodel._journal", "records_from_storage"),
    "Check": ("workbench.readmodel._launch", "Check"),
    "check_yaml": ("workbench.readmodel._launch", "check_yaml"),
    "launch": ("workbench.readmodel._launch", "launch"),
    "starter_yaml": ("workbench.readmodel._launch", "starter_yaml"),
    "stop": ("workbench.readmodel._launch", "stop"),
    "failure_detail": ("workbench.readmodel._logs", "failure_detail"),
    "step_logs": ("workbench.readmodel._logs", "step_logs"),
    "EXPERIMENT_STATES": ("workbench.readmodel._model", "EXPERIMENT_STATES"),
    "ExperimentData": ("workbench.readmodel._model", "ExperimentData"),
    "ReadModel": ("workbench.readmodel._model", "ReadModel"),
    "TAIL_COLUMNS": ("workbench.readmodel._model", "TAIL_COLUMNS"),
    "TRIAL_STATES": ("workbench.readmodel._model", "TRIAL_STATES"),
    "best_trial_of": ("workbench.readmodel._model", "best_trial_of"),
    "objective_names": ("workbench.readmodel._model", "objective_names"),
    "pareto_front": ("workbench.readmodel._model", "pareto_front"),
    "pareto_mask": ("workbench.readmodel._model", "pareto_mask"),
    "pareto_ranks": ("workbench.readmodel._model", "pareto_ranks"),
    "sort_trials": ("workbench.readmodel._model", "sort_trials"),
    "store_stamp": ("workbench.readmodel._model", "store_stamp"),
    "summary_row": ("workbench.readmodel._model", "summary_row"),
    "trial_columns": ("workbench.readmodel._model", "trial_columns"),
    "trial_state_of": ("workbench.readmodel._model", "trial_state_of"),
    "trials_frame": ("workbench.readmodel._model", "trials_frame"),
    "MLFLOW_UI_ENV": ("workbench.readmodel._runs", "MLFLOW_UI_ENV"),
    "MlflowRun": ("workbench.readmodel._runs", "MlflowRun"),
    "Stores": ("workbench.readmodel._runs", "Stores"),
    "experiment_artifacts": ("workbench.readmodel._runs", "experiment_artifacts"),
    "graph_of_pipeline": ("workbench.readmodel._runs", "graph_of_pipeline"),
    "lineage": ("workbench.readmodel._runs", "lineage"),
    "lineage_graph": ("workbench.readmodel._runs", "lineage_graph"),
    "metric_history": ("workbench.readmodel._runs", "metric_history"),
    "mlflow_run": ("workbench.readmodel._runs", "mlflow_run"),
    "mlflow_ui_base": ("workbench.readmodel._runs", "mlflow_ui_base"),
    "pipeline_graph": ("workbench.readmodel._runs", "pipeline_graph"),
    "read_log": ("workbench.readmodel._runs", "read_log"),
    "run_steps": ("workbench.readmodel._runs", "run_steps"),
    "standalone_runs": ("workbench.readmodel._runs", "standalone_runs"),
    "BEST_SHARE": ("workbench.readmodel._summary", "BEST_SHARE"),
    "Finding": ("workbench.readmodel._summary", "Finding"),
    "best_of": ("workbench.readmodel._summary", "best_of"),
    "best_trials": ("workbench.readmodel._summary", "best_trials"),
    "what_matters": ("workbench.readmodel._summary", "what_matters"),
}


def __getattr__(name: str) -> Any:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'workbench.readmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = sorted(_LAZY)
