"""Cron schedules of newsletters: which instants they name, in the site's time zone.

A schedule is a five-field crontab line (``0 8 * * mon``), read with APScheduler's
``CronTrigger`` (the daemon fires the same trigger, so an edition's instant here is the
instant the daemon runs it). Two things differ from APScheduler's own reading:

- numeric days of the week mean what they mean in cron (0 and 7 are Sunday, 1 Monday);
  APScheduler 3 counts from Monday = 0, so ``0 8 * * 1`` would fire on Tuesdays;
- a wall time that a daylight-saving change repeats fires once, at its first occurrence
  (fold=0, as everywhere else in Newsroom); APScheduler would fire it twice.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["Schedule", "ScheduleError"]

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONGEST_GAP = timedelta(days=366 * 8)   # "0 8 29 2 mon" fires once in years; give up beyond
_REFERENCE = datetime(2024, 1, 1, tzinfo=UTC)   # where the cadence of a schedule is measured


class ScheduleError(ValueError):
    """Not a five-field cron line that ever fires."""


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: ZoneInfo

    @classmethod
    def parse(cls, cron: str, timezone: ZoneInfo) -> Schedule:
        schedule = cls(cron, timezone)
        schedule.trigger   # noqa: B018  # parsed now, so a bad line is a configuration error
        if schedule.next_after(_REFERENCE) is None:
            raise ScheduleError(f"{cron!r} never fires")
        return schedule

    @cached_property
    def trigger(self) -> CronTrigger:
        fields = self.cron.split()
        if len(fields) != 5:
            raise ScheduleError(f"{self.cron!r}: expected five fields (minute hour day month weekday)")
        fields[4] = _cron_weekdays(fields[4])
        try:
            return CronTrigger.from_crontab(" ".join(fields), timezone=self.timezone)
        except ValueError as exc:
            raise ScheduleError(f"{self.cron!r}: {exc}") from None

    def next_after(self, when: datetime) -> datetime | None:
        """The first instant strictly after ``when``."""
        return next(self._instants(when), None)

    def latest_at_or_before(self, when: datetime) -> datetime | None:
        """The last instant at or before ``when`` (None if it never fired in years)."""
        pair = self._last_two(when)
        return pair[1] if pair else None

    def previous_before(self, instant: datetime) -> datetime | None:
        """The instant before ``instant`` (an instant of this schedule)."""
        pair = self._last_two(instant)
        return pair[0] if pair else None

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
        sample = list(itertools.islice(self._instants(_REFERENCE), 60))
        return list(itertools.pairwise(sample))

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

    # -- the instants --------------------------------------------------------------

    def _last_two(self, when: datetime) -> tuple[datetime | None, datetime] | None:
        """The two latest instants at or before ``when``, looking back ever further."""
        span = timedelta(hours=1)
        while span <= _LONGEST_GAP * 2:
            earlier, latest = None, None
            for instant in self._instants(_utc_minus(when, span)):
                if instant.timestamp() > when.timestamp():
                    break
                earlier, latest = latest, instant
            if earlier is not None:
                return earlier, latest  # type: ignore[return-value]
            span *= 2
        return (None, latest) if latest is not None else None

    def _instants(self, after: datetime) -> Iterator[datetime]:
        """Every instant strictly after ``after``, in order, each wall time once."""
        trigger = self.trigger
        previous = after.astimezone(self.timezone)
        start = previous + timedelta(microseconds=1)
        limit = after.timestamp() + _LONGEST_GAP.total_seconds()
        while True:
            fire = trigger.get_next_fire_time(None, start)
            if fire is None or fire.timestamp() > limit:
                return
            if fire.timestamp() <= previous.timestamp():   # APScheduler repeats itself at a DST fold
                start = _utc_minus(previous, -timedelta(minutes=1))
                continue
            start = _utc_minus(fire, -timedelta(microseconds=1))
            previous = fire
            if _repeated_wall_time(fire, self.timezone):
                continue   # the second 03:30 of an autumn DST change: once is enough
            limit = fire.timestamp() + _LONGEST_GAP.total_seconds()
            yield fire


def _repeated_wall_time(instant: datetime, zone: ZoneInfo) -> bool:
    """Is ``instant`` the second occurrence of its wall time (the hour a DST change repeats)?"""
    first = instant.astimezone(zone).replace(tzinfo=None).replace(tzinfo=zone, fold=0)
    return first.timestamp() < instant.timestamp()


def _utc_minus(when: datetime, span: timedelta) -> datetime:
    """``when - span`` as instants (aware arithmetic in one zone is wall-clock arithmetic)."""
    return (when.astimezone(UTC) - span).astimezone(when.tzinfo)


def _cron_weekdays(field: str) -> str:
    """Cron's numeric weekdays (0 and 7 Sunday) as names, which APScheduler reads the same."""
    if not re.search(r"\d", field):
        return field
    names: list[str] = []
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            if re.search(r"\d", part):
                raise ScheduleError(f"weekday {part!r}: use numbers 0-7 or names (mon, tue, …)")
            names.append(part)
            continue
        first, last, step = match.groups()
        start = 0 if first == "*" else int(first)
        end = (6 if first == "*" else int(last) if last is not None
               else 7 if step else start)   # "1/2" runs on to Sunday, as in cron
        if not (0 <= start <= 7 and 0 <= end <= 7 and start <= end):
            raise ScheduleError(f"weekday {part!r}: out of range 0-7")
        names.extend(_DAY_NAMES[day] for day in range(start, end + 1, int(step or 1)))
    return ",".join(dict.fromkeys(names))
