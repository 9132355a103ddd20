import pytest
from django.utils import timezone

from tests.factories import PolicyFactory, RegisteredItemFactory
from vaults.choices import ProtectionState
from vaults.models import Policy

VALID = {
    "name": "Nightly", "frequency": "daily", "time_of_day": "23:30", "time_zone": "Europe/Paris",
    "retain_daily": "14", "retain_weekly": "", "retain_monthly": "", "retain_yearly": "",
}


def post_policy(client, vault, **changes):
    return client.post(f"/vaults/{vault.pk}/policies/new/", {**VALID, **changes})


def test_create_a_daily_policy(owner_client, vault):
    response = post_policy(owner_client, vault)
    assert response.status_code == 204
    policy = vault.policies.get(name="Nightly")
    assert (policy.time_zone, policy.retain_daily, str(policy.time_of_day)) == ("Europe/Paris", 14, "23:30:00")


def test_create_a_weekly_policy(owner_client, vault):
    weekly = dict(frequency="weekly", weekdays=["0", "4"], retain_daily="", retain_weekly="52", retain_yearly="7")
    refused = post_policy(owner_client, vault, **weekly, weekly_days=["6"], yearly_weekdays=["4"], yearly_months=["1"])
    assert refused.status_code == 400 and "days the schedule does not back up on" in refused.content.decode()
    response = post_policy(owner_client, vault, **weekly, weekly_days=["0", "4"], yearly_week="last",
                           yearly_weekdays=["4"], yearly_months=["12"])
    assert response.status_code == 204
    policy = vault.policies.get(name="Nightly")
    assert policy.weekdays == [0, 4] and policy.weekday_names() == ["Monday", "Friday"]
    assert (policy.weekly_days, policy.yearly_week, policy.yearly_weekdays, policy.yearly_months) == (
        [0, 4], "last", [4], [12])
    assert policy.rule_descriptions() == ["The backup of Monday, Friday, for 52 weeks",
                                          "The backup of the last Friday of December, for 7 years"]


@pytest.mark.parametrize(
    "field, value, limit",
    [
        ("retain_daily", "0", "between 1 and 9999 days"),
        ("retain_daily", "10000", "between 1 and 9999 days"),
        ("retain_weekly", "5164", "between 1 and 5163 weeks"),
        ("retain_monthly", "1189", "between 1 and 1188 months"),
        ("retain_yearly", "100", "between 1 and 99 years"),
        ("retain_yearly", "-1", "between 1 and 99 years"),
    ],
)
def test_retention_out_of_range_names_the_limit(owner_client, vault, field, value, limit):
    response = post_policy(owner_client, vault, **{field: value})
    assert response.status_code == 400
    assert limit in response.content.decode()
    assert not vault.policies.filter(name="Nightly").exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"frequency": "weekly", "retain_daily": "", "retain_weekly": "4"}, "Choose at least one day"),
        ({"frequency": "weekly", "weekdays": ["1"], "retain_weekly": "4"}, "not daily ones"),
        ({"retain_daily": ""}, "needs a daily retention"),
        ({"time_zone": "Mars/Olympus"}, "Select a valid choice"),
        ({"time_of_day": "25:99"}, "Enter a valid time"),
        ({"name": "defaultpolicy"}, "already exists in this vault"),
    ],
)
def test_inconsistent_policies_are_refused(owner_client, vault, changes, message):
    count = Policy.objects.count()
    response = post_policy(owner_client, vault, **changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Policy.objects.count() == count


def test_a_policy_in_use_cannot_be_deleted(owner_client, vault):
    policy = PolicyFactory(vault=vault)
    RegisteredItemFactory(vault=vault, policy=policy, protection_state=ProtectionState.PENDING)
    response = owner_client.post(f"/vaults/{vault.pk}/policies/delete/", {"selected": [policy.pk]})
    assert response.status_code == 409
    assert "protects 1 VM" in response.content.decode()
    assert Policy.objects.filter(pk=policy.pk).exists()


def test_deleting_several_policies_is_all_or_nothing(owner_client, vault):
    unused = PolicyFactory(vault=vault)
    used = PolicyFactory(vault=vault)
    RegisteredItemFactory(vault=vault, policy=used, protection_state=ProtectionState.PENDING)
    response = owner_client.post(f"/vaults/{vault.pk}/policies/delete/", {"selected": [unused.pk, used.pk]})
    assert response.status_code == 409
    assert Policy.objects.filter(pk__in=[unused.pk, used.pk]).count() == 2


def test_an_unused_policy_is_deleted(owner_client, vault):
    policy = PolicyFactory(vault=vault)
    response = owner_client.post(f"/vaults/{vault.pk}/policies/delete/", {"selected": [policy.pk]})
    assert response.status_code == 200
    assert not Policy.objects.filter(pk=policy.pk).exists()


def test_a_policy_of_another_vault_cannot_be_deleted_through_this_one(owner_client, vault):
    elsewhere = PolicyFactory()
    response = owner_client.post(f"/vaults/{vault.pk}/policies/delete/", {"selected": [elsewhere.pk]})
    assert response.status_code == 409
    assert Policy.objects.filter(pk=elsewhere.pk).exists()


def test_too_many_recovery_points_in_all_are_refused(owner_client, vault):
    response = post_policy(owner_client, vault, retain_daily="9999", retain_yearly="99")
    assert response.status_code == 400
    assert "keep up to 10098 recovery points; an item can have at most 9999" in response.content.decode()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"retain_daily": 0}, "between 1 and 9999 days"),
        ({"retain_daily": None}, "needs a daily retention"),
        ({"retain_daily": 9999, "retain_monthly": 1188}, "at most 9999"),
        ({"frequency": "weekly", "weekdays": [], "retain_daily": None, "retain_weekly": 4}, "at least one day"),
    ],
)
def test_the_service_enforces_the_rules_too(vault, fields, message):
    from vaults import services
    from vaults.errors import Refused

    base = {"name": "Direct", "frequency": "daily", "time_of_day": "01:00", "time_zone": "UTC", "retain_daily": 7}
    with pytest.raises(Refused, match=message):
        services.create_policy(vault, **{**base, **fields})
    assert not vault.policies.filter(name="Direct").exists()


def edit(client, vault, policy, **changes):
    fields = {"selected": policy.pk, "name": policy.name, "frequency": policy.frequency, "weekdays": policy.weekdays,
              "time_of_day": policy.time_of_day.strftime("%H:%M"), "time_zone": policy.time_zone,
              "retain_daily": policy.retain_daily or "", "retain_weekly": policy.retain_weekly or "",
              "retain_monthly": policy.retain_monthly or "", "retain_yearly": policy.retain_yearly or "",
              "weekly_days": policy.weekly_days, "monthly_weekdays": policy.monthly_weekdays,
              "yearly_months": policy.yearly_months, "yearly_weekdays": policy.yearly_weekdays}
    return client.post(f"/vaults/{vault.pk}/policies/edit/", {**fields, **changes})


def test_editing_a_policy_changes_it_for_every_vm_it_protects(owner_client, vault):
    policy = vault.policies.get()
    items = [RegisteredItemFactory(vault=vault, policy=policy, protection_state=ProtectionState.PROTECTED)
             for _ in range(2)]
    form = owner_client.get(f"/vaults/{vault.pk}/policies/edit/?selected={policy.pk}", HTTP_HX_REQUEST="true")
    assert form.status_code == 200 and 'value="DefaultPolicy"' in form.content.decode()
    response = edit(owner_client, vault, policy, time_of_day="03:15", retain_daily="60", retain_weekly="12")
    assert response.status_code == 204, response.content.decode()
    for item in items:
        item.refresh_from_db()
        assert item.policy.time_of_day.strftime("%H:%M") == "03:15" and item.policy.retain_weekly == 12


def test_a_change_that_would_remove_points_says_which_and_asks_first(owner_client, vault):
    from vaults.models import RecoveryPoint

    policy = vault.policies.get()  # daily, 30 days
    item = RegisteredItemFactory(vault=vault, policy=policy, protection_state=ProtectionState.PROTECTED)
    now = timezone.now()
    for days in (1, 5, 10, 20):
        RecoveryPoint.objects.create(vault=vault, vm=item.vm, point_id=f"p{days}", consistency="crash",
                                     created_at=now - timezone.timedelta(days=days),
                                     slot=now - timezone.timedelta(days=days))
    asked = edit(owner_client, vault, policy, retain_daily="7")
    html = asked.content.decode()
    assert asked.status_code == 400 and "keep 2 recovery points fewer than today" in html
    assert f"{item.vm}: 2 recovery points" in html and 'name="confirm"' in html
    policy.refresh_from_db()
    assert policy.retain_daily == 30, "nothing changed before the answer"
    confirmed = edit(owner_client, vault, policy, retain_daily="7", confirm="yes")
    assert confirmed.status_code == 204
    policy.refresh_from_db()
    assert policy.retain_daily == 7 and RecoveryPoint.objects.filter(vm=item.vm).count() == 4, \
        "the points go at the next backup, not now"


def test_a_policy_keeps_a_name_no_other_policy_has(owner_client, vault):
    policy = vault.policies.get()
    PolicyFactory(vault=vault, name="Other")
    assert edit(owner_client, vault, policy, retain_daily="31").status_code == 204, "its own name is fine"
    taken = edit(owner_client, vault, policy, name="other")
    assert taken.status_code == 400 and "already exists" in taken.content.decode()


def test_readers_cannot_edit_policies(vault, reader):
    from tests.conftest import client_for

    policy = vault.policies.get()
    assert edit(client_for(reader), vault, policy, retain_daily="1").status_code == 403
    policy.refresh_from_db()
    assert policy.retain_daily == 30
