"""Cron schedules of newsletters: which instants they name, in the site's time zone.

A schedule is a five-field crontab line (``0 8 * * mon``) read as cron reads it:

- numeric days of the week are cron's (0 and 7 Sunday, 1 Monday), names work too;
- when both the day of the month and the day of the week are restricted, a day matching
  either fires (``0 8 1,15 * mon``: the 1st, the 15th and every Monday);
- times are wall-clock times in the site's zone. A time a daylight-saving change skips
  fires as zoneinfo resolves it (fold=0: an hour later, as everywhere in Newsroom); a time
  a change repeats fires once, at its first occurrence.

The instants are computed here, day by day over the calendar, not by APScheduler 3's
``CronTrigger``, which skips the first midnight after the spring change in some zones
and fires a repeated wall time twice. :meth:`Schedule.trigger` wraps a schedule as an
APScheduler trigger, so the daemon fires at exactly the instants editions are named by.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

__all__ = ["Schedule", "ScheduleError"]

_LONGEST_GAP_DAYS = 366 * 8   # "0 8 29 2 *" fires once in four years; give up beyond eight
_REFERENCE = datetime(2024, 1, 1, tzinfo=UTC)   # where the cadence of a schedule is measured
_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("weekday", 0, 7, _WEEKDAYS))


class ScheduleError(ValueError):
    """Not a five-field cron line that ever fires."""


@dataclass(frozen=True)
class _Fields:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]     # 0 Sunday … 6 Saturday
    any_day: bool                # day of month is *
    any_weekday: bool            # day of week is *

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return by_weekday
        if self.any_weekday:
            return by_day
        return by_day or by_weekday   # both restricted: either, as cron does


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: ZoneInfo

    @classmethod
    def parse(cls, cron: str, timezone: ZoneInfo) -> Schedule:
        schedule = cls(cron, timezone)
        schedule.fields   # noqa: B018  # read now, so a bad line is a configuration error
        if schedule.next_after(_REFERENCE) is None:
            raise ScheduleError(f"{cron!r} never fires")
        return schedule

    @cached_property
    def fields(self) -> _Fields:
        parts = self.cron.split()
        if len(parts) != 5:
            raise ScheduleError(f"{self.cron!r}: expected five fields (minute hour day month weekday)")
        values = [_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(day % 7 for day in values[4])
        return _Fields(tuple(sorted(values[0])), tuple(sorted(values[1])), frozenset(values[2]),
                       frozenset(values[3]), weekdays, parts[2] == "*", parts[4] == "*")

    # -- instants ---------------------------------------------------------------------------

    def next_after(self, when: datetime) -> datetime | None:
        """The first instant strictly after ``when``."""
        return next(self._forward(when), None)

    def latest_at_or_before(self, when: datetime) -> datetime | None:
        """The last instant at or before ``when`` (None if it never fired in eight years)."""
        return next(self._backward(when), None)

    def previous_before(self, instant: datetime) -> datetime | None:
        """The last instant strictly before ``instant``."""
        return next(self._backward(instant - timedelta(microseconds=1)), None)

    def _day_instants(self, day: date) -> list[datetime]:
        """The day's instants in order, each wall time resolved with fold=0; a wall time
        that is the second occurrence of a repeated hour is not one of them (fold=0 names
        the first)."""
        if not self.fields.fires_on(day):
            return []
        zone = self.timezone
        stamps = {datetime.combine(day, time(hour, minute), zone).timestamp()
                  for hour in self.fields.hours for minute in self.fields.minutes}
        # a skipped wall time moves an hour later and can land on another of the day's times
        return [datetime.fromtimestamp(stamp, zone) for stamp in sorted(stamps)]

    def _forward(self, after: datetime) -> Iterator[datetime]:
        cutoff = after.timestamp()
        start = after.astimezone(self.timezone).date() - timedelta(days=1)
        for offset in range(_LONGEST_GAP_DAYS + 2):
            instants = self._day_instants(start + timedelta(days=offset))
            stamps = [i.timestamp() for i in instants]
            yield from instants[bisect.bisect_right(stamps, cutoff):]

    def _backward(self, until: datetime) -> Iterator[datetime]:
        cutoff = until.timestamp()
        start = until.astimezone(self.timezone).date() + timedelta(days=1)
        for offset in range(_LONGEST_GAP_DAYS + 2):
            instants = self._day_instants(start - timedelta(days=offset))
            stamps = [i.timestamp() for i in instants]
            yield from reversed(instants[:bisect.bisect_right(stamps, cutoff)])

    # -- names --------------------------------------------------------------------------------

    @cached_property
    def at_least_weekly_apart(self) -> bool:
        """Are consecutive instants a week apart or more (give or take an hour of DST)?"""
        week = timedelta(days=7, hours=-1).total_seconds()
        return all(b.timestamp() - a.timestamp() >= week for a, b in self._sample_pairs())

    @cached_property
    def at_least_daily_apart(self) -> bool:
        """Does every instant fall on a day of its own?"""
        return all(a.date() != b.date() for a, b in self._sample_pairs())

    def _sample_pairs(self) -> list[tuple[datetime, datetime]]:
        return list(itertools.pairwise(itertools.islice(self._forward(_REFERENCE), 60)))

    def label(self, instant: datetime) -> str:
        """A stable name for the edition of ``instant``: its ISO week (``2026-W49``) for a
        schedule a week apart or more, its date (``2026-12-01``) for one at most daily,
        and date and time (``2026-12-01-0800``) for one more often."""
        local = instant.astimezone(self.timezone)
        if self.at_least_weekly_apart:
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        if self.at_least_daily_apart:
            return local.strftime("%Y-%m-%d")
        return local.strftime("%Y-%m-%d-%H%M")

    def trigger(self):
        """This schedule as an APScheduler trigger (for ``newsroom run``)."""
        from apscheduler.triggers.base import BaseTrigger

        schedule = self

        class _Trigger(BaseTrigger):
            def get_next_fire_time(self, previous_fire_time, now):
                if previous_fire_time is None:   # the first: at or after now
                    return schedule.next_after(now - timedelta(microseconds=1))
                return schedule.next_after(previous_fire_time)

            def __str__(self) -> str:
                return f"cron[{schedule.cron}]"

        return _Trigger()


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values of one cron field (``*``, ``*/15``, ``1-5``, ``mon-fri``, ``0,30``)."""
    values: set[int] = set()
    for part in text.lower().split(","):
        match = re.fullmatch(r"(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?", part)
        if not match:
            raise ScheduleError(f"{name} {part!r}: not a cron value")
        first, last, step = match.groups()
        start = low if first == "*" else _value(first, name, low, high, names)
        if first == "*":
            end = high if name != "weekday" else 6
        elif last is not None:
            end = _value(last, name, low, high, names)
        else:
            end = high if step else start   # "5/10" runs on to the end of the range, as in cron
        if start > end:
            raise ScheduleError(f"{name} {part!r}: the range runs backwards")
        if step is not None and int(step) < 1:
            raise ScheduleError(f"{name} {part!r}: a step is at least 1")
        values.update(range(start, end + 1, int(step or 1)))
    return values


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"{name} {text!r}: not a number{' or a name' if names else ''}")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{name} {text!r}: out of range {low}-{high}")
    return value
