"""Triggers of recurring runs: cron (5 fields, or 6 with seconds first, as Kubeflow Pipelines) or periodic.

Occurrences are whole seconds since the epoch (UTC). A **cron** trigger is evaluated on the wall
clock of its time zone (``croniter`` + ``zoneinfo``), so ``0 9 * * *`` in ``Europe/Paris`` fires at
09:00 Paris time in winter and in summer. Across a DST change:

- a time skipped when clocks go forward (02:30 on the last Sunday of March in Paris) fires when
  the clock jumps, at 03:00;
- a time that happens twice when clocks go back fires once if the cron names its hour
  (``30 2 * * *``), and both times if the hour is a wildcard (``*/30 * * * *`` keeps its rhythm).

A **periodic** trigger fires every N seconds of real time, anchored at its start time (or when
the schedule was created): DST does not move it.

Example:
    >>> t = Trigger.parse(cron="0 9 * * *", timezone="Europe/Paris")
    >>> from datetime import datetime, timezone
    >>> jan = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
    >>> datetime.fromtimestamp(t.next_after(jan, anchor=jan), timezone.utc).isoformat()
    '2024-01-01T08:00:00+00:00'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workbench.errors import SpecError

#: Catch-up never runs more missed occurrences than this (the latest ones).
MAX_CATCHUP = 100
#: croniter's descriptors (``@daily``...) accepted next to 5- and 6-field expressions.
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def parse_time(value: str | datetime | None, tz: str, field: str) -> int | None:
    """An ISO 8601 time as epoch seconds; a time without an offset is in ``tz``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise SpecError(f"expected an ISO 8601 time such as 2025-01-31T09:00 or 2025-01-31T09:00+01:00, "
                            f"got {value!r}", path=field) from None  # fmt: skip
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return math.ceil(dt.timestamp())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SpecError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris or UTC)",
                        path="trigger.timezone") from None  # fmt: skip


@dataclass(frozen=True)
class Trigger:
    """When a schedule fires: ``cron`` or ``every`` (seconds), bounded by ``start``/``end`` (epoch seconds)."""

    cron: str | None = None
    every: int | None = None
    timezone: str = "UTC"
    start: int | None = None
    end: int | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def parse(
        cls,
        cron: str | None = None,
        every: str | float | None = None,
        timezone: str | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
    ) -> Trigger:
        """A validated trigger; every problem is a ``SpecError`` naming the field (``trigger.cron``, ...)."""
        tz = timezone or "UTC"
        _zone(tz)
        if (cron is None) == (every is None):
            raise SpecError("give exactly one of a cron expression or a period (every)", path="trigger")
        seconds = None
        if every is not None:
            from workbench.spec import parse_duration

            try:
                value = parse_duration(every)
            except ValueError as err:
                raise SpecError(str(err), path="trigger.every") from None
            assert value is not None
            if value < 1 or value != int(value):
                raise SpecError(f"the period must be a whole number of seconds, at least 1s, got {every!r}",
                                path="trigger.every")  # fmt: skip
            seconds = int(value)
        trigger = cls(
            cron=" ".join(cron.split()) if cron is not None else None,
            every=seconds,
            timezone=tz,
            start=parse_time(start, tz, "trigger.start"),
            end=parse_time(end, tz, "trigger.end"),
        )
        if trigger.start is not None and trigger.end is not None and trigger.end < trigger.start:
            raise SpecError("the end time is before the start time", path="trigger.end")
        if trigger.cron is not None:
            trigger._check_cron()
        return trigger

    def _check_cron(self) -> None:
        from croniter import CroniterBadDateError, croniter

        expr = self.cron or ""
        fields = expr.split()
        if not (len(fields) in (5, 6) or (len(fields) == 1 and fields[0].lower() in _DESCRIPTORS)):
            raise SpecError(
                f"expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first "
                f"(second minute hour day-of-month month day-of-week) or @hourly/@daily/..., got {expr!r}",
                path="trigger.cron",
            )
        try:
            if not croniter.is_valid(expr, second_at_beginning=self.seconds_field):
                raise ValueError(expr)
            self._iter(0).get_next(float)
        except CroniterBadDateError:
            raise SpecError(f"{expr!r} never fires", path="trigger.cron") from None
        except (ValueError, KeyError, TypeError) as err:
            raise SpecError(f"invalid cron expression {expr!r}" + (f": {err}" if str(err) != expr else ""),
                            path="trigger.cron") from None  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trigger:
        values = {k: data.get(k) for k in ("cron", "every", "start", "end")}
        return cls(**values, timezone=data.get("timezone") or "UTC")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # ------------------------------------------------------------------ arithmetic

    @property
    def seconds_field(self) -> bool:
        """A 6-field cron: seconds come first (Kubeflow Pipelines' format)."""
        return self.cron is not None and len(self.cron.split()) == 6

    @property
    def sub_minute(self) -> bool:
        """True if two occurrences can fall in the same minute (names of occurrences then show seconds)."""
        return self.seconds_field or (self.every is not None and self.every % 60 != 0)

    def describe(self) -> str:
        what = f"cron {self.cron!r}" if self.cron else f"every {_period(self.every or 0)}"
        return what + (f" ({self.timezone})" if self.cron and self.timezone != "UTC" else "")

    def _iter(self, at: float) -> Any:
        from croniter import croniter

        tz = ZoneInfo(self.timezone)
        return croniter(self.cron, datetime.fromtimestamp(at, tz), second_at_beginning=self.seconds_field)

    def _repeated(self, t: datetime) -> bool:
        """``t`` is the second pass through a wall time the clock went back over, and the cron names its hour."""
        fields = (self.cron or "").split()
        hour = fields[2] if self.seconds_field else fields[1] if len(fields) >= 5 else "*"
        if hour.startswith("*"):
            return False
        tz = ZoneInfo(self.timezone)
        wall = t.replace(tzinfo=None)
        first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
        return first.utcoffset() != second.utcoffset() and t.utcoffset() == second.utcoffset()

    def _periodic_anchor(self, anchor: int) -> int:
        return self.start if self.start is not None else anchor

    def next_after(self, after: int, anchor: int) -> int | None:
        """The first occurrence strictly after ``after`` (``None`` past the end).

        ``anchor`` is when the schedule was created: a periodic trigger without a start time counts
        its periods from there.
        """
        after = int(after)
        if self.start is not None:
            after = max(after, self.start - 1)
        if self.every is not None:
            base = self._periodic_anchor(anchor)
            k = max(0, (after - base) // self.every + 1)
            t = base + k * self.every
            if self.start is None and t == base:
                t += self.every  # the first period ends one period after the schedule was created
        else:
            it = self._iter(after)
            while True:
                nxt = it.get_next(datetime)
                if not self._repeated(nxt):
                    break
            t = int(nxt.timestamp())
        if self.end is not None and t > self.end:
            return None
        return t

    def due(self, cursor: int, now: int, anchor: int, limit: int = 1) -> list[int]:
        """The latest ``limit`` occurrences in ``(cursor, now]``, oldest first (within start and end)."""
        cursor, now = int(cursor), int(now)
        if self.start is not None:
            cursor = max(cursor, self.start - 1)
        if self.end is not None:
            now = min(now, self.end)
        if now <= cursor or limit <= 0:
            return []
        out: list[int] = []
        if self.every is not None:
            base = self._periodic_anchor(anchor)
            first = base if self.start is not None else base + self.every
            if now < first:
                return []
            k = (now - base) // self.every
            while len(out) < limit:
                t = base + k * self.every
                if t <= cursor or t < first:
                    break
                out.append(t)
                k -= 1
        else:
            it = self._iter(now + 1)
            while len(out) < limit:
                prev = it.get_prev(datetime)
                t = int(prev.timestamp())
                if t <= cursor:
                    break
                if t <= now and not self._repeated(prev):
                    out.append(t)
        return sorted(out)


def _period(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def iso(epoch: float | None, tz: str = "UTC") -> str:
    """An epoch time as ISO 8601 in time zone ``tz`` (``-`` for ``None``)."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, ZoneInfo(tz) if tz != "UTC" else timezone.utc).isoformat()


__all__ = ["MAX_CATCHUP", "Trigger", "iso", "parse_time"]
