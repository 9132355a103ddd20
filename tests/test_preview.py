"""The retention preview: what a policy keeps one week, one month, one year and ten years out, checked
against the retention engine run over every backup the schedule makes; and its storage estimate."""

import datetime

import pytest
from django.utils import timezone

from tests.factories import RegisteredItemFactory
from vaults.choices import Frequency
from vaults.models import Policy, RecoveryPoint
from vaults.preview import horizons
from vaults.retention import points_to_keep
from vaults.schedule import slots_on

SEED = dict(frequency=Frequency.DAILY, time_of_day=datetime.time(22, 0), time_zone="America/New_York",
            retain_daily=30, retain_weekly=104, retain_monthly=120, retain_yearly=99)
HOURLY = dict(frequency=Frequency.HOURLY, time_of_day=datetime.time(1, 0), hourly_interval=6, hourly_window=24,
              time_zone="Europe/Berlin", retain_each=3, retain_daily=14, retain_monthly=6, monthly_by="day",
              monthly_days=[31])
WEEKLY = dict(frequency=Frequency.WEEKLY, weekdays=[0, 3], weekly_days=[0, 3], time_of_day=datetime.time(2, 30),
              time_zone="America/New_York", retain_weekly=8, retain_yearly=3, yearly_weekdays=[3],
              yearly_months=[3, 11], yearly_week="second")


@pytest.mark.parametrize("rules", [SEED, HOURLY, WEEKLY], ids=["seed", "hourly", "weekly"])
def test_the_preview_keeps_what_the_engine_keeps_of_every_backup(rules):
    policy = Policy(name="p", **rules)
    policy.full_clean(exclude=["vault"])
    start_day = datetime.date(2027, 2, 27)  # across a leap year's February and two DST changes a year
    shown = horizons(policy, start_day)
    start = shown[0].at - shown[0].span
    every = []
    day = start_day
    while day <= shown[-1].at.date():
        every += [slot for slot in slots_on(policy, day) if start <= slot]
        day += datetime.timedelta(days=1)
    for horizon in shown:
        made = [RecoveryPoint(pk=number, slot=slot, created_at=slot)
                for number, slot in enumerate(every, start=1) if slot <= horizon.at]
        keep = points_to_keep(made, policy, horizon.at)
        assert horizon.kept == [point.slot for point in made if point.pk in keep], horizon.name
    assert [horizon.name for horizon in shown] == ["week", "month", "year", "ten_years"]


def test_the_seed_examples_timeline(owner_client, vault):
    fields = {"name": "", "frequency": "daily", "time_of_day": "22:00", "time_zone": "America/New_York",
              "retain_daily": 30, "retain_weekly": 104, "weekly_days": 6, "retain_monthly": 120, "monthly_by": "weekday",
              "monthly_week": "last", "monthly_weekdays": 6, "retain_yearly": 99, "yearly_months": 1,
              "yearly_by": "weekday", "yearly_week": "first", "yearly_weekdays": 6, "start": "2027-01-01"}
    page = owner_client.get(f"/vaults/{vault.pk}/policies/preview/", fields).content.decode()
    # A week: every day's backup (8 days, 1–8 January); ten years: 30 days, 104 Sundays, 120 last Sundays, 10 first Sundays of January, shared.
    assert 'data-horizon="week" data-kept="8"' in page
    assert "At most 353 recovery points per VM at steady state." in page
    assert "No storage estimate yet" in page, "nothing in this vault was backed up"
    refused = owner_client.get(f"/vaults/{vault.pk}/policies/preview/", {**fields, "retain_daily": ""}).content.decode()
    assert "The preview shows once the schedule and its rules are valid." in refused
    assert "needs a daily retention" not in refused, "the form says what is wrong, once"


def test_the_estimate_comes_from_the_vms_own_backups_or_the_vaults_averages(owner_client, vault):
    measured = RegisteredItemFactory(vault=vault, vm__name="measured")
    newcomer = RegisteredItemFactory(vault=vault, vm__name="newcomer")
    now = timezone.now()
    for days_ago, stored in ((3, 1000), (2, 100), (1, 200)):  # a full backup, then two of changes
        RecoveryPoint.objects.create(vault=vault, vm=measured.vm, point_id=f"p{days_ago}", stored_bytes=stored,
                                     created_at=now - datetime.timedelta(days=days_ago))
    fields = {"frequency": "daily", "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": 10,
              "preview_for": "items", "selected": [measured.pk, newcomer.pk]}
    page = owner_client.get(f"/vaults/{vault.pk}/policies/preview/", fields).content.decode()
    # Each VM: its full backup and 9 more points of changes; the newcomer takes the vault's averages.
    expected = (1000 + 150 * 9) * 2
    assert f'data-estimate="{expected}"' in page
    assert "From their own backups: measured" in page and "From the vault's averages" in page
    assert "newcomer" in page


def test_a_start_date_out_of_reach_previews_from_today(owner_client, vault):
    fields = {"frequency": "daily", "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": 10, "retain_yearly": 99,
              "yearly_months": 12, "yearly_by": "day", "yearly_days": 31}
    today = timezone.localdate().isoformat()
    for start in ("9999-12-31", "0001-01-01", "2026-02-30", "x"):
        response = owner_client.get(f"/vaults/{vault.pk}/policies/preview/", {**fields, "start": start})
        assert response.status_code == 200 and f"from {today}" in response.content.decode()


def test_outsiders_see_no_preview(client, vault, outsider):
    from tests.conftest import client_for

    assert client_for(outsider).get(f"/vaults/{vault.pk}/policies/preview/").status_code == 404
    assert client.get(f"/vaults/{vault.pk}/policies/preview/").status_code == 302
