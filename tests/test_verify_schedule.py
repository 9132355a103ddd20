"""Verify on a schedule: each vault's data is read once a week, on the day the vault chose."""

import datetime

from tests.test_hostile_requests import HOSTILE
from vaults.choices import Operation, Weekday
from vaults.operations.verify import verify_the_vaults_due
from vaults.services import create_vault


def test_the_daily_tick_verifies_the_vaults_whose_day_it_is(db, vault, owner):
    other = create_vault(subscription=vault.subscription, name="other", region="East US", user=owner)
    vault.verify_weekday, other.verify_weekday = Weekday.TUESDAY, Weekday.WEDNESDAY
    vault.save()
    other.save()
    tuesday = datetime.datetime(2026, 12, 8, 3, 0, tzinfo=datetime.timezone.utc)
    started = verify_the_vaults_due(tuesday)
    assert [(job.vault_id, job.operation) for job in started] == [(vault.pk, Operation.VERIFY)]
    assert verify_the_vaults_due(tuesday) == [], "one verify per vault at a time"


def test_the_vault_chooses_its_verify_day(owner_client, vault, reader):
    from tests.conftest import client_for

    page = owner_client.get(f"/vaults/{vault.pk}/").content.decode()
    assert 'name="verify_weekday"' in page
    response = owner_client.post(f"/vaults/{vault.pk}/settings/", {"verify_weekday": Weekday.MONDAY,
                                                                   "soft_delete_days": 14}, htmx=False)
    assert response.status_code == 302
    vault.refresh_from_db()
    assert vault.verify_weekday == Weekday.MONDAY
    for hostile in [value for value in HOSTILE if value != "0"] + ["9", "7"]:
        assert owner_client.post(f"/vaults/{vault.pk}/settings/", {"verify_weekday": hostile,
                                                                       "soft_delete_days": 14}, htmx=False).status_code == 302
        vault.refresh_from_db()
        assert vault.verify_weekday == Weekday.MONDAY, f"{hostile!r} is not a day: nothing changes"
    assert client_for(reader).post(f"/vaults/{vault.pk}/settings/", {"verify_weekday": 2}).status_code == 403
