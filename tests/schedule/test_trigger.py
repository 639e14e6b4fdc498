"""Trigger arithmetic with an explicit clock: cron (5 and 6 fields), periodic, time zones and DST, start and end."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from workbench.errors import SpecError
from workbench.schedule import Trigger

PARIS = ZoneInfo("Europe/Paris")


def at(*args: int, tz: ZoneInfo | timezone = timezone.utc) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp())


def local(epoch: int, tz: ZoneInfo = PARIS) -> str:
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S%z")


def test_cron_fires_on_the_wall_clock_of_its_time_zone_in_winter_and_summer():
    t = Trigger.parse(cron="0 9 * * *", timezone="Europe/Paris")
    winter = t.next_after(at(2024, 1, 10), anchor=0)
    summer = t.next_after(at(2024, 7, 10), anchor=0)
    assert local(winter) == "2024-01-10 09:00:00+0100"
    assert local(summer) == "2024-07-10 09:00:00+0200"
    assert summer - winter != (182 * 86400)  # not a fixed UTC time


def test_spring_forward_a_skipped_time_fires_when_the_clock_jumps():
    t = Trigger.parse(cron="30 2 * * *", timezone="Europe/Paris")
    got = t.due(at(2024, 3, 29, 12), at(2024, 4, 1, 12), anchor=0, limit=10)
    assert [local(x) for x in got] == [
        "2024-03-30 02:30:00+0100",
        "2024-03-31 03:00:00+0200",  # 02:30 does not exist that night
        "2024-04-01 02:30:00+0200",
    ]


def test_fall_back_a_fixed_hour_fires_once_and_a_wildcard_hour_keeps_its_rhythm():
    daily = Trigger.parse(cron="30 2 * * *", timezone="Europe/Paris")
    got = daily.due(at(2024, 10, 26, 12), at(2024, 10, 28, 12), anchor=0, limit=10)
    assert [local(x) for x in got] == ["2024-10-27 02:30:00+0200", "2024-10-28 02:30:00+0100"]
    # next_after walks forward over the repeated hour the same way
    first = daily.next_after(at(2024, 10, 26, 12), anchor=0)
    assert local(daily.next_after(first, anchor=0)) == "2024-10-28 02:30:00+0100"
    half_hourly = Trigger.parse(cron="*/30 * * * *", timezone="Europe/Paris")
    got = half_hourly.due(at(2024, 10, 26, 23, 59), at(2024, 10, 27, 2, 0), anchor=0, limit=100)
    # 01:00 to 04:00 UTC+... : the repeated hour 02:00-03:00 is run twice, every 30 minutes of real time
    assert all(b - a == 1800 for a, b in zip(got, got[1:], strict=False))
    assert [local(x)[11:] for x in got].count("02:30:00+0200") == 1
    assert [local(x)[11:] for x in got].count("02:30:00+0100") == 1


def test_six_fields_have_seconds_first_as_kubeflow_pipelines():
    t = Trigger.parse(cron="15 0 9 * * *")  # second 15, minute 0, hour 9
    assert datetime.fromtimestamp(t.next_after(at(2024, 1, 1), anchor=0), timezone.utc).strftime("%H:%M:%S") == (
        "09:00:15"
    )
    every10 = Trigger.parse(cron="*/10 * * * * *")
    got = every10.due(at(2024, 1, 1, 0, 0, 0), at(2024, 1, 1, 0, 1, 0), anchor=0, limit=100)
    assert len(got) == 6 and got[0] == at(2024, 1, 1, 0, 0, 10) and got[-1] == at(2024, 1, 1, 0, 1, 0)
    assert every10.sub_minute and not Trigger.parse(cron="0 * * * *").sub_minute


def test_periodic_counts_real_seconds_from_its_start_or_creation_and_ignores_dst():
    created = at(2024, 3, 31, 0, 30, tz=PARIS)
    t = Trigger.parse(every="1h", timezone="Europe/Paris")
    got = t.due(created, created + 4 * 3600, anchor=created, limit=10)
    assert got == [created + k * 3600 for k in (1, 2, 3, 4)]  # across the DST jump: still 3600 s apart
    assert t.next_after(created, anchor=created) == created + 3600
    started = Trigger.parse(every="30m", start="2024-01-01T10:00", timezone="Europe/Paris")
    assert started.next_after(0, anchor=0) == at(2024, 1, 1, 10, tz=PARIS)  # fires at its start time


def test_start_and_end_bound_the_occurrences():
    t = Trigger.parse(cron="0 * * * *", start="2024-01-01T10:00:00Z", end="2024-01-01T12:00:00Z")
    got = t.due(0, at(2024, 1, 2), anchor=0, limit=100)
    assert got == [at(2024, 1, 1, 10), at(2024, 1, 1, 11), at(2024, 1, 1, 12)]
    assert t.next_after(at(2024, 1, 1, 12), anchor=0) is None


def test_due_returns_at_most_the_latest_limit_occurrences():
    t = Trigger.parse(every="1m")
    got = t.due(0, 1000 * 60, anchor=0, limit=5)
    assert got == [996 * 60, 997 * 60, 998 * 60, 999 * 60, 1000 * 60]
    assert t.due(1000 * 60, 1000 * 60, anchor=0) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"cron": "61 * * * *"}, "trigger.cron", "invalid cron"),
        ({"cron": "* * * *"}, "trigger.cron", "expected 5 fields"),
        ({"cron": "0 0 1 1 * * 2030"}, "trigger.cron", "expected 5 fields"),
        ({"cron": "0 0 30 2 *"}, "trigger.cron", "never fires"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "trigger.timezone", "unknown time zone"),
        ({"every": "soon"}, "trigger.every", "duration"),
        ({"every": "1.5s"}, "trigger.every", "whole number"),
        ({"cron": "* * * * *", "every": "1m"}, "trigger", "exactly one"),
        ({}, "trigger", "exactly one"),
        ({"every": "1m", "start": "tomorrow"}, "trigger.start", "ISO 8601"),
        ({"every": "1m", "start": "2024-02-01", "end": "2024-01-01"}, "trigger.end", "before the start"),
    ],
)
def test_bad_triggers_are_spec_errors_naming_the_field(kwargs, field, words):
    with pytest.raises(SpecError) as info:
        Trigger.parse(**kwargs)
    assert info.value.path == field and words in info.value.message


def test_a_trigger_survives_its_stored_form():
    t = Trigger.parse(cron="*/5 * * * *", timezone="Europe/Paris", start="2024-01-01T00:00")
    assert Trigger.from_dict(t.to_dict()) == t
