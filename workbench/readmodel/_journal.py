"""Study records for the dashboard: an incremental reader of Optuna's journal file, or Optuna's API.

Opening a study through ``optuna.load_study`` replays the whole journal into ``FrozenTrial``
objects (about 9 s for 10,000 trials of 10 parameters on 2 cores), and every later look at a
live study replays what was appended since. :class:`JournalReader` reads the same file
(``JournalFileBackend``'s one JSON object per line) with the same replay rules, but into
plain records, parsing each byte once: a refresh reads only what was appended since the
last one (a controller may be appending while the dashboard reads; a half-written last
line waits for the next refresh). Nothing is written, no lock is taken.

The rules follow ``optuna.storages.JournalStorage``: a study name created twice keeps the
first; updates to a finished trial, or to a trial or study that does not exist, are
ignored; a RUNNING trial cannot be claimed twice. ``tests/ui`` checks the result against
``optuna.load_study`` on real workspaces.

For any other storage (PostgreSQL, MySQL, SQLite URLs) :func:`records_from_storage` builds
the same records through Optuna's API.

Reading the journal does not import Optuna: parameter values of Optuna's own distributions are
turned into their external form here, and a study's distributions become Optuna objects only
when :attr:`StudyRecord.distributions` is read (``workbench ls`` and ``show`` never do).
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

try:  # optional: parses the journal about twice as fast
    import orjson

    _loads = orjson.loads
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads
    _DecodeError = (ValueError,)

# Optuna's journal operation codes (``optuna.storages.journal._storage.JournalOperation``).
CREATE_STUDY, DELETE_STUDY, SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR = 0, 1, 2, 3
CREATE_TRIAL, SET_TRIAL_PARAM, SET_TRIAL_STATE_VALUES, SET_TRIAL_INTERMEDIATE_VALUE = 4, 5, 6, 7
SET_TRIAL_USER_ATTR, SET_TRIAL_SYSTEM_ATTR = 8, 9
# Optuna's TrialState values.
RUNNING, COMPLETE, PRUNED, FAIL, WAITING = 0, 1, 2, 3, 4
_FINISHED = (COMPLETE, PRUNED, FAIL)
#: Bytes of the journal parsed at a time.
CHUNK_BYTES = 16 * 1024 * 1024


def _line_starts(*ops: int) -> tuple[bytes, ...]:
    """How the lines of these operations start as Optuna's ``JournalFileBackend`` writes them (compact JSON
    since Optuna 4, with spaces before). A line written any other way is decoded like any line."""
    return tuple(f'{{"op_code":{sep}{op},'.encode() for op in ops for sep in ("", " "))


_DETAIL_LINES = _line_starts(SET_TRIAL_PARAM, SET_TRIAL_INTERMEDIATE_VALUE)
_TRIAL_ATTR_LINES = _line_starts(SET_TRIAL_USER_ATTR)


@dataclass
class TrialRecord:
    """One trial, as the journal says it is now."""

    number: int
    state: int = RUNNING
    params: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    values: list[float] | None = None
    #: Epoch seconds (Optuna's ``datetime_start`` / ``datetime_complete``).
    datetime_start: float | None = None
    datetime_complete: float | None = None


@dataclass
class StudyRecord:
    """One study: its attributes, the latest distribution of every parameter, and its trials in order."""

    study_id: int
    name: str
    directions: list[str]
    user_attrs: dict[str, Any] = field(default_factory=dict)
    #: The latest distribution of every parameter, as Optuna's JSON text (``distribution_to_json``).
    distribution_json: dict[str, str] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """The latest distribution of every parameter, as Optuna objects (imports Optuna)."""
        return {name: _distribution(text) for name, text in self.distribution_json.items()}


_DISTRIBUTIONS: dict[str, BaseDistribution] = {}


def _distribution(text: str) -> BaseDistribution:
    """Optuna's distribution of a JSON text (one object per text)."""
    found = _DISTRIBUTIONS.get(text)
    if found is None:
        from optuna.distributions import json_to_distribution

        found = _DISTRIBUTIONS[text] = json_to_distribution(text)
    return found


def external_form(text: str) -> Any:
    """The function from a parameter's internal value to its external one for a distribution's JSON text.

    ``None`` when the two are the same (float distributions). Optuna's own distributions are read
    without Optuna (``IntDistribution.to_external_repr`` is ``int``, ``CategoricalDistribution``'s
    indexes its choices); any other is built by Optuna. Raises ``ValueError`` or ``KeyError`` for
    a text that is not a distribution.

    Example:
        >>> external_form('{"name": "CategoricalDistribution", "attributes": {"choices": ["a", "b"]}}')(1.0)
        'b'
    """
    doc = _loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"not a distribution: {text[:80]!r}")
    kind = doc.get("name") or {"float": "FloatDistribution", "int": "IntDistribution"}.get(doc.get("type"))
    attrs = doc.get("attributes", doc)
    if kind == "FloatDistribution" and "low" in attrs and "high" in attrs:
        return None
    if kind == "IntDistribution" and "low" in attrs and "high" in attrs:
        return int
    choices = attrs.get("choices") if kind == "CategoricalDistribution" or doc.get("type") == "categorical" else None
    if isinstance(choices, list) and choices:
        return lambda value: choices[int(value)]
    from optuna.distributions import FloatDistribution

    dist = _distribution(text)
    return None if isinstance(dist, FloatDistribution) else dist.to_external_repr


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso).timestamp()


_DIRECTION = {0: "not_set", 1: "minimize", 2: "maximize"}


class JournalReader:
    """Reads an Optuna journal file incrementally into :class:`StudyRecord` objects.

    Thread-safe: :meth:`refresh` may be called from several Streamlit sessions at once.

    Example:
        >>> import tempfile, optuna
        >>> from optuna.storages.journal import JournalFileBackend
        >>> path = tempfile.mktemp()
        >>> storage = optuna.storages.JournalStorage(JournalFileBackend(path))
        >>> study = optuna.create_study(study_name="s", storage=storage)
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        >>> reader = JournalReader(path)
        >>> [len(s.trials) for s in reader.refresh().values()]
        [3]
    """

    def __init__(self, path: str, summary_attrs: Collection[str] | None = None) -> None:
        """With ``summary_attrs``, a summary is read (``workbench ls``): trial states and values, but no parameter
        or intermediate value, and of the trial user attributes set after a trial's creation only these (and
        any set on the same line). The lines of the rest, most of a journal, are skipped without being decoded.
        """
        self.path = path
        self._skip = () if summary_attrs is None else _DETAIL_LINES
        self._attr_lines = () if summary_attrs is None else _TRIAL_ATTR_LINES
        #: Finds a summary attribute's name (as JSON writes it) in a line.
        self._attr_keys = re.compile(b"|".join(re.escape(json.dumps(k).encode()) for k in summary_attrs or ()))
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.offset = 0
        self._inode: tuple[int, int] | None = None
        self._studies: dict[int, StudyRecord] = {}
        self._names: dict[str, int] = {}
        self._next_study_id = 0
        #: global trial id -> (study id, record); trials of deleted studies stay (ids are global)
        self._trials: list[tuple[int, TrialRecord]] = []
        #: distribution JSON text -> its internal-to-external value function (None: the same value)
        self._dists: dict[str, Any] = {}
        #: Lines that could not be decoded (skipped).
        self.bad_lines = 0

    # ------------------------------------------------------------------ reading

    def refresh(self) -> dict[str, StudyRecord]:
        """Apply what was appended since the last call; return the studies by name."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._reset()
                return {}
            inode = (st.st_dev, st.st_ino)
            if self._inode is not None and (inode != self._inode or st.st_size < self.offset):
                self._reset()  # the file was replaced or truncated: read it again
            self._inode = inode
            if st.st_size > self.offset:
                enabled = gc.isenabled()
                gc.disable()  # millions of small objects: the cyclic GC would triple the time
                try:
                    with open(self.path, "rb") as f:
                        f.seek(self.offset)
                        left = st.st_size - self.offset
                        carry = b""
                        while left > 0:  # in chunks: a 250 MB journal is never held whole
                            data = f.read(min(CHUNK_BYTES, left))
                            if not data:
                                break
                            left -= len(data)
                            chunk = carry + data
                            end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next refresh
                            if end:
                                self._apply(chunk[:end])
                                self.offset += end
                            carry = chunk[end:]
                finally:
                    if enabled:
                        gc.enable()
            return {s.name: s for s in self._studies.values()}

    def _apply(self, data: bytes) -> None:
        # One tight loop with local names: this runs once per journal line (millions for big studies).
        loads, errors = _loads, _DecodeError
        trials, studies, finished = self._trials, self._studies, _FINISHED
        convert, skip, attr_lines, keys = self._converter, self._skip, self._attr_lines, self._attr_keys
        for line in data.split(b"\n"):
            if not line:
                continue
            if skip and (line.startswith(skip) or (line.startswith(attr_lines) and not keys.search(line))):
                continue
            try:
                log = loads(line)
                op = log["op_code"]
                if CREATE_TRIAL < op < SET_TRIAL_SYSTEM_ATTR:  # a trial update
                    tid = log["trial_id"]
                    if not 0 <= tid < len(trials):
                        continue
                    sid, rec = trials[tid]
                    if rec.state in finished or sid not in studies:
                        continue
                    if op == SET_TRIAL_PARAM:
                        text = log["distribution"]
                        fn = convert(text)
                        name = log["param_name"]
                        value = log["param_value_internal"]
                        rec.params[name] = value if fn is None else fn(value)
                        studies[sid].distribution_json[name] = text
                    elif op == SET_TRIAL_USER_ATTR:
                        rec.user_attrs.update(log["user_attr"])
                    elif op == SET_TRIAL_INTERMEDIATE_VALUE:
                        rec.intermediate[int(log["step"])] = log["intermediate_value"]
                    else:
                        self._set_state(rec, log)
                else:
                    self._apply_other(op, log)
            except errors:
                self.bad_lines += 1
            except (KeyError, TypeError, IndexError):
                self.bad_lines += 1

    def _converter(self, text: str) -> Any:
        """The function from the internal to the external value of a distribution's JSON text (None: same)."""
        try:
            return self._dists[text]
        except KeyError:
            fn = self._dists[text] = external_form(text)
            return fn

    @staticmethod
    def _set_state(rec: TrialRecord, log: dict[str, Any]) -> None:
        state = int(log["state"])
        if state == RUNNING and rec.state == RUNNING:
            return  # a popped (enqueued) trial is run by one worker only
        if state == RUNNING:
            rec.datetime_start = _epoch(log.get("datetime_start"))
        if state in _FINISHED:
            rec.datetime_complete = _epoch(log.get("datetime_complete"))
        rec.state = state
        if log.get("values") is not None:
            rec.values = list(log["values"])

    def _apply_other(self, op: int, log: dict[str, Any]) -> None:
        if op == CREATE_TRIAL:
            sid = log["study_id"]
            study = self._studies.get(sid)
            if study is None:
                return
            texts = dict(log.get("distributions") or {})
            fns = {k: self._converter(v) for k, v in texts.items()}
            params = {k: v if fns[k] is None else fns[k](v) for k, v in (log.get("params") or {}).items()}
            values = log.get("values")
            if values is None and log.get("value") is not None:
                values = [log["value"]]
            rec = TrialRecord(
                number=len(study.trials),
                state=int(log.get("state", RUNNING)),
                params=params,
                user_attrs=dict(log.get("user_attrs") or {}),
                intermediate={int(k): v for k, v in (log.get("intermediate_values") or {}).items()},
                values=list(values) if values is not None else None,
                datetime_start=_epoch(log.get("datetime_start")),
                datetime_complete=_epoch(log.get("datetime_complete")),
            )
            study.distribution_json.update(texts)
            study.trials.append(rec)
            self._trials.append((sid, rec))
        elif op == SET_STUDY_USER_ATTR:
            study = self._studies.get(log["study_id"])
            if study is not None:
                study.user_attrs.update(log["user_attr"])
        elif op == CREATE_STUDY:
            name = log["study_name"]
            if name in self._names:
                return
            sid = self._next_study_id
            self._next_study_id += 1
            directions = [_DIRECTION.get(int(d), "not_set") for d in log["directions"]]
            self._studies[sid] = StudyRecord(study_id=sid, name=name, directions=directions)
            self._names[name] = sid
        elif op == DELETE_STUDY:
            study = self._studies.pop(log["study_id"], None)
            if study is not None:
                self._names.pop(study.name, None)
        # SET_STUDY_SYSTEM_ATTR, SET_TRIAL_SYSTEM_ATTR, DISCARD_TRIALS: not shown


def records_from_storage(storage: optuna.storages.BaseStorage) -> dict[str, StudyRecord]:
    """The same records through Optuna's API (any storage; a full read every call)."""
    from optuna.distributions import distribution_to_json

    out: dict[str, StudyRecord] = {}
    for frozen in storage.get_all_studies():
        sid = frozen._study_id
        rec = StudyRecord(
            study_id=sid,
            name=frozen.study_name,
            directions=[d.name.lower() for d in frozen.directions],
            user_attrs=dict(frozen.user_attrs),
        )
        latest: dict[str, BaseDistribution] = {}
        for t in storage.get_all_trials(sid, deepcopy=False):
            latest.update(t.distributions)
            rec.trials.append(
                TrialRecord(
                    number=t.number,
                    state=int(t.state.value),
                    params=dict(t.params),
                    user_attrs=dict(t.user_attrs),
                    intermediate={int(k): v for k, v in t.intermediate_values.items()},
                    values=list(t.values) if t.values is not None else None,
                    datetime_start=t.datetime_start.timestamp() if t.datetime_start else None,
                    datetime_complete=t.datetime_complete.timestamp() if t.datetime_complete else None,
                )
            )
        for name, dist in latest.items():
            text = distribution_to_json(dist)
            _DISTRIBUTIONS.setdefault(text, dist)
            rec.distribution_json[name] = text
        out[rec.name] = rec
    return out
