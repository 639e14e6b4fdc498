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
import os
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from workbench.tracking._async import is_transient
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
#: Seconds buffered data of a running run may wait before :meth:`MlflowRecorder.tick` writes it.
LIVE_INTERVAL = 2.0


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


@dataclass(eq=False)
class _Run:
    """An MLflow run as this recorder writes it: created on first write, data buffered until then.

    ``tags`` go into ``create_run``; once the run exists, changed tags wait in ``new_tags``.
    """

    exp_id: str
    name: str
    start_ms: int
    tags: dict[str, str]
    run_id: str  # the Workbench run id
    step_key: tuple[str, str, int] | None = None  # None: a trial (or standalone) run
    #: Look for an existing MLflow run with this ``workbench.run_id`` before creating one.
    lookup: bool = False
    #: Made up from a step's event: ``run_started`` has not filled it in yet.
    placeholder: bool = False
    mlflow_id: str | None = None
    artifact_uri: str | None = None
    params: list[Param] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    new_tags: dict[str, str] = field(default_factory=dict)
    #: Artifacts to write once the run exists: (artifact file, rendered text) and (local file, artifact folder).
    documents: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    #: (MLflow status, end time in ms) once the run ended; ``terminated`` once written.
    end: tuple[str, int] | None = None
    terminated: bool = False
    #: Reopen a stored run (``update_run`` RUNNING) and log only the params it does not have yet.
    reopen: bool = False
    check_params: bool = False
    #: MLflow ids of step runs a crashed controller left RUNNING under this run: KILLED at its end.
    stale_steps: set[str] = field(default_factory=set)
    #: key -> highest step index logged (the final value of a metric gets that index).
    max_index: dict[str, int] = field(default_factory=dict)
    #: ``time.monotonic()`` when the oldest data not yet written was buffered (``None``: nothing waiting).
    since: float | None = None


class MlflowRecorder(BaseRecorder):
    """Writes experiments, trial runs, step runs, params and metrics to MLflow.

    Used directly, a run is created at its start and a step run is written when it ends;
    metrics wait for :meth:`flush` (or the run's end). Driven by :meth:`tick` (the writer
    process calls it whenever it is idle), writes are coalesced per run: a run is created
    (with its tags) when its first write is due, and a run that ends is written at once in
    three calls (``create_run``, one ``log_batch`` with its params, metrics and tags,
    ``set_terminated``); everything buffered is written once the oldest of it has waited
    ``live_interval`` seconds, so a long trial still shows up in MLflow as RUNNING, with its
    intermediate values, within that delay. :meth:`flush` writes everything buffered.

    Args:
        tracking_uri: ``sqlite:////abs/mlflow.db``, ``http://mlflow:5000``, ...
        artifact_root: artifact location of experiments this recorder creates
            (e.g. ``file:///abs/mlruns``); ``None`` lets MLflow (or its server) decide.
        log_artifacts_max_bytes: local output files of the types in
            :data:`LOGGED_ARTIFACT_TYPES` or with a suffix in :data:`PREVIEW_SUFFIXES` up to
            this size are also copied into the step run's MLflow artifacts, and tables
            (CSV, TSV, Parquet) above it get a preview of their first :data:`PREVIEW_ROWS`
            rows (0 disables copies and previews).
        live_interval: seconds buffered data may wait for :meth:`tick` (:data:`LIVE_INTERVAL`).

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
        live_interval: float = LIVE_INTERVAL,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.log_artifacts_max_bytes = log_artifacts_max_bytes
        self.live_interval = float(live_interval)
        if tracking_uri.startswith(("http://", "https://")):
            # A server that is down fails fast to the AsyncRecorder, which retries for as long as it takes and
            # says so; MLflow's own retries would block for minutes in silence (7 tries, backoff factor 2).
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
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
        #: workbench run_id -> its trial (or standalone) run; kept after the run ended, so that a
        #: late event for it does not create a new run
        self._runs: dict[str, _Run] = {}
        #: (run_id, step, attempt) -> step run; (run_id, step) -> its latest attempt; run_id -> its step runs
        self._steps: dict[tuple[str, str, int], _Run] = {}
        self._latest_step: dict[tuple[str, str], _Run] = {}
        self._run_steps: dict[str, list[_Run]] = defaultdict(list)
        #: runs with data not yet written (insertion ordered)
        self._dirty: dict[_Run, None] = {}
        self._unknown_runs: set[str] = set()
        self._repos: dict[str, Any] = {}
        self._tmp: str | None = None
        #: Driven by :meth:`tick`: writes wait to be coalesced (else each run is written as events come).
        self._coalesce = False

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

    # ------------------------------------------------------------------ buffering

    def _touch(self, r: _Run) -> None:
        """Note that ``r`` has data to write."""
        if r.since is None:
            r.since = time.monotonic()
        self._dirty[r] = None

    def _set_tags(self, r: _Run, tags: dict[str, str]) -> None:
        (r.tags if r.mlflow_id is None else r.new_tags).update(tags)
        self._touch(r)

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

    @staticmethod
    def _run_name(run: RunInfo) -> str:
        return f"trial-{run.trial_number}" if run.trial_number is not None else (run.pipeline or run.run_id)

    def _trial(self, run: RunInfo, placeholder: bool = False) -> _Run:
        """The trial (or standalone) run of ``run``: known, else a new one (looked up first when written)."""
        r = self._runs.get(run.run_id)
        if r is None:
            exp_id = self._experiment_id(run.experiment, run.namespace)
            r = _Run(
                exp_id=exp_id,
                name=self._run_name(run),
                start_ms=_ms(run.started),
                tags=self._run_tags(run),
                run_id=run.run_id,
                lookup=exp_id not in self._fresh,
                placeholder=placeholder,
            )
            self._runs[run.run_id] = r
        return r

    def run_started(self, run: RunInfo) -> None:
        with self._lock:
            known = run.run_id in self._runs
            r = self._trial(run)
            if known and r.placeholder and r.mlflow_id is None:  # made up by an early step event: fill it in
                r.name, r.start_ms, r.placeholder = self._run_name(run), _ms(run.started), False
                r.tags.update(self._run_tags(run))
                known = False
            elif known:
                # Same run again (a resumed controller): reopen it; MLflow params are immutable,
                # so only the ones it does not have yet are logged.
                r.end, r.terminated = None, False
                if r.mlflow_id is not None:
                    r.reopen = r.check_params = True
                self._set_tags(r, self._run_tags(run))
            r.params += self._params(run.params, run.secrets)
            if not known:
                for name, document in run.documents.items():
                    if not isinstance(document, str):
                        document = mask(document, secrets=run.secrets)
                    r.documents.append((f"workbench/{name}", _render(f"workbench/{name}", document)))
            self._touch(r)
            if not self._coalesce:
                self._write(r)

    def run_finished(self, run: RunInfo) -> None:
        with self._lock:
            r = self._trial(run)
            if r.end is None:  # (a retried call does not buffer the same data twice)
                end = _ms(run.finished)
                # Step runs left open (the run was killed, or the controller crashed) end as KILLED.
                for s in self._run_steps.get(run.run_id, ()):
                    if s.end is None:
                        self._set_tags(s, {"workbench.state": "Cancelled"})
                        s.end = ("KILLED", end)
                r.metrics += [
                    Metric(_key(k), float(v), end, r.max_index.get(_key(k), 0))
                    for k, v in run.metrics.items()
                    if _is_number(v)
                ]
                tags = {"workbench.state": run.state}
                if run.message:
                    tags["workbench.message"] = truncate(run.message, MAX_TAG_VAL_LENGTH)
                self._set_tags(r, tags)
                r.end = (RUN_STATUS.get(run.state, "KILLED"), end)
            # The run and its steps are written now, in as few calls as MLflow allows.
            self._write(r)
            for s in self._run_steps.get(run.run_id, ()):
                if s in self._dirty:
                    self._write(s)
            self._forget(run.run_id)

    def _forget(self, run_id: str) -> None:
        """Drop the step runs of an ended run (the trial run itself is kept: see ``_runs``)."""
        for s in self._run_steps.pop(run_id, []):
            if s in self._dirty:  # a write that failed for good: its data is dropped
                continue
            assert s.step_key is not None
            self._steps.pop(s.step_key, None)
            self._latest_step.pop(s.step_key[:2], None)
        r = self._runs.get(run_id)
        if r is not None and r not in self._dirty:  # only its MLflow id is needed from now on
            r.tags, r.max_index = {}, {}

    # ---------------------------------------------------------------------- steps

    def _step_run(self, step: StepInfo) -> _Run:
        key = (step.run_id, step.step, step.attempt)
        s = self._steps.get(key)
        if s is not None:
            return s
        run = RunInfo(run_id=step.run_id, experiment=step.experiment, pipeline="", trial_number=step.trial_number)
        self._trial(run, placeholder=True)  # a step of a run we never saw start
        tags = {
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
        s = _Run(
            exp_id=self._experiment_id(step.experiment),
            name=step.step,
            start_ms=_ms(step.started),
            tags={k: truncate(v, MAX_TAG_VAL_LENGTH) for k, v in tags.items() if v},
            run_id=step.run_id,
            step_key=key,
            params=self._params(step.inputs, step.secrets),
        )
        self._steps[key] = s
        self._latest_step[(step.run_id, step.step)] = s
        self._run_steps[step.run_id].append(s)
        self._touch(s)
        return s

    def step_started(self, step: StepInfo) -> None:
        with self._lock:
            s = self._step_run(step)
            if not self._coalesce:
                self._write(s)

    def step_finished(self, step: StepInfo) -> None:
        with self._lock:
            s = self._step_run(step)  # Cached and Skipped steps never start
            if s.end is None:  # (a retried call does not buffer the same data twice)
                self._set_tags(s, self._step_end_tags(step))
                if step.state != "Skipped":
                    s.documents.append(("workbench/step.json", _render("workbench/step.json", step_manifest(step))))
                self._small_artifacts(s, step)
                s.end = (STEP_STATUS.get(step.state, "FINISHED"), _ms(step.finished))
            if not self._coalesce and s in self._dirty:
                self._write(s)

    @staticmethod
    def _step_end_tags(step: StepInfo) -> dict[str, str]:
        tags = {"workbench.state": step.state}
        if step.exit_code is not None:
            tags["workbench.exit_code"] = str(step.exit_code)
        if step.message:
            tags["workbench.message"] = truncate(step.message, MAX_TAG_VAL_LENGTH)
        if step.state == "Cached":
            tags["workbench.cached"] = "true"
            tags["workbench.cached_from"] = step.cached_from
        if step.cache_key:
            tags["workbench.cache_key"] = step.cache_key
        for out in step.outputs:
            value = out.uri if out.value is None else to_text(mask(out.value, out.name, step.secrets))
            tags[_key(f"workbench.output.{out.name}")] = truncate(value, MAX_TAG_VAL_LENGTH)
        return tags

    def _small_artifacts(self, s: _Run, step: StepInfo) -> None:
        """Queue copies of the step's small outputs (and previews of big tables) as run artifacts."""
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
                    s.files.append((path, _key(out.name)))
                elif suffix in (".csv", ".tsv", ".parquet"):
                    name = "preview.tsv" if suffix == ".tsv" else "preview.csv"
                    s.documents.append((f"{_key(out.name)}/{name}", table_preview(path)))
            except Exception as exc:  # an artifact copy never fails the run record
                logger.warning("could not copy artifact %s of step %s to MLflow: %s", out.uri, step.step, exc)

    # -------------------------------------------------------------------- metrics

    def metric(self, run_id: str, step: str, name: str, value: float, index: int, timestamp: float) -> None:
        with self._lock:
            trial = self._runs.get(run_id)
            if trial is None:
                if run_id not in self._unknown_runs:
                    self._unknown_runs.add(run_id)
                    logger.warning("metric %r for unknown run %s dropped (run_started was not recorded)", name, run_id)
                return
            if not _is_number(value):
                return
            key, ts, idx = _key(name), _ms(timestamp), int(index)
            targets = [trial]
            step_run = self._latest_step.get((run_id, step))
            if step_run is None and not step:
                # No step name given: the run's only running step, if there is exactly one.
                running = [s for s in self._run_steps.get(run_id, ()) if s.end is None]
                if len(running) == 1:
                    step_run = running[0]
            if step_run is not None:
                targets.append(step_run)
            for target in targets:
                target.metrics.append(Metric(key, float(value), ts, idx))
                if idx > target.max_index.get(key, -1):
                    target.max_index[key] = idx
                self._touch(target)

    # ---------------------------------------------------------------------- writes

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

    def _find_open_steps(self, exp_id: str, run_id: str) -> set[str]:
        found = self.client.search_runs(
            [exp_id],
            filter_string=f"tags.`workbench.run_id` = {_quote(run_id)} and attributes.status = 'RUNNING'",
            max_results=1000,
        )
        return {r.info.run_id for r in found if "workbench.step" in r.data.tags}

    def _create(self, r: _Run) -> None:
        """Create the MLflow run of ``r`` with its tags, or find the one a previous controller created."""
        if r.step_key is not None:
            parent = self._runs[r.run_id]
            if parent.mlflow_id is None:
                self._create(parent)
            r.tags["mlflow.parentRunId"] = parent.mlflow_id or ""
        elif r.lookup:
            found = self._find_run(r.exp_id, r.run_id)
            if found is not None:  # a resumed run: reopened (unless it ends now), tags set again, no documents
                r.mlflow_id, r.documents = found, []
                r.new_tags = {**r.tags, **r.new_tags}
                r.check_params, r.reopen = True, r.end is None
                r.stale_steps |= self._find_open_steps(r.exp_id, r.run_id)
                return
        created = self.client.create_run(r.exp_id, start_time=r.start_ms, tags=r.tags, run_name=r.name)
        r.mlflow_id, r.artifact_uri = created.info.run_id, created.info.artifact_uri

    def _write(self, r: _Run) -> None:
        """Write everything buffered for ``r``: create it if needed, one ``log_batch``, its artifacts, its end."""
        if r.mlflow_id is None:
            self._create(r)
        mlflow_id = r.mlflow_id
        assert mlflow_id is not None
        if r.reopen:
            self.client.update_run(mlflow_id, status="RUNNING")
            r.reopen = False
        if r.check_params and r.params:
            existing = self.client.get_run(mlflow_id).data.params
            r.params = [p for p in r.params if p.key not in existing]
        metrics, params, tags = r.metrics, r.params, [RunTag(k, v) for k, v in r.new_tags.items()]
        r.metrics, r.params, r.new_tags = [], [], {}
        try:
            self._log_batch(mlflow_id, metrics=metrics, params=params, tags=tags)
        except Exception as exc:
            if is_transient(exc):  # the store is down: kept for the retry
                r.metrics, r.params = metrics + r.metrics, params + r.params
                r.new_tags = {**{t.key: t.value for t in tags}, **r.new_tags}
            raise
        while r.documents:
            self._log_document(r, *r.documents[0])
            r.documents.pop(0)
        while r.files:
            self._log_file(r, *r.files[0])
            r.files.pop(0)
        if r.end is not None:
            for stale in sorted(r.stale_steps):
                self._log_batch(stale, tags=[_cancelled])
                self.client.set_terminated(stale, status="KILLED", end_time=r.end[1])
                r.stale_steps.discard(stale)
            if not r.terminated:
                self.client.set_terminated(mlflow_id, status=r.end[0], end_time=r.end[1])
                r.terminated = True
        r.since = None
        self._dirty.pop(r, None)

    def _log_document(self, r: _Run, artifact_file: str, text: str) -> None:
        """Text already rendered, as a run artifact."""
        try:
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="workbench-mlflow-")
            path = Path(self._tmp) / Path(artifact_file).name
            path.write_text(text, encoding="utf-8")
            try:
                self._log_file(r, path, str(Path(artifact_file).parent).strip("."))
            finally:
                path.unlink(missing_ok=True)
        except Exception as exc:  # a document copy never fails the run record
            logger.warning("could not log %s to MLflow run %s: %s", artifact_file, r.mlflow_id, exc)

    def _log_file(self, r: _Run, path: Path, artifact_path: str | None) -> None:
        """Copy a file into a run's artifacts: straight to the run's local artifact folder when this recorder
        created the run (its ``file:`` URI is known: no lookup of the run per file), else through the client."""
        try:
            uri = r.artifact_uri
            if uri is None or not uri.startswith("file:"):  # a server's artifacts are resolved through the client
                assert r.mlflow_id is not None
                self.client.log_artifact(r.mlflow_id, str(path), artifact_path=artifact_path or None)
                return
            repo = self._repos.get(uri)
            if repo is None:
                from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

                if len(self._repos) > 64:
                    self._repos.clear()
                repo = self._repos[uri] = get_artifact_repository(uri)
            repo.log_artifact(str(path), artifact_path or None)
        except Exception as exc:  # an artifact copy never fails the run record
            if is_transient(exc):
                raise
            logger.warning("could not copy %s into MLflow run %s: %s", path, r.mlflow_id, exc)

    def _write_all(self) -> None:
        # Trial runs first: their steps need their MLflow ids.
        for r in sorted(self._dirty, key=lambda r: r.step_key is not None):
            if r not in self._dirty:
                continue
            try:
                self._write(r)
            except Exception as exc:
                if is_transient(exc):  # the store is down: everything stays buffered for the retry
                    raise
                # Bad data is not retried forever (it would block every later write): dropped, and said so.
                logger.warning("could not write MLflow run %s of %s: %s: %s", r.name, r.run_id, type(exc).__name__, exc)
                r.since = None
                self._dirty.pop(r, None)

    def flush(self) -> None:
        """Write everything buffered: running runs appear as RUNNING with their params and metrics so far."""
        with self._lock:
            self._write_all()

    def tick(self) -> float | None:
        """Write everything buffered once the oldest data has waited ``live_interval`` seconds.

        Returns the seconds until that is due, or ``None`` when nothing is left to write. The first
        call switches the recorder to coalesced writes (see the class).
        """
        with self._lock:
            self._coalesce = True
            if not self._dirty:
                return None
            oldest = min(r.since if r.since is not None else 0.0 for r in self._dirty)
            wait = oldest + self.live_interval - time.monotonic()
            if wait > 0:
                return wait
            self._write_all()
            return None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._tmp is not None:
                import shutil

                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

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


def _render(artifact_file: str, document: Any) -> str:
    """A mapping as JSON or YAML (by the file's suffix); text as it is."""
    if isinstance(document, str):
        return document
    if artifact_file.endswith(".json"):
        return json.dumps(document, indent=2, sort_keys=True, default=str)
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True)


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
