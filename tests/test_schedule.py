"""Schedules: daily or weekly at one or more times, or hourly within a window, in the policy's time
zone; a time the clocks jump over runs at the next minute that exists, a time they go back over runs
once. The expected instants are written out here by hand, not computed by the code under test."""

import datetime

import pytest

from jobs.choices import JobStatus
from jobs.models import Job
from tests.conftest import protect
from vaults.choices import Frequency
from vaults.models import Policy, RecoveryPoint
from vaults.retention import EACH, kept_by, points_to_keep
from vaults.schedule import latest_slot, schedule_due_backups, slots_on
from vaults.services import create_policy

UTC = datetime.timezone.utc
NEW_YORK = "America/New_York"  # 2027: clocks go forward on 14 March at 02:00, back on 7 November at 02:00


def policy(**fields):
    base = dict(name="p", frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0), time_zone=NEW_YORK,
                retain_daily=30)
    return Policy(**{**base, **fields})


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def test_a_time_the_clocks_jump_over_runs_at_the_next_minute_that_exists():
    nightly = policy(time_of_day=datetime.time(2, 30))
    assert slots_on(nightly, datetime.date(2027, 3, 13)) == [utc(2027, 3, 13, 7, 30)]  # 02:30 EST
    assert slots_on(nightly, datetime.date(2027, 3, 14)) == [utc(2027, 3, 14, 7, 0)]  # 03:00 EDT
    assert slots_on(nightly, datetime.date(2027, 3, 15)) == [utc(2027, 3, 15, 6, 30)]  # 02:30 EDT


def test_a_time_the_clocks_go_back_over_runs_once():
    nightly = policy(time_of_day=datetime.time(1, 30))
    assert slots_on(nightly, datetime.date(2027, 11, 7)) == [utc(2027, 11, 7, 5, 30)]  # the first 01:30, EDT
    # At the second 01:30 (EST, an hour later) the latest slot is still the first: no second backup.
    assert latest_slot(nightly, utc(2027, 11, 7, 6, 45)) == utc(2027, 11, 7, 5, 30)


def test_several_times_a_day_and_on_chosen_weekdays():
    daily = policy(time_of_day=datetime.time(22, 0), extra_times=["06:00", "14:00"], time_zone="UTC")
    assert daily.times_text == "06:00, 14:00, 22:00"
    assert slots_on(daily, datetime.date(2027, 6, 1)) == [utc(2027, 6, 1, 6), utc(2027, 6, 1, 14), utc(2027, 6, 1, 22)]
    assert latest_slot(daily, utc(2027, 6, 1, 13, 59)) == utc(2027, 6, 1, 6)
    weekly = policy(frequency=Frequency.WEEKLY, weekdays=[1, 3], time_zone="UTC", extra_times=["12:00"])
    assert slots_on(weekly, datetime.date(2027, 6, 1)) == [utc(2027, 6, 1, 12), utc(2027, 6, 1, 22)]  # a Tuesday
    assert slots_on(weekly, datetime.date(2027, 6, 2)) == []
    assert latest_slot(weekly, utc(2027, 6, 2, 23)) == utc(2027, 6, 1, 22)


@pytest.mark.parametrize("interval, start, window, expected", [
    (4, datetime.time(0, 0), 24, ["00:00", "04:00", "08:00", "12:00", "16:00", "20:00"]),
    (6, datetime.time(22, 0), 24, ["04:00", "10:00", "16:00", "22:00"]),
    (4, datetime.time(20, 0), 12, ["00:00", "04:00", "20:00"]),  # a window across midnight
    (12, datetime.time(8, 30), 12, ["08:30"]),
    (8, datetime.time(1, 0), 9, ["01:00", "09:00"]),
])
def test_hourly_schedules_run_every_few_hours_within_their_window(interval, start, window, expected):
    hourly = policy(frequency=Frequency.HOURLY, hourly_interval=interval, time_of_day=start, hourly_window=window)
    assert [time.strftime("%H:%M") for time in hourly.times()] == expected


def test_an_hourly_schedule_across_the_spring_forward():
    hourly = policy(frequency=Frequency.HOURLY, hourly_interval=4, time_of_day=datetime.time(2, 0), hourly_window=24)
    # 02:00 does not exist on 14 March: it runs at 03:00 EDT; the rest keep their local times.
    assert slots_on(hourly, datetime.date(2027, 3, 14)) == [
        utc(2027, 3, 14, 7), utc(2027, 3, 14, 10), utc(2027, 3, 14, 14), utc(2027, 3, 14, 18), utc(2027, 3, 14, 22),
        utc(2027, 3, 15, 2)]


def test_the_scheduler_starts_a_job_for_each_slot_of_the_day(db, vault, owner):
    item = protect(vault, owner, "web01")
    several = create_policy(vault, name="Thrice", frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0),
                            extra_times=["06:00", "14:00"], time_zone="UTC", retain_daily=7, retain_each=2)
    item.policy, item.protected_at = several, utc(2027, 5, 31)
    item.save()
    started = []
    for moment in (utc(2027, 6, 1, 6, 1), utc(2027, 6, 1, 6, 2), utc(2027, 6, 1, 14, 1), utc(2027, 6, 1, 14, 2)):
        started += schedule_due_backups(moment)
        Job.objects.filter(status=JobStatus.QUEUED).update(status=JobStatus.COMPLETED)  # as if it ran (no worker here)
    assert [job.scheduled_for for job in started] == [utc(2027, 6, 1, 6), utc(2027, 6, 1, 14)], "one job a slot"


@pytest.mark.parametrize("fields, field, message", [
    (dict(frequency=Frequency.HOURLY, hourly_interval=5, retain_each=3), "hourly_interval", "every 4, 6, 8 or 12"),
    (dict(frequency=Frequency.HOURLY, hourly_interval=8, hourly_window=6, retain_each=3), "hourly_window",
     "from 8 to 24 hours"),
    (dict(frequency=Frequency.HOURLY, hourly_interval=4), "retain_each", "more than once a day"),
    (dict(frequency=Frequency.HOURLY, hourly_interval=4, retain_each=3, retain_daily=None), "retain_daily",
     "first backup of each day"),
    (dict(extra_times=["06:00"]), "retain_each", "more than once a day"),
    (dict(retain_each=5), "retain_each", "leave it empty"),
    (dict(extra_times=["25:00"], retain_each=2), "extra_times", "HH:MM"),
    (dict(extra_times=["01:00", "02:00", "03:00", "04:00", "05:00", "06:00"], retain_each=2), "extra_times",
     "At most 5"),
    (dict(frequency=Frequency.HOURLY, hourly_interval=4, retain_each=31), "retain_each", "between 1 and 30 days"),
])
def test_schedules_that_cannot_work_are_refused(fields, field, message):
    with pytest.raises(Exception) as refused:
        policy(**fields).full_clean(exclude=["vault"])
    assert message in " ".join(refused.value.message_dict.get(field, [])), refused.value.message_dict


def test_an_hourly_policy_keeps_every_point_its_days_and_the_first_of_each_day_longer():
    hourly = policy(frequency=Frequency.HOURLY, hourly_interval=6, time_of_day=datetime.time(0, 0), time_zone="UTC",
                    retain_each=2, retain_daily=10)
    slots = [slot for day in range(20) for slot in slots_on(hourly, datetime.date(2027, 1, 1) + datetime.timedelta(days=day))]
    points = [RecoveryPoint(pk=number, slot=slot, created_at=slot) for number, slot in enumerate(slots, start=1)]
    keep = points_to_keep(points, hourly, utc(2027, 1, 21, 0, 0))
    # Every point of the last two days (each kept 2 days), and each day's first (kept 10 days) since the 12th.
    assert sorted(point.slot for point in points if point.pk in keep) == [
        utc(2027, 1, day, 0) for day in range(12, 19)] + [utc(2027, 1, day, hour) for day in (19, 20)
                                                          for hour in (0, 6, 12, 18)]
    assert (EACH, utc(2027, 1, 22, 18)) in kept_by(points[-1], hourly, set())
