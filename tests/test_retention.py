"""Retention at the edges of the calendar: periods are counted in the policy's time zone, across a
month's end, a year's end and a daylight-saving change."""

import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from vaults.retention import points_to_keep


def policy(zone, daily=0, weekly=0, monthly=0, yearly=0):
    return SimpleNamespace(time_zone=zone, retain_daily=daily, retain_weekly=weekly, retain_monthly=monthly,
                           retain_yearly=yearly)


def points(zone, *local_times):
    """Recovery points made at these local times (in `zone`), named by their local time."""
    tz = ZoneInfo(zone)
    return [SimpleNamespace(pk=text, created_at=datetime.datetime.fromisoformat(text).replace(tzinfo=tz)
                            .astimezone(datetime.timezone.utc)) for text in local_times]


def at(zone, text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_daily_days_are_local_days_across_the_spring_forward():
    zone = "America/New_York"  # clocks went from 02:00 to 03:00 on 2026-03-08: that day has 23 hours
    made = points(zone, "2026-03-06T23:30", "2026-03-07T01:00", "2026-03-07T23:30", "2026-03-08T03:30",
                  "2026-03-08T23:30", "2026-03-09T00:30")
    keep = points_to_keep(made, policy(zone, daily=3), at(zone, "2026-03-09T12:00"))
    # The newest of 03-09, 03-08 and 03-07 (local days); 23:30 on 03-07 is already 03-08 in UTC.
    assert keep == {"2026-03-09T00:30", "2026-03-08T23:30", "2026-03-07T23:30"}


def test_daily_days_are_local_days_across_the_fall_back():
    zone = "Europe/Berlin"  # clocks went from 03:00 back to 02:00 on 2026-10-25: that day has 25 hours
    made = points(zone, "2026-10-24T22:00", "2026-10-25T00:30", "2026-10-25T23:59", "2026-10-26T00:01")
    keep = points_to_keep(made, policy(zone, daily=2), at(zone, "2026-10-26T08:00"))
    assert keep == {"2026-10-26T00:01", "2026-10-25T23:59"}


def test_monthly_across_a_year_end():
    zone = "Asia/Seoul"
    made = points(zone, "2026-11-30T22:00", "2026-12-15T22:00", "2026-12-31T23:30", "2027-01-01T00:30",
                  "2027-01-14T22:00")
    keep = points_to_keep(made, policy(zone, monthly=2), at(zone, "2027-01-15T09:00"))
    # January's newest and December's newest (23:30 on New Year's Eve in Seoul is December, though
    # 00:30 on New Year's Day there is still December 31 in UTC).
    assert keep == {"2027-01-14T22:00", "2026-12-31T23:30"}


def test_yearly_counts_the_local_year():
    zone = "Asia/Seoul"
    made = points(zone, "2025-12-31T23:00", "2026-12-31T23:30", "2027-01-01T00:30")
    keep = points_to_keep(made, policy(zone, yearly=2), at(zone, "2027-06-01T00:00"))
    assert keep == {"2027-01-01T00:30", "2026-12-31T23:30"}
    assert points_to_keep(made, policy(zone, yearly=1), at(zone, "2027-06-01T00:00")) == {"2027-01-01T00:30"}


def test_weekly_weeks_start_on_monday_across_a_month_end():
    zone = "UTC"
    made = points(zone, "2026-11-22T22:00", "2026-11-29T22:00", "2026-11-30T22:00", "2026-12-06T22:00")
    keep = points_to_keep(made, policy(zone, weekly=2), at(zone, "2026-12-07T08:00"))
    # This week (from Monday 12-07) has none yet; last week (11-30 to 12-06) keeps its newest.
    assert keep == {"2026-12-06T22:00"}
    keep = points_to_keep(made, policy(zone, weekly=3), at(zone, "2026-12-07T08:00"))
    assert keep == {"2026-12-06T22:00", "2026-11-29T22:00"}


def test_the_newest_point_is_kept_whatever_the_rules():
    zone = "UTC"
    made = points(zone, "2020-01-01T00:00")
    assert points_to_keep(made, policy(zone, daily=1), at(zone, "2026-12-07T08:00")) == {"2020-01-01T00:00"}
