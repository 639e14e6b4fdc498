"""MLflow recorder: experiments, trial runs and nested step runs through ``MlflowClient``.

Layout::

    MLflow experiment  <experiment name>            tags workbench.namespace, workbench.state, ...
      run "trial-<n>"  (or the pipeline name)       tags workbench.experiment, workbench.run_id,
                                                         workbench.trial, workbench.state, workbench.pipeline
                                                    params = trial parameters
                                                    metrics = intermediate values (history, step=index)
                                                              + final values at run_finished
        run "<step>"  (nested: mlflow.parentRunId)  tags workbench.step, workbench.component,
                                                         workbench.state, workbench.attempt,
                                                         workbench.output.<name> (URI or value)
                                                    params = the step's input parameter values
                                                    metrics = the values this step reported

Only the low-level client is used (no fluent API, no global state). The recorder is
not meant to be called from several threads at once; wrap it in
:class:`~workbench.tracking.AsyncRecorder` (a lock makes direct concurrent use safe,
but slow).
"""

from __future__ import annotations

import json
import numbers
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from workbench.tracking._base import BaseRecorder, ExperimentInfo, RunInfo, StepInfo
from workbench.tracking._common import (
    is_secret,
    logger,
    mask,
    scrub,
    secret_values,
    sqlite_init_lock,
    to_text,
    truncate,
)

try:  # MLflow's own limits; the fallbacks are the oldest (strictest) values.
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH
except ImportError:  # pragma: no cover - depends on the MLflow version
    MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH = 500, 5000

MAX_KEY_LENGTH = 250
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100

#: Trial state -> MLflow run status at run_finished (the exact state is the ``workbench.state`` tag).
RUN_STATUS = {
    "Succeeded": "FINISHED",
    "Pruned": "FINISHED",
    "Failed": "FAILED",
    "MetricsUnavailable": "FAILED",
    "Killed": "KILLED",
}
#: Step state -> MLflow run status at step_finished.
STEP_STATUS = {
    "Succeeded": "FINISHED",
    "Cached": "FINISHED",
    "Skipped": "FINISHED",
    "Failed": "FAILED",
    "Cancelled": "KILLED",
}
_cancelled = RunTag("workbench.state", "Cancelled")
#: Output types copied into the step run's artifacts (local files up to the size limit).
LOGGED_ARTIFACT_TYPES = ("Metrics", "ClassificationMetrics", "HTML", "Markdown")
#: Output files of any type with these suffixes are copied too (the MLflow UI previews them).
PREVIEW_SUFFIXES = (
    ".csv", ".tsv", ".parquet", ".json", ".yaml", ".yml", ".txt", ".md", ".html", ".png", ".jpg", ".jpeg", ".gif",
    ".svg",
)  # fmt: skip
#: Rows kept in the preview of a table too big to copy whole.
PREVIEW_ROWS = 1000
#: Default size limit of a copied output (10 MB); tables above it get a preview of their first rows.
DEFAULT_ARTIFACT_MAX_BYTES = 10 * 1024 * 1024


def _key(name: str) -> str:
    """A valid MLflow param/metric/tag key: letters, digits, ``_ - . / :`` and spaces."""
    out = "".join(ch if (ch.isalnum() or ch in "_-./: ") else "_" for ch in str(name))
    return out[:MAX_KEY_LENGTH] or "_"


def _ms(seconds: float | None) -> int:
    return int((seconds if seconds is not None else time.time()) * 1000)


def _quote(value: str) -> str:
    """A string literal for an MLflow search filter."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _local_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        return None
    return Path(uri)


class MlflowRecorder(BaseRecorder):
    """Writes experiments, trial runs, step runs, params and metrics to MLflow.

    Args:
        tracking_uri: ``sqlite:////abs/mlflow.db``, ``http://mlflow:5000``, ...
        artifact_root: artifact location of experiments this recorder creates
            (e.g. ``file:///abs/mlruns``); ``None`` lets MLflow (or its server) decide.
        log_artifacts_max_bytes: local output files of the types in
            :data:`LOGGED_ARTIFACT_TYPES` or with a suffix in :data:`PREVIEW_SUFFIXES` up to
            this size are also copied into the step run's MLflow artifacts, and tables
            (CSV, TSV, Parquet) above it get a preview of their first :data:`PREVIEW_ROWS`
            rows (0 disables copies and previews).

    Example (not run: creating an MLflow database takes seconds)::

        rec = MlflowRecorder("sqlite:////tmp/wb/mlflow.db", artifact_root="file:///tmp/wb/mlruns")
        rec.run_started(RunInfo(run_id="r1", experiment="demo", pipeline="p", trial_number=0, params={"lr": 0.1}))
        rec.metric("r1", "train", "loss", 0.5, index=1, timestamp=time.time())
        rec.run_finished(RunInfo(run_id="r1", experiment="demo", pipeline="p", state="Succeeded"))
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | None = None,
        *,
        log_artifacts_max_bytes: int = DEFAULT_ARTIFACT_MAX_BYTES,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.log_artifacts_max_bytes = log_artifacts_max_bytes
        with sqlite_init_lock(tracking_uri):  # one process at a time creates or migrates the tables
            _prepare_sqlite(tracking_uri)
            self.client = MlflowClient(tracking_uri=tracking_uri)
            if tracking_uri.startswith("sqlite:"):
                self.client.search_experiments(max_results=1)  # opens the store: runs the migrations now
        self._lock = threading.RLock()
        #: experiment name -> MLflow experiment id
        self._experiments: dict[str, str] = {}
        #: experiment ids created by this recorder (no older runs to look up there)
        self._fresh: set[str] = set()
        #: workbench run_id -> MLflow run id of the trial (or standalone) run
        self._runs: dict[str, str] = {}
        #: (run_id, step, attempt) -> MLflow run id of the step run; (run_id, step) -> latest attempt
        self._steps: dict[tuple[str, str, int], str] = {}
        self._latest_step: dict[tuple[str, str], str] = {}
        #: run_id -> MLflow ids of step runs still open
        self._open_steps: dict[str, set[str]] = defaultdict(set)
        #: MLflow run id -> metrics, params and tags waiting for the next flush (or the run's end: one
        #: ``log_batch`` then carries what would otherwise take three)
        self._pending: dict[str, list[Metric]] = defaultdict(list)
        self._pending_params: dict[str, list[Param]] = defaultdict(list)
        self._pending_tags: dict[str, list[RunTag]] = defaultdict(list)
        #: (MLflow run id, key) -> highest step index logged
        self._max_index: dict[tuple[str, str], int] = {}
        self._unknown_runs: set[str] = set()
        #: MLflow run id -> its artifact URI (known for the runs this recorder created)
        self._artifact_uris: dict[str, str] = {}
        self._repos: dict[str, Any] = {}

    # ---------------------------------------------------------------- experiments

    def _experiment_id(self, name: str, namespace: str = "default", tags: dict[str, str] | None = None) -> str:
        name = name or "Default"
        exp_id = self._experiments.get(name)
        if exp_id is not None:
            return exp_id
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            all_tags = {"workbench.namespace": namespace, **(tags or {})}
            try:
                exp_id = self.client.create_experiment(name, artifact_location=self.artifact_root, tags=all_tags)
                self._fresh.add(exp_id)
            except Exception:
                # Another process created it in between.
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp_id)
        self._experiments[name] = exp_id
        return exp_id

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        tags = {
            "workbench.namespace": experiment.namespace,
            "workbench.state": experiment.state,
            "workbench.algorithm": experiment.algorithm,
            "workbench.objective": ",".join(experiment.objective_metrics),
            "workbench.directions": ",".join(experiment.directions),
        }
        tags = {k: truncate(v, MAX_TAG_VAL_LENGTH) for k, v in tags.items() if v}
        with self._lock:
            fresh_before = set(self._fresh)
            exp_id = self._experiment_id(experiment.name, experiment.namespace, tags)
            if exp_id not in fresh_before and exp_id in self._fresh:
                return  # just created with these tags
            for k, v in tags.items():
                self.client.set_experiment_tag(exp_id, k, v)

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        with self._lock:
            self.flush()
            exp_id = self._experiment_id(experiment.name, experiment.namespace)
            self.client.set_experiment_tag(exp_id, "workbench.state", experiment.state)

    # ----------------------------------------------------------------------- runs

    def _find_run(self, exp_id: str, run_id: str) -> str | None:
        """The MLflow id of the trial/standalone run tagged ``workbench.run_id = run_id``."""
        found = self.client.search_runs(
            [exp_id],
            filter_string=f"tags.`workbench.run_id` = {_quote(run_id)}",
            max_results=1000,
        )
        for r in found:
            if "workbench.step" not in r.data.tags:
                return r.info.run_id
        return None

    def _run_tags(self, run: RunInfo) -> dict[str, str]:
        tags = {
            "workbench.experiment": run.experiment,
            "workbench.run_id": run.run_id,
            "workbench.state": run.state,
            "workbench.pipeline": run.pipeline,
            "workbench.namespace": run.namespace,
        }
        if run.trial_number is not None:
            tags["workbench.trial"] = str(run.trial_number)
        return {k: truncate(v, MAX_TAG_VAL_LENGTH) for k, v in tags.items() if v}

    def _create_run(self, run: RunInfo, exp_id: str) -> str:
        name = f"trial-{run.trial_number}" if run.trial_number is not None else (run.pipeline or run.run_id)
        created = self.client.create_run(exp_id, start_time=_ms(run.started), tags=self._run_tags(run), run_name=name)
        self._artifact_uris[created.info.run_id] = created.info.artifact_uri
        return created.info.run_id

    def _resolve_run(self, run: RunInfo, create: bool) -> str | None:
        """MLflow id for a workbench run: from memory, else by tag, else (``create``) a new run."""
        mlflow_id = self._runs.get(run.run_id)
        if mlflow_id is not None:
            return mlflow_id
        exp_id = self._experiment_id(run.experiment, run.namespace)
        if exp_id not in self._fresh:
            mlflow_id = self._find_run(exp_id, run.run_id)
        if mlflow_id is None and create:
            mlflow_id = self._create_run(run, exp_id)
        if mlflow_id is not None:
            self._runs[run.run_id] = mlflow_id
        return mlflow_id

    def run_started(self, run: RunInfo) -> None:
        with self._lock:
            mlflow_id = self._runs.get(run.run_id)
            resumed = False
            if mlflow_id is None:
                exp_id = self._experiment_id(run.experiment, run.namespace)
                if exp_id not in self._fresh:
                    mlflow_id = self._find_run(exp_id, run.run_id)
                    resumed = mlflow_id is not None
                if mlflow_id is None:
                    mlflow_id = self._create_run(run, exp_id)
                self._runs[run.run_id] = mlflow_id
            else:
                resumed = True
            params = self._params(run.params, run.secrets)
            tags: list[RunTag] = []
            if resumed:
                # Same run again (a resumed controller): reopen it; MLflow params are immutable,
                # so only the ones it does not have yet are logged.
                self.client.update_run(mlflow_id, status="RUNNING")
                existing = self.client.get_run(mlflow_id).data.params
                params = [p for p in params if p.key not in existing]
                tags = [RunTag(k, v) for k, v in self._run_tags(run).items()]
                if run.run_id not in self._open_steps:
                    # Step runs the previous controller left open end with this run.
                    self._open_steps[run.run_id] |= self._find_open_steps(run)
            self._pending_params[mlflow_id] += params
            self._pending_tags[mlflow_id] += tags
            if not resumed:
                for name, document in run.documents.items():
                    if not isinstance(document, str):
                        document = mask(document, secrets=run.secrets)
                    self._log_document(mlflow_id, f"workbench/{name}", document)

    def run_finished(self, run: RunInfo) -> None:
        with self._lock:
            known = run.run_id in self._runs
            mlflow_id = self._resolve_run(run, create=True)
            assert mlflow_id is not None
            pending, params, pending_tags = self._take(mlflow_id)
            # Step runs left open (the run was killed, or the controller crashed) end as KILLED.
            open_steps = self._open_steps.pop(run.run_id, set())
            if not known:
                open_steps |= self._find_open_steps(run)
            for step_run in open_steps:
                metrics, step_params, step_tags = self._take(step_run)
                self._log_batch(step_run, metrics=metrics, params=step_params, tags=[*step_tags, _cancelled])
                self.client.set_terminated(step_run, status="KILLED", end_time=_ms(run.finished))
            metrics = [
                Metric(_key(k), float(v), _ms(run.finished), self._max_index.get((mlflow_id, _key(k)), 0))
                for k, v in run.metrics.items()
                if _is_number(v)
            ]
            tags = [RunTag("workbench.state", run.state)]
            if run.message:
                tags.append(RunTag("workbench.message", truncate(run.message, MAX_TAG_VAL_LENGTH)))
            self._log_batch(mlflow_id, metrics=pending + metrics, params=params, tags=pending_tags + tags)
            status = RUN_STATUS.get(run.state, "KILLED")
            self.client.set_terminated(mlflow_id, status=status, end_time=_ms(run.finished))
            self._forget(run.run_id)

    def _find_open_steps(self, run: RunInfo) -> set[str]:
        exp_id = self._experiment_id(run.experiment, run.namespace)
        found = self.client.search_runs(
            [exp_id],
            filter_string=f"tags.`workbench.run_id` = {_quote(run.run_id)} and attributes.status = 'RUNNING'",
            max_results=1000,
        )
        return {r.info.run_id for r in found if "workbench.step" in r.data.tags}

    def _forget(self, run_id: str) -> None:
        # The run id map is kept (late events for a finished run must not create a new run);
        # per-step state is dropped.
        mlflow_id = self._runs.get(run_id)
        for key in [k for k in self._steps if k[0] == run_id]:
            sid = self._steps.pop(key)
            self._latest_step.pop((key[0], key[1]), None)
            self._artifact_uris.pop(sid, None)
            for mk in [mk for mk in self._max_index if mk[0] == sid]:
                del self._max_index[mk]
        if mlflow_id is not None:
            self._artifact_uris.pop(mlflow_id, None)
            for mk in [mk for mk in self._max_index if mk[0] == mlflow_id]:
                del self._max_index[mk]

    # ---------------------------------------------------------------------- steps

    def _parent_of(self, step: StepInfo) -> str:
        run = RunInfo(run_id=step.run_id, experiment=step.experiment, pipeline="", trial_number=step.trial_number)
        mlflow_id = self._resolve_run(run, create=True)
        assert mlflow_id is not None
        return mlflow_id

    def _create_step_run(self, step: StepInfo) -> str:
        parent = self._parent_of(step)
        exp_id = self._experiment_id(step.experiment)
        tags = {
            "mlflow.parentRunId": parent,
            "workbench.experiment": step.experiment,
            "workbench.run_id": step.run_id,
            "workbench.step": step.step,
            "workbench.component": step.component,
            "workbench.component_digest": step.component_digest,
            "workbench.state": step.state,
            "workbench.attempt": str(step.attempt),
            "workbench.log_path": step.log_path,
        }
        if step.trial_number is not None:
            tags["workbench.trial"] = str(step.trial_number)
        tags = {k: truncate(v, MAX_TAG_VAL_LENGTH) for k, v in tags.items() if v}
        created = self.client.create_run(exp_id, start_time=_ms(step.started), tags=tags, run_name=step.step)
        step_run = created.info.run_id
        self._artifact_uris[step_run] = created.info.artifact_uri
        self._steps[(step.run_id, step.step, step.attempt)] = step_run
        self._latest_step[(step.run_id, step.step)] = step_run
        self._pending_params[step_run] += self._params(step.inputs, step.secrets)
        return step_run

    def step_started(self, step: StepInfo) -> None:
        with self._lock:
            step_run = self._steps.get((step.run_id, step.step, step.attempt))
            if step_run is None:
                step_run = self._create_step_run(step)
            self._open_steps[step.run_id].add(step_run)

    def step_finished(self, step: StepInfo) -> None:
        with self._lock:
            step_run = self._steps.get((step.run_id, step.step, step.attempt))
            if step_run is None:  # Cached and Skipped steps never start
                step_run = self._create_step_run(step)
            tags = [RunTag("workbench.state", step.state)]
            if step.exit_code is not None:
                tags.append(RunTag("workbench.exit_code", str(step.exit_code)))
            if step.message:
                tags.append(RunTag("workbench.message", truncate(step.message, MAX_TAG_VAL_LENGTH)))
            if step.state == "Cached":
                tags.append(RunTag("workbench.cached", "true"))
                tags.append(RunTag("workbench.cached_from", step.cached_from))
            if step.cache_key:
                tags.append(RunTag("workbench.cache_key", step.cache_key))
            for out in step.outputs:
                value = out.uri if out.value is None else to_text(mask(out.value, out.name, step.secrets))
                tags.append(RunTag(_key(f"workbench.output.{out.name}"), truncate(value, MAX_TAG_VAL_LENGTH)))
            metrics, params, pending_tags = self._take(step_run)
            self._log_batch(step_run, metrics=metrics, params=params, tags=pending_tags + tags)
            if step.state != "Skipped":
                self._log_document(step_run, "workbench/step.json", step_manifest(step))
            self._log_small_artifacts(step_run, step)
            self.client.set_terminated(
                step_run, status=STEP_STATUS.get(step.state, "FINISHED"), end_time=_ms(step.finished)
            )
            self._open_steps[step.run_id].discard(step_run)

    def _log_document(self, run_id: str, artifact_file: str, document: Any) -> None:
        """A mapping (written as JSON or YAML by its suffix) or text already rendered, as a run artifact."""
        try:
            if not isinstance(document, str):
                if artifact_file.endswith(".json"):
                    document = json.dumps(document, indent=2, sort_keys=True, default=str)
                else:
                    import yaml

                    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
                    document = yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True)
            with tempfile.TemporaryDirectory(prefix="workbench-") as tmp:
                path = Path(tmp) / Path(artifact_file).name
                path.write_text(document, encoding="utf-8")
                self._log_file(run_id, path, str(Path(artifact_file).parent).strip("."))
        except Exception as exc:  # a document copy never fails the run record
            logger.warning("could not log %s to MLflow run %s: %s", artifact_file, run_id, exc)

    def _log_file(self, run_id: str, path: Path, artifact_path: str | None) -> None:
        """Copy a file into a run's artifacts: straight to the run's local artifact folder when this recorder
        created the run (its ``file:`` URI is known: no lookup of the run per file), else through the client."""
        uri = self._artifact_uris.get(run_id)
        if uri is None or not uri.startswith("file:"):  # a server's artifacts are resolved through the client
            self.client.log_artifact(run_id, str(path), artifact_path=artifact_path or None)
            return
        repo = self._repos.get(uri)
        if repo is None:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            repo = self._repos[uri] = get_artifact_repository(uri)
        repo.log_artifact(str(path), artifact_path or None)

    def _log_small_artifacts(self, step_run: str, step: StepInfo) -> None:
        if self.log_artifacts_max_bytes <= 0 or step.state not in ("Succeeded", "Failed"):
            return
        for out in step.outputs:
            if out.value is not None or is_secret(out.name, step.secrets):
                continue
            path = _local_path(out.path or out.uri)
            try:
                if path is None or not path.is_file():
                    continue
                suffix = path.suffix.lower()
                if out.type not in LOGGED_ARTIFACT_TYPES and suffix not in PREVIEW_SUFFIXES:
                    continue
                if path.stat().st_size <= self.log_artifacts_max_bytes:
                    self._log_file(step_run, path, _key(out.name))
                elif suffix in (".csv", ".tsv", ".parquet"):
                    name = "preview.tsv" if suffix == ".tsv" else "preview.csv"
                    self._log_document(step_run, f"{_key(out.name)}/{name}", table_preview(path))
            except Exception as exc:  # an artifact copy never fails the run record
                logger.warning("could not copy artifact %s of step %s to MLflow: %s", out.uri, step.step, exc)

    # -------------------------------------------------------------------- metrics

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        with self._lock:
            trial_run = self._runs.get(run_id)
            if trial_run is None:
                if run_id not in self._unknown_runs:
                    self._unknown_runs.add(run_id)
                    logger.warning("metric %r for unknown run %s dropped (run_started was not recorded)", name, run_id)
                return
            key, ts, idx = _key(name), _ms(timestamp), int(index)
            if not _is_number(value):
                return
            targets = [trial_run]
            step_run = self._latest_step.get((run_id, step))
            if step_run is None and not step:
                # No step name given: the run's only running step, if there is exactly one.
                open_steps = self._open_steps.get(run_id, ())
                if len(open_steps) == 1:
                    step_run = next(iter(open_steps))
            if step_run is not None:
                targets.append(step_run)
            for target in targets:
                self._pending[target].append(Metric(key, float(value), ts, idx))
                mk = (target, key)
                if mk not in self._max_index or idx > self._max_index[mk]:
                    self._max_index[mk] = idx

    def _take(self, target: str) -> tuple[list[Metric], list[Param], list[RunTag]]:
        """The metrics, params and tags of an MLflow run waiting for a flush (removed from the queue)."""
        return (
            self._pending.pop(target, []),
            self._pending_params.pop(target, []),
            self._pending_tags.pop(target, []),
        )

    def _flush_pending(self) -> None:
        for target in {*self._pending, *self._pending_params, *self._pending_tags}:
            metrics, params, tags = self._take(target)
            self._log_batch(target, metrics=metrics, params=params, tags=tags)

    def flush(self) -> None:
        with self._lock:
            self._flush_pending()

    def close(self) -> None:
        self.flush()

    # -------------------------------------------------------------------- helpers

    def _params(self, values: dict[str, Any], secrets: list[str] | None = None) -> list[Param]:
        out: dict[str, Param] = {}
        for name, value in values.items():
            key = _key(name)
            out[key] = Param(key, truncate(to_text(mask(value, str(name), secrets or ())), MAX_PARAM_VAL_LENGTH))
        return list(out.values())

    def _log_batch(
        self,
        run_id: str,
        metrics: list[Metric] | None = None,
        params: list[Param] | None = None,
        tags: list[RunTag] | None = None,
    ) -> None:
        """``log_batch`` in as few calls as MLflow's per-request limits allow."""
        metrics, params, tags = list(metrics or []), list(params or []), list(tags or [])
        while metrics or params or tags:
            n_params = min(len(params), MAX_PARAMS_TAGS_PER_BATCH)
            n_tags = min(len(tags), MAX_PARAMS_TAGS_PER_BATCH - n_params)
            n_metrics = min(len(metrics), MAX_METRICS_PER_BATCH - n_params - n_tags)
            self.client.log_batch(
                run_id,
                metrics=metrics[:n_metrics],
                params=params[:n_params],
                tags=tags[:n_tags],
                synchronous=True,
            )
            metrics, params, tags = metrics[n_metrics:], params[n_params:], tags[n_tags:]


def step_manifest(step: StepInfo) -> dict[str, Any]:
    """What a step ran and produced, as logged to its MLflow run (``workbench/step.json``), secrets masked.

    The resolved command line (secret input values cut out), the environment the step spec
    sets (secret-looking names masked), the component and its digest, the inputs, and every
    output with its full URI, type, digest and size.

    Example:
        >>> m = step_manifest(StepInfo(run_id="r", experiment="e", step="s", component="c",
        ...     inputs={"user": "ada", "password": "hunter2"}, command=["login", "--password=hunter2"]))
        >>> m["command"], m["inputs"]["password"]
        (['login', '--password=***'], '***')
    """
    hidden = secret_values(step.inputs, step.secrets)
    return {
        "step": step.step,
        "attempt": step.attempt,
        "state": step.state,
        "component": step.component,
        "component_digest": step.component_digest,
        "image": step.image,
        "command": [scrub(str(arg), hidden) for arg in step.command],
        "env": mask(dict(step.env), secrets=step.secrets),
        "inputs": mask(dict(step.inputs), secrets=step.secrets),
        "input_artifacts": {name: {"uri": uri, "type": kind} for name, (uri, kind) in step.input_artifacts.items()},
        "outputs": [
            {
                "name": out.name,
                "uri": out.uri,
                "type": out.type,
                "digest": out.digest,
                "size": out.size,
                **({"value": mask(out.value, out.name, step.secrets)} if out.value is not None else {}),
            }
            for out in step.outputs
        ],
        "cache_key": step.cache_key,
        "cached_from": step.cached_from,
        "exit_code": step.exit_code,
    }


def table_preview(path: Path, rows: int = PREVIEW_ROWS) -> str:
    """The header and first ``rows`` rows of a table too big to copy: CSV/TSV as they are, Parquet as CSV."""
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
        first = next(batches, None)
        frame = pa.Table.from_batches([first]).to_pandas() if first is not None else None
        return frame.to_csv(index=False) if frame is not None else ""
    lines = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for i, line in enumerate(fh):
            if i > rows:  # the header and ``rows`` rows
                break
            lines.append(line)
    return "".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _prepare_sqlite(uri: str) -> None:
    """Create the folder of an SQLite tracking DB and switch it to WAL (readers never block the writer)."""
    if not uri.startswith("sqlite:///"):
        return
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    db = Path(path)
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        import sqlite3

        con = sqlite3.connect(str(db))
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except Exception as exc:  # WAL is an optimisation only
        logger.debug("could not enable WAL on %s: %s", db, exc)


__all__ = ["MlflowRecorder", "RUN_STATUS", "STEP_STATUS", "step_manifest", "table_preview"]
