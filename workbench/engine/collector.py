"""The metrics collector: parses a step's output stream live.

A StdOut collector understands three formats on every line of the step's output:

- ``workbench.runtime.report(...)`` marker lines;
- JSON lines: ``{"loss": 0.3, "step": 2}`` (``step``/``epoch`` give the index);
- Katib StdOut: ``name=value`` pairs anywhere on a line, found with Katib's default
  regex or the experiment's ``metricsFormat`` regexes.

A File collector reads only its file (TEXT: the regexes, JSON: JSON lines), tailing it
while the step runs, as Katib's does: the step's output, ``report()`` lines included,
is not parsed. A Push (or None) collector takes ``report()`` lines only.

Every value is also kept per step (its ``origin``), in the order it came, so that a step
served from the cache replays exactly what the original step yielded (:meth:`recorded`,
:meth:`replay`), whatever the collector read it from.

Example:
    >>> seen = []
    >>> c = MetricsCollector(["loss"], on_metric=lambda n, v, i, origin: seen.append((n, v, i)))
    >>> c.feed("epoch 1: loss=0.5 other=3")
    >>> c.feed('{"loss": 0.25, "step": 7}')
    >>> seen
    [('loss', 0.5, 0), ('loss', 0.25, 7)]
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from workbench.runtime import METRIC_MARKER
from workbench.spec import DEFAULT_METRICS_FORMAT

#: ``on_metric(name, value, index, origin)``; ``origin`` is the step that reported it.
MetricCallback = Callable[[str, float, int, str], None]
#: One collected value as a step yielded it: ``(name, value, index)``, ``index`` ``None`` when the
#: value came without one (a Katib StdOut line).
Collected = tuple[str, float, int | None]
_INDEX_KEYS = ("step", "epoch", "timestamp_step")


def _linear(pattern: str) -> str:
    """Katib's default format, anchored at the start of a name: same matches, linear time on a long word.

    (Unanchored, a search retries from every character of a long run of word characters with no
    ``=`` after it: quadratic; a 40 KB line of letters took 16 s.)
    """
    return _DEFAULT_LINEAR if pattern == DEFAULT_METRICS_FORMAT else pattern


_DEFAULT_LINEAR = r"(?<![\w|-])" + DEFAULT_METRICS_FORMAT


class MetricsCollector:
    """Collects values of the named metrics; calls ``on_metric(name, value, index, origin)`` for each.

    ``stdout``: parse JSON lines and ``name=value`` pairs in the step's output (a StdOut collector);
    ``markers``: take ``report()`` lines (every collector but File). Values replayed from a cached
    step go to ``on_replayed`` instead of ``on_metric``.
    """

    def __init__(
        self,
        metric_names: Iterable[str],
        on_metric: MetricCallback | None = None,
        formats: Iterable[str] | None = None,
        stdout: bool = True,
        markers: bool = True,
        on_replayed: MetricCallback | None = None,
    ) -> None:
        self.metric_names = set(metric_names)
        self.on_metric = on_metric
        self.on_replayed = on_replayed
        self.regexes = [re.compile(_linear(f)) for f in (formats or [DEFAULT_METRICS_FORMAT])]
        self.stdout = stdout
        self.markers = markers
        self.values: dict[str, list[tuple[int, float]]] = {}
        self._explicit: set[str] = set()
        self._records: dict[str, list[Collected]] = {}
        self._lock = threading.Lock()

    def begin(self, origin: str) -> None:
        """A new attempt of step ``origin`` starts: what it yields is recorded afresh."""
        with self._lock:
            self._records[origin] = []

    def recorded(self, origin: str) -> list[Collected]:
        """What step ``origin`` yielded since :meth:`begin`, in order."""
        with self._lock:
            return list(self._records.get(origin, []))

    def replay(self, origin: str, collected: Iterable[Collected]) -> None:
        """Take the values a cached step yielded when it ran, as if ``origin`` yielded them now.

        Each goes to ``on_replayed`` (not ``on_metric``): a replayed history is not a live one.
        """
        for name, value, index in collected:
            self._add(name, float(value), None if index is None else int(index), origin, live=False)

    def _add(self, name: str, value: float, index: int | None, origin: str, live: bool = True) -> None:
        if name not in self.metric_names or math.isnan(value):
            return
        with self._lock:
            self._records.setdefault(origin, []).append((name, value, index))
            series = self.values.setdefault(name, [])
            if index is None:
                # Katib StdOut values have no step: number them in order. Once a metric was
                # reported with explicit steps, a step-less value (a final score printed at the
                # end) only counts for the final value, not as an intermediate value.
                idx = series[-1][0] + 1 if series else 0
                intermediate = name not in self._explicit
            else:
                idx = index
                intermediate = True
                self._explicit.add(name)
            series.append((idx, value))
        callback = self.on_metric if live else self.on_replayed
        if callback is not None and intermediate:
            callback(name, value, idx, origin)

    def _json(self, text: str, origin: str) -> bool:
        try:
            obj = json.loads(text)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
        index = next((obj[k] for k in _INDEX_KEYS if isinstance(obj.get(k), (int, float))), None)
        for key, raw in obj.items():
            if key in _INDEX_KEYS or key == "timestamp":
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            self._add(key, value, int(index) if index is not None else None, origin)
        return True

    def _regex(self, text: str, origin: str) -> None:
        for regex in self.regexes:
            if regex.pattern == _DEFAULT_LINEAR and "=" not in text:
                continue  # no name=value here (a fast path for long lines of other output)
            for match in regex.finditer(text):
                name, raw = match.group(1), match.group(2)
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    continue
                self._add(name.strip(), value, None, origin)

    def feed(self, line: str, from_file: str | None = None, origin: str = "") -> None:
        """Parse one line of output (``from_file``: ``"TEXT"`` or ``"JSON"`` for a metrics file)."""
        text = line.strip()
        if not text:
            return
        if text.startswith(METRIC_MARKER.strip()):
            if self.markers and from_file is None:
                self._json(text[len(METRIC_MARKER.strip()) :].strip(), origin)
            return
        if from_file == "JSON" or (from_file is None and self.stdout and text.startswith("{")):
            if self._json(text, origin) or from_file == "JSON":
                return
        if from_file == "TEXT" or self.stdout:
            self._regex(text, origin)

    def final(self, name: str, strategy: str) -> float | None:
        """The metric's value after its strategy (``min``, ``max`` or ``latest``), or ``None``."""
        with self._lock:
            series = [v for _, v in self.values.get(name, [])]
        if not series:
            return None
        if strategy == "min":
            return min(series)
        if strategy == "max":
            return max(series)
        return series[-1]


class FileTailer:
    """Feeds lines appended to a metrics file into a collector while a step runs."""

    def __init__(
        self, path: Path, collector: MetricsCollector, fmt: str, interval: float = 0.2, origin: str = ""
    ) -> None:
        self.origin = origin
        self.path = path
        self.collector = collector
        self.fmt = fmt
        self.interval = interval
        self._offset = 0
        self._partial = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"tail-{path.name}", daemon=True)

    def start(self) -> FileTailer:
        self._thread.start()
        return self

    def _read(self) -> None:
        if not self.path.is_file():
            return
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
            self._offset = fh.tell()
        if not chunk:
            return
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.collector.feed(line, from_file=self.fmt, origin=self.origin)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()

    def stop(self) -> None:
        """Stop tailing and read whatever is left (including a last line with no newline)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._read()
        if self._partial:
            self.collector.feed(self._partial, from_file=self.fmt, origin=self.origin)
            self._partial = ""


def wait_quietly(seconds: float, stop: threading.Event) -> bool:
    """Sleep up to ``seconds``; return ``True`` early if ``stop`` is set."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return stop.is_set()
        if stop.wait(min(left, 0.5)):
            return True
