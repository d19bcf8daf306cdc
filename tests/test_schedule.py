"""Newsletter schedules: cron lines read as cron means them, instants across DST, edition labels."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.schedule import Schedule, ScheduleError

from .conftest import HELSINKI, SITE_TOML


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=HELSINKI)


def test_the_latest_instant_at_or_before_now_and_the_one_before():
    weekly = Schedule.parse("0 8 * * mon", HELSINKI)
    now = at(2026, 12, 1, 12)
    assert weekly.latest_at_or_before(now) == at(2026, 11, 30, 8)
    assert weekly.previous_before(at(2026, 11, 30, 8)) == at(2026, 11, 23, 8)
    assert weekly.next_after(now) == at(2026, 12, 7, 8)
    # an instant is its own latest
    assert weekly.latest_at_or_before(at(2026, 11, 30, 8)) == at(2026, 11, 30, 8)


@pytest.mark.parametrize("cron, weekday", [("0 8 * * 1", 0), ("0 8 * * mon", 0), ("0 8 * * 0", 6),
                                           ("0 8 * * 7", 6), ("0 8 * * 5", 4)])
def test_numeric_weekdays_mean_what_they_mean_in_cron(cron, weekday):
    """APScheduler 3 counts Monday as 0; cron (and every user) counts Sunday as 0."""
    instant = Schedule.parse(cron, HELSINKI).next_after(at(2026, 12, 1, 12))
    assert instant.weekday() == weekday and instant.hour == 8


def test_weekday_ranges_and_steps():
    workdays = Schedule.parse("0 8 * * 1-5", HELSINKI)
    instants = [workdays.next_after(at(2026, 12, 5, 12))]   # a Saturday
    for _ in range(5):
        instants.append(workdays.next_after(instants[-1]))
    assert [i.weekday() for i in instants] == [0, 1, 2, 3, 4, 0]
    every_other = Schedule.parse("0 8 * * */2", HELSINKI)   # cron: Sunday, Tuesday, Thursday, Saturday
    first = every_other.next_after(at(2026, 12, 5, 12))
    days = [first.weekday(), every_other.next_after(first).weekday()]
    assert days == [6, 1]


def test_a_weekly_schedule_across_the_autumn_dst_change():
    sunday_morning = Schedule.parse("0 8 * * sun", HELSINKI)
    after = sunday_morning.latest_at_or_before(at(2026, 10, 26, 12))
    before = sunday_morning.previous_before(after)
    assert after.isoformat() == "2026-10-25T08:00:00+02:00"
    assert before.isoformat() == "2026-10-18T08:00:00+03:00"
    assert after.timestamp() - before.timestamp() == timedelta(days=7, hours=1).total_seconds()


def test_a_wall_time_the_autumn_change_repeats_fires_once():
    nightly = Schedule.parse("30 3 * * *", HELSINKI)
    instants = [nightly.next_after(at(2026, 10, 24, 12))]
    for _ in range(2):
        instants.append(nightly.next_after(instants[-1]))
    assert [i.isoformat() for i in instants] == [
        "2026-10-25T03:30:00+03:00", "2026-10-26T03:30:00+02:00", "2026-10-27T03:30:00+02:00"]


def test_a_wall_time_the_spring_change_skips_fires_an_hour_later():
    nightly = Schedule.parse("30 3 * * *", HELSINKI)
    instant = nightly.next_after(at(2026, 3, 28, 12))
    # 03:30 does not exist on 29 March in Helsinki: it fires at the same instant as 04:30 EEST
    assert instant.timestamp() == datetime.fromisoformat("2026-03-29T04:30:00+03:00").timestamp()


@pytest.mark.parametrize("cron, label", [
    ("0 8 * * mon", "2026-W49"),          # weekly: the ISO week
    ("0 9 1 * *", "2026-W49"),            # monthly: a week apart or more
    ("0 8 * * 1-5", "2026-12-01"),        # more often than weekly: the date
    ("0 8,20 * * *", "2026-12-01-0800"),  # more often than daily: date and time
])
def test_edition_labels_are_stable_names(cron, label):
    schedule = Schedule.parse(cron, HELSINKI)
    instant = schedule.latest_at_or_before(at(2026, 12, 1, 12))
    assert schedule.label(instant) == label
    assert schedule.label(instant) == Schedule.parse(cron, HELSINKI).label(instant)


def test_a_rare_schedule_is_found_years_back():
    leap = Schedule.parse("0 0 29 2 *", HELSINKI)
    assert leap.latest_at_or_before(at(2026, 12, 1)) == at(2024, 2, 29)
    assert leap.previous_before(at(2024, 2, 29)) == at(2020, 2, 29)


@pytest.mark.parametrize("cron, message", [
    ("0 8 * *", "expected five fields"),
    ("61 8 * * *", "61"),
    ("0 8 * * 9", "out of range"),
    ("0 8 31 2 *", "never fires"),
    ("0 8 * * funday", "funday"),
])
def test_bad_schedules_are_clear_errors(cron, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(cron, HELSINKI)


def test_a_bad_schedule_in_newsroom_toml_names_the_key(tmp_path):
    path = tmp_path / "newsroom.toml"
    path.write_text(SITE_TOML + '\n[[newsletters]]\nid = "w"\ntitle = "W"\nschedule = "0 8 * * 9"\n')
    with pytest.raises(ConfigError, match=r"newsletters\[0\]\.schedule: weekday '9'"):
        load_config(path)


def test_the_first_midnight_after_the_spring_change_is_not_skipped():
    """APScheduler 3's CronTrigger skips 2026-03-30 00:00 in Helsinki; these instants do not."""
    midnight = Schedule.parse("0 0 * * *", HELSINKI)
    assert midnight.next_after(at(2026, 3, 29)) == at(2026, 3, 30)
    for hour in (0, 1, 12, 23):
        assert midnight.latest_at_or_before(at(2026, 3, 30, hour)) == at(2026, 3, 30)
    weekly = Schedule.parse("0 0 * * mon", HELSINKI)
    assert weekly.latest_at_or_before(at(2026, 4, 1)) == at(2026, 3, 30)
    assert weekly.previous_before(at(2026, 3, 30)) == at(2026, 3, 23)


def test_every_day_of_years_has_its_daily_instant():
    daily = Schedule.parse("0 0 * * *", HELSINKI)
    instant, seen = at(2025, 12, 31), []
    for _ in range(3 * 366):
        instant = daily.next_after(instant)
        seen.append(instant.date())
    assert all((b - a).days == 1 for a, b in itertools.pairwise(seen))


def test_day_of_month_and_weekday_together_fire_on_either_as_in_cron():
    schedule = Schedule.parse("0 8 1,15 * mon", HELSINKI)
    instant, days = at(2026, 6, 1, 12), []
    for _ in range(6):
        instant = schedule.next_after(instant)
        days.append(instant.date().isoformat())
    assert days == ["2026-06-08", "2026-06-15", "2026-06-22", "2026-06-29", "2026-07-01", "2026-07-06"]


def test_the_apscheduler_trigger_fires_at_the_same_instants():
    weekly = Schedule.parse("0 0 * * mon", HELSINKI)
    trigger = weekly.trigger()
    first = trigger.get_next_fire_time(None, at(2026, 3, 23))
    assert first == at(2026, 3, 23)   # at or after now
    assert trigger.get_next_fire_time(first, at(2026, 3, 23, 0, 1)) == at(2026, 3, 30)
