"""Retention keeps exactly what the policy promises: the seed's example and two more policies walked
through three years of scheduled backups (daylight-saving changes and a leap day included), each
day checked against a calculation written here, apart from the engine; Backup Now points keep their
own date; periods are counted in the policy's time zone."""

import calendar
import datetime
import itertools
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from vaults.choices import LAST_DAY, Frequency, RuleBasis, Weekday, WeekOfMonth
from vaults.models import Policy
from vaults.retention import points_to_keep

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
_ids = itertools.count(1)


def point(slot=None, retain_until=None, made=None):
    return SimpleNamespace(pk=next(_ids), slot=slot, retain_until=retain_until, created_at=made or slot)


# --- The calculation the engine is held against ------------------------------------------------------


def nth_weekdays(year, month, weekday):
    """The dates of that weekday in the month, in order (from calendar's month grid)."""
    return [datetime.date(year, month, week[weekday]) for week in calendar.monthcalendar(year, month) if week[weekday]]


def chosen_dates(year, month, by, week, weekdays, days):
    if by == RuleBasis.DAY:
        last = calendar.monthrange(year, month)[1]
        return {datetime.date(year, month, last if day == LAST_DAY else min(day, last)) for day in days}
    dates = set()
    for weekday in weekdays:
        found = nth_weekdays(year, month, weekday)
        dates.add(found[-1] if week == WeekOfMonth.LAST else found[["first", "second", "third", "fourth"].index(week)])
    return dates


def months_later(date, months):
    index = date.year * 12 + date.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return datetime.date(year, month, min(date.day, calendar.monthrange(year, month)[1]))


def promised_until(policy, slot):
    """How long the policy promises to keep the backup made for `slot` (the day's only one)."""
    zone = ZoneInfo(policy.time_zone)
    local = slot.astimezone(zone)
    date, at = local.date(), local.time()
    ends = []
    if policy.retain_daily:
        ends.append(date + datetime.timedelta(days=policy.retain_daily))
    if policy.retain_weekly and date.weekday() in policy.weekly_days:
        ends.append(date + datetime.timedelta(days=7 * policy.retain_weekly))
    if policy.retain_monthly and date in chosen_dates(date.year, date.month, policy.monthly_by, policy.monthly_week,
                                                      policy.monthly_weekdays, policy.monthly_days):
        ends.append(months_later(date, policy.retain_monthly))
    if policy.retain_yearly and date.month in policy.yearly_months and date in chosen_dates(
            date.year, date.month, policy.yearly_by, policy.yearly_week, policy.yearly_weekdays, policy.yearly_days):
        ends.append(months_later(date, 12 * policy.retain_yearly))
    return max((datetime.datetime.combine(end, at, tzinfo=zone) for end in ends), default=None)


# --- Three years, day by day --------------------------------------------------------------------------

SEED = dict(name="Seed", frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0), time_zone="America/New_York",
            retain_daily=30, retain_weekly=104, weekly_days=[SUN],
            retain_monthly=120, monthly_by=RuleBasis.WEEKDAY, monthly_week=WeekOfMonth.LAST, monthly_weekdays=[SUN],
            retain_yearly=99, yearly_months=[1], yearly_by=RuleBasis.WEEKDAY, yearly_week=WeekOfMonth.FIRST,
            yearly_weekdays=[SUN])
WEEKLY_TWO_DAYS = dict(name="Twice weekly", frequency=Frequency.WEEKLY, weekdays=[WED, SAT],
                       time_of_day=datetime.time(1, 30), time_zone="Europe/Berlin",
                       retain_weekly=8, weekly_days=[WED, SAT],
                       retain_monthly=6, monthly_by=RuleBasis.WEEKDAY, monthly_week=WeekOfMonth.FIRST,
                       monthly_weekdays=[SAT])
DAY_31 = dict(name="Day 31", frequency=Frequency.DAILY, time_of_day=datetime.time(23, 0), time_zone="Australia/Sydney",
              retain_daily=7, retain_monthly=13, monthly_by=RuleBasis.DAY, monthly_days=[31],
              retain_yearly=2, yearly_months=[2], yearly_by=RuleBasis.DAY, yearly_days=[29])


@pytest.mark.parametrize("rules", [SEED, WEEKLY_TWO_DAYS, DAY_31], ids=lambda rules: rules["name"])
def test_three_years_of_scheduled_backups_keep_exactly_what_the_policy_promises(rules):
    assert len(three_years(rules)) > 10


def three_years(rules):
    """Back up on every scheduled day from 2027 to 2029, apply retention after each backup, and check the
    kept set against promised_until each day. Returns the points kept at the end."""
    policy = Policy(**rules)
    policy.clean()
    zone = ZoneInfo(policy.time_zone)
    start = datetime.date(2027, 1, 1)  # 2028 is a leap year; DST changes twice a year in each zone but UTC
    made, kept, checked_days = [], {}, 0
    for offset in range(3 * 365 + 1):
        day = start + datetime.timedelta(days=offset)
        if policy.frequency == Frequency.WEEKLY and day.weekday() not in policy.weekdays:
            continue
        slot = datetime.datetime.combine(day, policy.time_of_day, tzinfo=zone).astimezone(datetime.timezone.utc)
        new = point(slot)
        made.append((new, promised_until(policy, slot)))
        kept[new.pk] = new
        now = slot + datetime.timedelta(minutes=20)  # retention runs as the backup ends
        kept = {pk: kept[pk] for pk in points_to_keep(kept.values(), policy, now)}
        expected = {p.pk for p, until in made if until is not None and now < until} | {new.pk}
        assert set(kept) == expected, (day, sorted(set(kept) ^ expected))
        checked_days += 1
    assert checked_days > 300
    return kept


def test_the_seed_example_keeps_sundays_last_sundays_and_first_sundays_of_january():
    kept = three_years(SEED)
    zone = ZoneInfo(SEED["time_zone"])
    days = sorted(point.slot.astimezone(zone).date() for point in kept.values())
    assert days[-30:] == [datetime.date(2029, 12, 31) - datetime.timedelta(days=n) for n in range(29, -1, -1)]
    older = [day for day in days if day < datetime.date(2029, 12, 1)]
    assert all(day.weekday() == SUN for day in older), "beyond 30 days only Sundays stay"
    assert datetime.date(2027, 1, 3) in days, "the first Sunday of January 2027, for 99 years"
    assert datetime.date(2027, 1, 31) in days, "January 2027's last Sunday, for 120 months"
    assert datetime.date(2027, 1, 24) not in days, "an ordinary Sunday, 104 weeks gone"


def test_backup_now_points_keep_their_own_date_and_evict_no_scheduled_point():
    policy = Policy(**SEED)
    zone = ZoneInfo(policy.time_zone)
    scheduled = point(datetime.datetime(2027, 3, 1, 22, 0, tzinfo=zone))
    manual_short = point(retain_until=datetime.datetime(2027, 3, 2, 23, 59, tzinfo=zone),
                         made=datetime.datetime(2027, 3, 1, 9, 0, tzinfo=zone))
    manual_long = point(retain_until=datetime.datetime(2027, 9, 1, 23, 59, tzinfo=zone),
                        made=datetime.datetime(2027, 3, 1, 23, 0, tzinfo=zone))
    newest = point(datetime.datetime(2027, 4, 15, 22, 0, tzinfo=zone))
    points = [scheduled, manual_short, manual_long, newest]
    keep = points_to_keep(points, policy, datetime.datetime(2027, 3, 2, 12, 0, tzinfo=zone))
    assert {scheduled.pk, manual_short.pk, manual_long.pk} <= keep, "two in one day: neither evicts the other"
    keep = points_to_keep(points, policy, datetime.datetime(2027, 4, 16, 12, 0, tzinfo=zone))
    assert keep == {manual_long.pk, newest.pk}, "March 1st was a Monday: only its own 30 days kept it"


def test_periods_are_local_days_across_the_spring_forward():
    zone = ZoneInfo("America/New_York")  # 2026-03-08 has 23 hours
    policy = Policy(name="d", frequency=Frequency.DAILY, time_of_day=datetime.time(23, 30), time_zone=zone.key,
                    retain_daily=2)
    slots = [datetime.datetime(2026, 3, day, 23, 30, tzinfo=zone) for day in (6, 7, 8)]
    points = [point(slot) for slot in slots]
    keep = points_to_keep(points, policy, datetime.datetime(2026, 3, 9, 23, 29, tzinfo=zone))
    assert keep == {points[1].pk, points[2].pk}, "kept until 23:30 local two days on, not 48 hours"


def test_a_day_past_the_months_end_is_its_last_day():
    zone = ZoneInfo("UTC")
    policy = Policy(name="m", frequency=Frequency.DAILY, time_of_day=datetime.time(1, 0), time_zone="UTC",
                    retain_daily=1, retain_monthly=12, monthly_by=RuleBasis.DAY, monthly_days=[31])
    feb = [point(datetime.datetime(2027, 2, day, 1, 0, tzinfo=zone)) for day in (27, 28)]
    later = point(datetime.datetime(2027, 3, 10, 1, 0, tzinfo=zone))
    keep = points_to_keep([*feb, later], policy, datetime.datetime(2027, 3, 10, 2, 0, tzinfo=zone))
    assert keep == {feb[1].pk, later.pk}


@pytest.mark.parametrize(("changes", "field"), [
    (dict(frequency=Frequency.WEEKLY, weekdays=[WED], retain_daily=None, retain_weekly=4, weekly_days=[SUN]),
     "weekly_days"),
    (dict(frequency=Frequency.WEEKLY, weekdays=[SUN], retain_daily=None, retain_weekly=4, weekly_days=[SUN],
          retain_monthly=3, monthly_by=RuleBasis.DAY, monthly_days=[1]), "monthly_by"),
    (dict(retain_monthly=3, monthly_by=RuleBasis.DAY, monthly_days=[0]), "monthly_days"),
    (dict(retain_monthly=3, monthly_week="fifth"), "monthly_week"),
    (dict(retain_yearly=3, yearly_months=[13]), "yearly_months"),
    (dict(retain_weekly=2, weekly_days=[]), "weekly_days"),
])
def test_rules_that_could_keep_nothing_are_refused(changes, field):
    policy = Policy(**{**dict(name="p", frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0), time_zone="UTC",
                              retain_daily=30), **changes})
    with pytest.raises(ValidationError) as raised:
        policy.clean()
    assert field in raised.value.message_dict


def test_the_limit_counts_every_point_the_rules_keep():
    policy = Policy(name="p", frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0), time_zone="UTC",
                    retain_daily=9999, retain_weekly=1, weekly_days=list(Weekday.values))
    with pytest.raises(ValidationError, match="at most 9999"):
        policy.clean()
