"""ML Metadata recorder: lineage of every step (which artifacts went in, which came out).

Layout in the store::

    Context  workbench.Experiment  name = <experiment>
    Context  workbench.Pipeline    name = <pipeline>
    Context  workbench.Trial       name = <experiment>/trial-<n>, external_id = run_id   (a trial)
    Context  workbench.Run         name = <experiment>/<run_id>,  external_id = run_id   (a standalone run)
             children of the Experiment and Pipeline contexts (put_parent_contexts)
    Execution  type workbench.step.<component>, name = <run_id>/<step>/<attempt>
             properties step, component_digest, state (Workbench step state), attempt, run_id,
             inputs (JSON of the input parameter values, secrets masked), exit_code, ...
             custom property ``input.<name>`` per input value (masked the same way)
             custom property ``output.<name>`` per *value* output (String, Integer, Float, ... outputs
             are stored on the execution, not as artifacts: KFP v2 does the same)
             associated with the Trial/Run, Experiment and Pipeline contexts
    Artifact   type: the component's (Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown, Artifact,
             or any KFP type name such as CSV), system.Artifact when untyped
             uri, name <run_id>/<step>/<output>, state LIVE, custom properties display_name, run_id, step
             attributed to the same contexts; INPUT/OUTPUT events (event path = input/output name)

Existing artifacts are found by uri and type and re-used whole (never overwritten with a
partial object), so a cached step's OUTPUT events and a consumer's INPUT events point at
the producer's artifact.

Only APIs present in ml-metadata 1.14 - 1.21 are used (``put_*_type``, ``put_execution``,
``put_contexts``, ``put_parent_contexts``, ``put_attributions_and_associations``, ``get_*``).
"""

from __future__ import annotations

import json
import numbers
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from workbench.engine.cache import BaseStepCache, CacheHit, FileStamp
from workbench.errors import SpecError
from workbench.tracking._base import BaseRecorder, ExperimentInfo, OutputArtifact, RunInfo, StepInfo
from workbench.tracking._common import logger, mask, sqlite_init_lock, to_json

EXPERIMENT_TYPE = "workbench.Experiment"
TRIAL_TYPE = "workbench.Trial"
RUN_TYPE = "workbench.Run"
PIPELINE_TYPE = "workbench.Pipeline"
EXECUTION_TYPE_PREFIX = "workbench.step."
ARTIFACT_TYPES = ("Artifact", "Dataset", "Model", "Metrics", "ClassificationMetrics", "HTML", "Markdown")
#: The artifact type of an untyped output or input (a KFP v1 output without ``type``), as KFP names it.
UNTYPED_ARTIFACT = "system.Artifact"
#: Output types passed by value: stored as execution custom properties ``output.<name>``.
VALUE_TYPES = ("String", "Integer", "Float", "Boolean", "JsonObject", "JsonArray", "str", "int", "float", "bool")

_S, _I, _D = pb.STRING, pb.INT, pb.DOUBLE
_EXPERIMENT_PROPS = {"namespace": _S, "algorithm": _S, "state": _S, "directions": _S, "objective_metrics": _S}
_RUN_PROPS = {
    "experiment": _S,
    "namespace": _S,
    "pipeline": _S,
    "run_id": _S,
    "trial_number": _I,
    "state": _S,
    "params": _S,
    "started": _D,
    "finished": _D,
    "message": _S,
}
_PIPELINE_PROPS = {"namespace": _S}
_EXECUTION_PROPS = {
    "step": _S,
    "component": _S,
    "component_digest": _S,
    "state": _S,
    "attempt": _I,
    "run_id": _S,
    "experiment": _S,
    "trial_number": _I,
    "inputs": _S,
    "exit_code": _I,
    "log_path": _S,
    "started": _D,
    "finished": _D,
    "message": _S,
    "cache_key": _S,
    "cached_from": _S,
    "outputs": _S,
}

#: Workbench step state -> MLMD execution state.
EXECUTION_STATE = {
    "Pending": pb.Execution.NEW,
    "Running": pb.Execution.RUNNING,
    "Succeeded": pb.Execution.COMPLETE,
    "Failed": pb.Execution.FAILED,
    "Cached": pb.Execution.CACHED,
    "Skipped": pb.Execution.CANCELED,
    "Cancelled": pb.Execution.CANCELED,
}
_OPEN_STATES = (pb.Execution.NEW, pb.Execution.RUNNING, pb.Execution.UNKNOWN)
_HAS_BOOL = "bool_value" in pb.Value.DESCRIPTOR.fields_by_name


# ------------------------------------------------------------------ connection


def _redact(url: str) -> str:
    p = urlparse(url)
    if p.password is None:
        return url
    return url.replace(f":{p.password}@", ":***@", 1)


def connection_config(url: str, readonly: bool = False) -> pb.ConnectionConfig:
    """Parse a store URL into an MLMD ``ConnectionConfig``.

    ``sqlite:////abs/path/mlmd.sqlite`` (the parent folder is created), ``sqlite://`` (in
    memory), ``postgresql://user:pass@host:5432/db`` or ``mysql://user:pass@host:3306/db``;
    a ``+driver`` suffix on the scheme is ignored. Query options: ``sslmode``, ``sslcert``,
    ``sslkey``, ``sslrootcert``, ``skip_db_creation`` (PostgreSQL); ``socket``,
    ``skip_db_creation`` (MySQL).

    Example:
        >>> connection_config("postgresql://wb:s3cret@db:5432/mlmd").postgresql.dbname
        'mlmd'
        >>> connection_config("mysql://wb:pw@db/mlmd").mysql.port
        3306
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+", 1)[0].lower()
    query = dict(parse_qsl(parsed.query))
    config = pb.ConnectionConfig()
    if scheme == "sqlite":
        path = url.split("://", 1)[1].split("?", 1)[0]
        path = path[1:] if path.startswith("/") else path
        if path in ("", ":memory:"):
            config.fake_database.SetInParent()
            return config
        if not readonly:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = (
            pb.SqliteMetadataSourceConfig.READONLY if readonly else pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        return config
    dbname = unquote(parsed.path.lstrip("/"))
    user = unquote(parsed.username or "")
    password = unquote(parsed.password or "")
    skip = query.get("skip_db_creation", "").lower() in ("1", "true", "yes")
    if scheme in ("postgresql", "postgres"):
        pg = config.postgresql
        pg.host = parsed.hostname or "localhost"
        pg.port = str(parsed.port or 5432)
        pg.dbname = dbname
        pg.user = user
        pg.password = password
        pg.skip_db_creation = skip
        for opt in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
            if opt in query:
                setattr(pg.ssloption, opt, query[opt])
        return config
    if scheme in ("mysql", "mariadb"):
        my = config.mysql
        my.host = parsed.hostname or "localhost"
        my.port = parsed.port or 3306
        my.database = dbname
        my.user = user
        my.password = password
        my.skip_db_creation = skip
        if "socket" in query:
            my.socket = query["socket"]
        return config
    raise SpecError(
        f"unsupported ML Metadata store URL {_redact(url)!r}: expected sqlite:////path, postgresql://... or mysql://...",
        path="mlmd",
    )


def open_store(url: str, readonly: bool = False) -> metadata_store.MetadataStore:
    """A ``MetadataStore`` for ``url`` (see :func:`connection_config`)."""
    return metadata_store.MetadataStore(connection_config(url, readonly=readonly))


# -------------------------------------------------------------------- values


def _set(value_map: Any, key: str, value: Any) -> None:
    """Store a Python value in a properties/custom_properties map."""
    v = value_map[key]
    if isinstance(value, bool):
        if _HAS_BOOL:
            v.bool_value = value
        else:  # pragma: no cover - very old ml-metadata
            v.int_value = int(value)
    elif isinstance(value, numbers.Integral) and -(2**63) <= int(value) < 2**63:
        v.int_value = int(value)
    elif isinstance(value, numbers.Real):
        v.double_value = float(value)
    elif isinstance(value, str):
        v.string_value = value
    else:
        v.string_value = to_json(value)


def _get(value: pb.Value) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "struct_value":
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(value.struct_value)
    if kind == "proto_value":
        return None
    return getattr(value, kind)


def _props(node: Any) -> dict[str, Any]:
    return {k: _get(v) for k, v in node.properties.items()}


def _custom(node: Any) -> dict[str, Any]:
    return {k: _get(v) for k, v in node.custom_properties.items()}


def _artifact_type(type_name: str | None) -> str:
    """The ML Metadata type of an artifact: the component's type (``Dataset``, KFP's ``CSV``, ...), else
    ``system.Artifact``."""
    return type_name or UNTYPED_ARTIFACT


def _is_value_output(out: OutputArtifact) -> bool:
    return out.type in VALUE_TYPES or (out.value is not None and out.type not in ARTIFACT_TYPES)


def _context_by_external_id(store: metadata_store.MetadataStore, external_id: str) -> pb.Context | None:
    try:  # some versions answer NotFound, others an empty list
        found = store.get_contexts_by_external_ids([external_id])
    except mlmd_errors.NotFoundError:
        return None
    return found[0] if found else None


def _event(kind: int, name: str) -> pb.Event:
    ev = pb.Event(type=kind)
    ev.path.steps.add().key = name
    return ev


# ------------------------------------------------------------------ recorder


#: SQLite files this process has already switched to WAL.
_WAL_DONE: set[str] = set()
_WAL_SCRIPT = (
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1], timeout=5.0)\n"
    "print(con.execute('PRAGMA journal_mode=WAL').fetchone()[0])\n"
)


def use_wal(url: str) -> bool:
    """Switch an SQLite lineage store to write-ahead logging (persistent in the file); ``True`` if it is in WAL.

    ML Metadata opens SQLite in rollback-journal mode, where every transaction costs several
    ``fsync`` calls and a reader blocks the writer. In WAL mode a transaction costs one
    ``fsync`` (about 4x fewer milliseconds per write here) and readers (the dashboard, step
    cache lookups) never block the recorder. Other stores are left alone (``False``).

    The switch runs in a short-lived child process: ML Metadata links its own copy of
    SQLite, and a second copy (Python's ``sqlite3``) opening and closing the same file in this
    process would drop the POSIX locks the first one holds.
    """
    if not url.startswith("sqlite:///"):
        return False
    path = url.split("://", 1)[1].split("?", 1)[0][1:]
    if not path or path == ":memory:" or not Path(path).is_file():
        return False
    if path in _WAL_DONE:
        return True
    import subprocess
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-S", "-c", _WAL_SCRIPT, path], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:  # busy or read-only: the store works, only slower
        logger.debug("could not switch %s to WAL: %s", path, err)
        return False
    if out.lower() != "wal":
        return False
    _WAL_DONE.add(path)
    return True


class MlmdRecorder(BaseRecorder):
    """Writes the lineage of every step to ML Metadata.

    Example:
        >>> import tempfile
        >>> rec = MlmdRecorder(f"sqlite:///{tempfile.mkdtemp()}/mlmd.sqlite")
        >>> rec.run_started(RunInfo(run_id="r1", experiment="demo", pipeline="p", trial_number=0))
        >>> rec.step_finished(StepInfo(run_id="r1", experiment="demo", step="load", component="load",
        ...     state="Succeeded", outputs=[OutputArtifact("data", "/tmp/data.csv", "Dataset")]))
        >>> [(e["step"], e["state"]) for e in lineage_of_run(rec.store, "r1")["executions"]]
        [('load', 'Succeeded')]
    """

    def __init__(self, url: str) -> None:
        self.url = url
        with sqlite_init_lock(url):  # one process at a time creates the schema of a new SQLite store
            self.store = open_store(url)
            if url.startswith("sqlite:///") and use_wal(url):
                self.store = open_store(url)  # a fresh connection, in WAL mode
        self._lock = threading.RLock()
        self._type_ids: dict[str, int] = {}
        #: (context type, name) -> context id
        self._ctx_ids: dict[tuple[str, str], int] = {}
        #: run_id -> ids of the contexts a step of that run belongs to (run context first)
        self._run_ctx: dict[str, list[int]] = {}
        #: (run_id, step, attempt) -> the execution as last written (whole object, with id)
        self._executions: dict[tuple[str, str, int], pb.Execution] = {}
        #: run_id -> its run context as last written by this recorder (whole object, with id)
        self._run_ctx_obj: dict[str, pb.Context] = {}
        #: runs whose context this recorder created: no executions of theirs were written before
        self._fresh_runs: set[str] = set()
        self._created = False
        self._register_types()

    # ------------------------------------------------------------------ types

    def _register_types(self) -> None:
        for name, props in (
            (EXPERIMENT_TYPE, _EXPERIMENT_PROPS),
            (TRIAL_TYPE, _RUN_PROPS),
            (RUN_TYPE, _RUN_PROPS),
            (PIPELINE_TYPE, _PIPELINE_PROPS),
        ):
            t = pb.ContextType(name=name)
            for k, v in props.items():
                t.properties[k] = v
            self._type_ids[name] = self.store.put_context_type(t, can_add_fields=True, can_omit_fields=True)
        for name in ARTIFACT_TYPES:
            t = pb.ArtifactType(name=name)
            self._type_ids[name] = self.store.put_artifact_type(t, can_add_fields=True, can_omit_fields=True)

    def _artifact_type_id(self, name: str) -> int:
        """The id of an artifact type, registered on first use (components may declare any type name)."""
        tid = self._type_ids.get(name)
        if tid is None:
            tid = self.store.put_artifact_type(pb.ArtifactType(name=name), can_add_fields=True, can_omit_fields=True)
            self._type_ids[name] = tid
        return tid

    def _execution_type(self, component: str) -> int:
        name = EXECUTION_TYPE_PREFIX + (component or "unnamed")
        tid = self._type_ids.get(name)
        if tid is None:
            t = pb.ExecutionType(name=name)
            for k, v in _EXECUTION_PROPS.items():
                t.properties[k] = v
            tid = self.store.put_execution_type(t, can_add_fields=True, can_omit_fields=True)
            self._type_ids[name] = tid
        return tid

    # --------------------------------------------------------------- contexts

    def _context(
        self,
        type_name: str,
        name: str,
        props: dict[str, Any] | None = None,
        custom: dict[str, Any] | None = None,
        external_id: str = "",
        update: bool = True,
        new: bool = False,
    ) -> pb.Context:
        """Get or create a context; with ``update`` the given properties are written on an existing one.

        ``new``: the context is most likely new (a trial starting): create it without a lookup first
        (one call instead of two; an existing one is then fetched and updated). :attr:`_created` tells
        whether this call created the context.
        """
        self._created = False
        ctx = None if new else self.store.get_context_by_type_and_name(type_name, name)
        created = ctx is None
        if ctx is None:
            ctx = pb.Context(type_id=self._type_ids[type_name], name=name)
            if external_id:
                ctx.external_id = external_id
        if created or update:
            for k, v in (props or {}).items():
                if v is not None:
                    _set(ctx.properties, k, v)
            for k, v in (custom or {}).items():
                if v is not None:
                    _set(ctx.custom_properties, k, v)
            try:
                [ctx.id] = self.store.put_contexts([ctx])
            except mlmd_errors.AlreadyExistsError:
                stored = self.store.get_context_by_type_and_name(type_name, name)
                if stored is not None:  # created by someone else in between (or before, when ``new``)
                    return self._context(type_name, name, props, custom, external_id, update)
                ctx.ClearField("external_id")  # the external id belongs to another context
                [ctx.id] = self.store.put_contexts([ctx])
            self._created = created
        self._ctx_ids[(type_name, name)] = ctx.id
        return ctx

    def _context_id(self, type_name: str, name: str, props: dict[str, Any] | None = None) -> int:
        """Id of a context, created (with ``props``) if missing; never updates an existing one."""
        cid = self._ctx_ids.get((type_name, name))
        if cid is None:
            cid = self._context(type_name, name, props, update=False).id
        return cid

    def _link_parents(self, child: int, parents: list[int]) -> None:
        try:  # all at once (a new context); one by one when some links exist already
            self.store.put_parent_contexts([pb.ParentContext(child_id=child, parent_id=p) for p in parents])
            return
        except mlmd_errors.AlreadyExistsError:
            pass
        for parent in parents:
            try:
                self.store.put_parent_contexts([pb.ParentContext(child_id=child, parent_id=parent)])
            except mlmd_errors.AlreadyExistsError:
                pass

    def experiment_started(self, experiment: ExperimentInfo) -> None:
        with self._lock:
            self._context(
                EXPERIMENT_TYPE,
                experiment.name or "Default",
                {
                    "namespace": experiment.namespace,
                    "algorithm": experiment.algorithm,
                    "state": experiment.state,
                    "directions": to_json(experiment.directions),
                    "objective_metrics": to_json(experiment.objective_metrics),
                },
            )

    def experiment_finished(self, experiment: ExperimentInfo) -> None:
        with self._lock:
            self._context(EXPERIMENT_TYPE, experiment.name or "Default", {"state": experiment.state})

    @staticmethod
    def _run_context_name(run_id: str, experiment: str, trial_number: int | None) -> tuple[str, str]:
        if trial_number is not None:
            return TRIAL_TYPE, f"{experiment}/trial-{trial_number}"
        return RUN_TYPE, f"{experiment}/{run_id}" if experiment else run_id

    def _start_run(self, run: RunInfo, full: bool = True) -> list[int]:
        exp_name = run.experiment or "Default"
        exp_id = self._context_id(EXPERIMENT_TYPE, exp_name, {"namespace": run.namespace, "state": "Running"})
        parents = [exp_id]
        if run.pipeline:
            parents.append(self._context_id(PIPELINE_TYPE, run.pipeline, {"namespace": run.namespace}))
        type_name, name = self._run_context_name(run.run_id, exp_name, run.trial_number)
        props: dict[str, Any] = {
            "experiment": exp_name,
            "namespace": run.namespace,
            "pipeline": run.pipeline or None,
            "run_id": run.run_id,
            "trial_number": run.trial_number,
        }
        if full:
            params = to_json(mask(run.params, secrets=run.secrets))
            props.update({"state": run.state, "params": params, "started": float(run.started)})
        ctx = self._context(type_name, name, props, external_id=run.run_id, update=full, new=full)
        if full:
            self._run_ctx_obj[run.run_id] = ctx
            if self._created:
                self._fresh_runs.add(run.run_id)
        self._link_parents(ctx.id, parents)
        ids = [ctx.id, *parents]
        self._run_ctx[run.run_id] = ids
        return ids

    def run_started(self, run: RunInfo) -> None:
        with self._lock:
            self._start_run(run)

    def _find_run_context(self, run_id: str) -> pb.Context | None:
        return _context_by_external_id(self.store, run_id)

    def _contexts_of(self, run_id: str, experiment: str, trial_number: int | None) -> list[int]:
        ids = self._run_ctx.get(run_id)
        if ids is not None:
            return ids
        ctx = self._find_run_context(run_id)
        if ctx is not None:
            ids = [ctx.id, *(p.id for p in self.store.get_parent_contexts_by_context(ctx.id))]
        else:  # a step of a run we never saw start: create its context
            run = RunInfo(run_id=run_id, experiment=experiment, pipeline="", trial_number=trial_number)
            ids = self._start_run(run, full=False)
        self._run_ctx[run_id] = ids
        return ids

    def run_finished(self, run: RunInfo) -> None:
        with self._lock:
            # The context as this recorder wrote it at run_started (whole), else as stored.
            ctx = self._run_ctx_obj.get(run.run_id) or self._find_run_context(run.run_id)
            if ctx is None:
                self._start_run(run)
                ctx = self._find_run_context(run.run_id)
                assert ctx is not None
            _set(ctx.properties, "state", run.state)
            _set(ctx.properties, "finished", float(run.finished if run.finished is not None else time.time()))
            if run.message:
                _set(ctx.properties, "message", run.message)
            for k, v in run.metrics.items():
                if isinstance(v, numbers.Real) and not isinstance(v, bool):
                    _set(ctx.custom_properties, f"metric.{k}", float(v))
            self.store.put_contexts([ctx])
            # Executions still open (the run was killed, or the controller crashed) end as CANCELED. A run
            # whose context this recorder created has no executions but the ones it wrote (in memory).
            if run.run_id in self._fresh_runs:
                executions = [e for k, e in self._executions.items() if k[0] == run.run_id]
            else:
                executions = self.store.get_executions_by_context(ctx.id)
            for e in executions:
                if e.last_known_state in _OPEN_STATES:
                    e.last_known_state = pb.Execution.CANCELED
                    _set(e.properties, "state", "Cancelled")
                    self.store.put_execution(e, [], [])
            for key in [k for k in self._executions if k[0] == run.run_id]:
                del self._executions[key]
            self._run_ctx.pop(run.run_id, None)
            self._run_ctx_obj.pop(run.run_id, None)
            self._fresh_runs.discard(run.run_id)

    # ----------------------------------------------------------------- steps

    @staticmethod
    def _execution_name(step: StepInfo) -> str:
        return f"{step.run_id}/{step.step}/{step.attempt}"

    def _fill(self, e: pb.Execution, step: StepInfo) -> None:
        e.last_known_state = EXECUTION_STATE.get(step.state, pb.Execution.UNKNOWN)
        values: dict[str, Any] = {
            "step": step.step,
            "component": step.component,
            "component_digest": step.component_digest,
            "state": step.state,
            "attempt": step.attempt,
            "run_id": step.run_id,
            "experiment": step.experiment,
            "trial_number": step.trial_number,
            "inputs": to_json(mask(step.inputs, secrets=step.secrets)),
            "exit_code": step.exit_code,
            "log_path": step.log_path or None,
            "started": float(step.started),
            "finished": float(step.finished) if step.finished is not None else None,
            "message": step.message or None,
            "cache_key": step.cache_key or None,
            "cached_from": step.cached_from or None,
        }
        for k, v in values.items():
            if v is not None:
                _set(e.properties, k, v)
        # Each input value on its own too (``input.<name>``), as value outputs are (``output.<name>``).
        for k, v in mask(step.inputs, secrets=step.secrets).items():
            if v is not None:
                _set(e.custom_properties, f"input.{k}", v)

    def _find_artifact(self, uri: str, type_name: str, any_type: bool = False) -> pb.Artifact | None:
        """The newest stored artifact with this uri and type; with ``any_type`` (or a generic type), of any
        type when none has this one (a consumer's declared type does not make another artifact)."""
        found = self.store.get_artifacts_by_uri(uri)
        tid = self._artifact_type_id(type_name)
        same = [a for a in found if a.type_id == tid]
        if not same and (any_type or type_name in ("Artifact", UNTYPED_ARTIFACT)):
            same = list(found)
        return max(same, key=lambda a: a.id) if same else None

    def _input_pairs(self, step: StepInfo) -> list[tuple[pb.Artifact, pb.Event]]:
        pairs = []
        for name, (uri, type_name) in step.input_artifacts.items():
            tname = _artifact_type(type_name)
            art = self._find_artifact(uri, tname, any_type=True)
            if art is None:  # external data: not produced by any recorded step
                art = pb.Artifact(type_id=self._artifact_type_id(tname), uri=uri, state=pb.Artifact.LIVE)
            pairs.append((art, _event(pb.Event.INPUT, name)))
        return pairs

    def _output_pairs(self, step: StepInfo) -> list[tuple[pb.Artifact, pb.Event]]:
        pairs = []
        live = step.state in ("Succeeded", "Cached")
        for out in step.outputs:
            if _is_value_output(out):
                continue
            tname = _artifact_type(out.type)
            art = self._find_artifact(out.uri, tname)
            if art is None:
                suffix = "" if step.attempt == 1 else f"#{step.attempt}"
                art = pb.Artifact(
                    type_id=self._artifact_type_id(tname),
                    uri=out.uri,
                    name=f"{step.run_id}/{step.step}/{out.name}{suffix}",
                    state=pb.Artifact.LIVE if live else pb.Artifact.ABANDONED,
                )
                art.custom_properties["display_name"].string_value = out.name
                if out.path:  # the controller's copy of an object-store artifact
                    art.custom_properties["local_path"].string_value = out.path
                art.custom_properties["run_id"].string_value = step.run_id
                art.custom_properties["step"].string_value = step.step
            pairs.append((art, _event(pb.Event.OUTPUT, out.name)))
        return pairs

    def _write(
        self,
        step: StepInfo,
        execution: pb.Execution,
        pairs: list[tuple[pb.Artifact, pb.Event]],
        contexts: list[int],
        associate: bool,
    ) -> None:
        if execution.HasField("id") and pairs:
            # Re-sent events (a resumed controller) are not duplicated.
            seen = {(ev.artifact_id, ev.type) for ev in self.store.get_events_by_execution_ids([execution.id])}
            pairs = [(a, ev) for a, ev in pairs if not (a.HasField("id") and (a.id, ev.type) in seen)]
        try:
            eid, aids, _ = self.store.put_execution(execution, pairs, [])
        except mlmd_errors.AlreadyExistsError:
            # A new artifact's name is taken (same output written twice under another uri): drop the names.
            for art, _ev in pairs:
                if not art.HasField("id"):
                    art.ClearField("name")
            eid, aids, _ = self.store.put_execution(execution, pairs, [])
        execution.id = eid
        self._executions[(step.run_id, step.step, step.attempt)] = execution
        attributions = [pb.Attribution(context_id=c, artifact_id=a) for a in aids for c in contexts]
        associations = [pb.Association(context_id=c, execution_id=eid) for c in contexts] if associate else []
        if attributions or associations:
            self.store.put_attributions_and_associations(attributions, associations)

    def _execution_for(self, step: StepInfo) -> tuple[pb.Execution, bool]:
        """(execution, is_new): from memory, else from the store by name, else a new one."""
        key = (step.run_id, step.step, step.attempt)
        e = self._executions.get(key)
        if e is not None:
            return e, False
        tid = self._execution_type(step.component)
        if step.run_id not in self._fresh_runs:  # (a run this recorder created has no executions stored before)
            type_name = EXECUTION_TYPE_PREFIX + (step.component or "unnamed")
            stored = self.store.get_execution_by_type_and_name(type_name, self._execution_name(step))
            if stored is not None:
                return stored, False
        return pb.Execution(type_id=tid, name=self._execution_name(step)), True

    def step_started(self, step: StepInfo) -> None:
        with self._lock:
            contexts = self._contexts_of(step.run_id, step.experiment, step.trial_number)
            execution, new = self._execution_for(step)
            self._fill(execution, step)
            self._write(step, execution, self._input_pairs(step), contexts, associate=new)

    def step_finished(self, step: StepInfo) -> None:
        with self._lock:
            contexts = self._contexts_of(step.run_id, step.experiment, step.trial_number)
            execution, new = self._execution_for(step)
            self._fill(execution, step)
            for out in step.outputs:
                if _is_value_output(out) and out.value is not None:
                    _set(execution.custom_properties, f"output.{out.name}", mask(out.value, out.name, step.secrets))
            if step.outputs:  # every output's location and stamp: what a cache hit reuses and checks
                manifest = {
                    o.name: {
                        "uri": o.uri,
                        **({"path": o.path} if o.path else {}),
                        "type": o.type,
                        "digest": o.digest,
                        "size": o.size,
                        "mtime_ns": o.mtime_ns,
                    }
                    for o in step.outputs
                }
                _set(execution.properties, "outputs", json.dumps(manifest, sort_keys=True))
            pairs = self._input_pairs(step) if new else []  # Cached/Skipped steps have no step_started
            pairs += self._output_pairs(step)
            self._write(step, execution, pairs, contexts, associate=new)
            self._executions.pop((step.run_id, step.step, step.attempt), None)

    def close(self) -> None:
        self._executions.clear()


# ---------------------------------------------------------------------- reads


def lineage_of_run(store_url: str | metadata_store.MetadataStore, run_id: str) -> dict[str, Any]:
    """The lineage of one run: its context, executions, artifacts and the events between them.

    Returns::

        {"run_id": ..., "context": {"id", "name", "type", "state", "properties", "custom_properties"} | None,
         "executions": [{"id", "name", "step", "component", "attempt", "state", "mlmd_state",
                         "inputs": {...}, "outputs": {value outputs}, "exit_code",
                         "input_artifacts": {name: artifact id}, "output_artifacts": {name: artifact id}}],
         "artifacts": [{"id", "uri", "type", "name", "state", "custom_properties",
                        "events": [{"execution_id", "step", "type": "INPUT"|"OUTPUT", "name"}]}],
         "events": [{"execution_id", "step", "artifact_id", "uri", "type", "name"}]}

    ``store_url`` is an MLMD URL (opened read-only for SQLite) or an open ``MetadataStore``.
    """
    empty: dict[str, Any] = {"run_id": run_id, "context": None, "executions": [], "artifacts": [], "events": []}
    if isinstance(store_url, str):
        if store_url.startswith("sqlite:"):
            path = store_url.split("://", 1)[1].split("?", 1)[0]
            path = path[1:] if path.startswith("/") else path
            if path not in ("", ":memory:") and not Path(path).exists():
                return empty
            store = open_store(store_url, readonly=path not in ("", ":memory:"))
        else:
            store = open_store(store_url)
    else:
        store = store_url
    ctx = _context_by_external_id(store, run_id)
    if ctx is None:
        return empty
    ctx_type = store.get_context_types_by_id([ctx.type_id])
    executions = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifact_ids = sorted({ev.artifact_id for ev in events})
    artifacts = store.get_artifacts_by_id(artifact_ids) if artifact_ids else []
    a_types = {t.id: t.name for t in store.get_artifact_types_by_id(sorted({a.type_id for a in artifacts}))}
    e_types = {t.id: t.name for t in store.get_execution_types_by_id(sorted({e.type_id for e in executions}))}
    by_exec: dict[int, dict[str, Any]] = {}
    out_execs = []
    for e in executions:
        props = _props(e)
        custom = _custom(e)
        try:
            inputs = json.loads(props.get("inputs") or "{}")
        except ValueError:
            inputs = {}
        item = {
            "id": e.id,
            "name": e.name,
            "type": e_types.get(e.type_id, ""),
            "step": props.get("step", ""),
            "component": props.get("component", ""),
            "attempt": props.get("attempt", 1),
            "state": props.get("state", ""),
            "mlmd_state": pb.Execution.State.Name(e.last_known_state),
            "exit_code": props.get("exit_code"),
            "inputs": inputs,
            "outputs": {k[len("output.") :]: v for k, v in custom.items() if k.startswith("output.")},
            "input_artifacts": {},
            "output_artifacts": {},
        }
        by_exec[e.id] = item
        out_execs.append(item)
    arts = {
        a.id: {
            "id": a.id,
            "uri": a.uri,
            "type": a_types.get(a.type_id, ""),
            "name": a.name,
            "state": pb.Artifact.State.Name(a.state),
            "custom_properties": _custom(a),
            "events": [],
        }
        for a in artifacts
    }
    out_events = []
    for ev in sorted(events, key=lambda ev: (ev.execution_id, ev.type, ev.artifact_id)):
        kind = pb.Event.Type.Name(ev.type)
        name = ev.path.steps[0].key if ev.path.steps else ""
        ex = by_exec.get(ev.execution_id, {})
        if kind == "INPUT":
            ex.setdefault("input_artifacts", {})[name] = ev.artifact_id
        elif kind == "OUTPUT":
            ex.setdefault("output_artifacts", {})[name] = ev.artifact_id
        record = {"execution_id": ev.execution_id, "step": ex.get("step", ""), "type": kind, "name": name}
        if ev.artifact_id in arts:
            arts[ev.artifact_id]["events"].append(record)
        out_events.append({**record, "artifact_id": ev.artifact_id, "uri": arts.get(ev.artifact_id, {}).get("uri")})
    ctx_props = _props(ctx)
    return {
        "run_id": run_id,
        "context": {
            "id": ctx.id,
            "name": ctx.name,
            "type": ctx_type[0].name if ctx_type else "",
            "state": ctx_props.get("state", ""),
            "properties": ctx_props,
            "custom_properties": _custom(ctx),
        },
        "executions": out_execs,
        "artifacts": list(arts.values()),
        "events": out_events,
    }


__all__ = ["MlmdRecorder", "connection_config", "lineage_of_run", "open_store"]


class MlmdStepCache(BaseStepCache):
    """Step-cache lookups in the lineage store: COMPLETE executions recorded with a cache key.

    Example:
        >>> import tempfile
        >>> cache = MlmdStepCache(f"sqlite:///{tempfile.mkdtemp()}/mlmd.sqlite")
        >>> cache.candidates("0" * 64)
        []
    """

    def __init__(self, url: str, limit: int = 20) -> None:
        self.url = url
        self.limit = limit
        self._store: metadata_store.MetadataStore | None = None
        self._lock = threading.Lock()

    def candidates(self, key: str) -> list[CacheHit]:
        if not key.isalnum():  # keys are hex digests; anything else would be a bug
            raise ValueError(f"invalid cache key {key!r}")
        options = metadata_store.ListOptions(
            filter_query=f"properties.cache_key.string_value = '{key}' AND last_known_state = COMPLETE",
            order_by=metadata_store.OrderByField.CREATE_TIME,
            is_asc=False,
            limit=self.limit,
        )
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url)
            executions = self._store.get_executions(list_options=options)
        hits = []
        for e in executions:
            props = _props(e)
            try:
                manifest = json.loads(props.get("outputs") or "{}")
                outputs = {
                    name: (o.get("path") or o["uri"], FileStamp(o["digest"], int(o["size"]), int(o["mtime_ns"])))
                    for name, o in manifest.items()
                }
            except (ValueError, KeyError, TypeError):
                continue
            hits.append(
                CacheHit(
                    outputs=outputs,
                    run_id=str(props.get("run_id", "")),
                    step=str(props.get("step", "")),
                    log_path=str(props.get("log_path", "")),
                    finished=float(props.get("finished") or props.get("started") or 0.0),
                )
            )
        return hits
