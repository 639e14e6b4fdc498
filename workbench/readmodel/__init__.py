"""The dashboard's read model: everything ``ui/`` shows, as DataFrames and plain values. Read-only.

- :class:`ReadModel` (one per workspace and process): ``experiments()`` and
  ``experiment(name)`` -> :class:`ExperimentData`, from an incremental reader of the
  embedded Optuna journal (or Optuna's API for a database).
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
- Launch mode only: :func:`check_yaml`, :func:`launch`, :func:`stop`, :func:`starter_yaml`.

This package imports no Streamlit; ``ui/data.py`` wraps it in Streamlit caches.
"""

from workbench.readmodel._artifacts import (
    ArtifactAccessError,
    Preview,
    classify_json,
    flatten,
    html_sandbox,
    json_text,
    list_files,
    markdown_html,
    preview,
    resolve_artifact,
    table_diff,
    text_diff,
)
from workbench.readmodel._compare import experiment_record, side_by_side, trial_record
from workbench.readmodel._expr import ExpressionError, filter_trials, mask, ranges_expression, select_ranges
from workbench.readmodel._importance import METHODS as IMPORTANCE_METHODS
from workbench.readmodel._importance import param_importance
from workbench.readmodel._journal import JournalReader, StudyRecord, TrialRecord, records_from_storage
from workbench.readmodel._launch import Check, check_yaml, launch, starter_yaml, stop
from workbench.readmodel._model import (
    EXPERIMENT_STATES,
    TRIAL_STATES,
    ExperimentData,
    ReadModel,
    pareto_mask,
    sort_trials,
    store_stamp,
    trial_state_of,
)
from workbench.readmodel._runs import (
    MLFLOW_UI_ENV,
    MlflowRun,
    Stores,
    experiment_artifacts,
    graph_of_pipeline,
    lineage,
    lineage_graph,
    metric_history,
    mlflow_run,
    mlflow_ui_base,
    pipeline_graph,
    read_log,
    run_steps,
    standalone_runs,
)
from workbench.readmodel._summary import BEST_SHARE, Finding, best_of, best_trials, what_matters

__all__ = [
    "MLFLOW_UI_ENV",
    "EXPERIMENT_STATES",
    "IMPORTANCE_METHODS",
    "TRIAL_STATES",
    "ArtifactAccessError",
    "BEST_SHARE",
    "Finding",
    "Check",
    "ExperimentData",
    "ExpressionError",
    "JournalReader",
    "MlflowRun",
    "Preview",
    "ReadModel",
    "Stores",
    "StudyRecord",
    "TrialRecord",
    "best_of",
    "best_trials",
    "check_yaml",
    "classify_json",
    "experiment_artifacts",
    "experiment_record",
    "filter_trials",
    "flatten",
    "graph_of_pipeline",
    "html_sandbox",
    "json_text",
    "launch",
    "lineage",
    "lineage_graph",
    "list_files",
    "markdown_html",
    "mask",
    "metric_history",
    "mlflow_run",
    "mlflow_ui_base",
    "param_importance",
    "pareto_mask",
    "pipeline_graph",
    "preview",
    "ranges_expression",
    "read_log",
    "records_from_storage",
    "resolve_artifact",
    "run_steps",
    "select_ranges",
    "side_by_side",
    "sort_trials",
    "standalone_runs",
    "starter_yaml",
    "stop",
    "store_stamp",
    "table_diff",
    "text_diff",
    "trial_record",
    "trial_state_of",
    "what_matters",
]
