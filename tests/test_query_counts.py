"""List pages fetch their rows in a fixed number of queries, however many rows there are."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import JobFactory, RegisteredItemFactory
from vaults.choices import ProtectionState


def queries_for(client, url, htmx=False):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **({"HTTP_HX_REQUEST": "true"} if htmx else {})).status_code == 200
    return len(captured)


def test_registered_items_stays_flat(owner_client, vault):
    url = f"/vaults/{vault.pk}/registered/"
    RegisteredItemFactory.create_batch(2, vault=vault)
    few = queries_for(owner_client, url)
    RegisteredItemFactory.create_batch(30, vault=vault)
    assert queries_for(owner_client, url) == few


def test_protected_items_stays_flat(owner_client, vault):
    url = f"/vaults/{vault.pk}/protected/"
    policy = vault.policies.get()
    RegisteredItemFactory.create_batch(2, vault=vault, protection_state=ProtectionState.PENDING, policy=policy)
    few = queries_for(owner_client, url)
    RegisteredItemFactory.create_batch(30, vault=vault, protection_state=ProtectionState.PENDING, policy=policy)
    assert queries_for(owner_client, url) == few


def test_jobs_list_stays_flat(owner_client, vault, owner):
    url = f"/vaults/{vault.pk}/jobs/"
    JobFactory.create_batch(2, vault=vault, created_by=owner)
    few = queries_for(owner_client, url)
    JobFactory.create_batch(40, vault=vault, created_by=owner)
    assert queries_for(owner_client, url) == few


def test_a_deep_page_of_jobs_costs_what_the_first_does(owner_client, vault, owner):
    from jobs.models import Job
    from portal.keyset import make_cursor

    JobFactory.create_batch(80, vault=vault, created_by=owner)
    url = f"/vaults/{vault.pk}/jobs/"
    deepest = Job.objects.filter(vault=vault).order_by("-created_at", "-pk")[74]
    assert queries_for(owner_client, f"{url}?cursor={make_cursor('older', deepest, 'created_at')}") == \
        queries_for(owner_client, url)


def test_the_dashboard_and_its_charts_stay_flat(owner_client, vault, owner):
    from tests.factories import RecoveryPointFactory

    page, charts = f"/vaults/{vault.pk}/dashboard/", f"/vaults/{vault.pk}/dashboard/?part=charts"
    items = RegisteredItemFactory.create_batch(2, vault=vault, protection_state=ProtectionState.PROTECTED,
                                               policy=vault.policies.get())
    few = (queries_for(owner_client, page), queries_for(owner_client, charts, htmx=True))
    for item in items + RegisteredItemFactory.create_batch(10, vault=vault, protection_state=ProtectionState.PROTECTED,
                                                           policy=vault.policies.get()):
        RecoveryPointFactory.create_batch(3, vault=vault, vm=item.vm)
    JobFactory.create_batch(30, vault=vault, created_by=owner)
    assert (queries_for(owner_client, page), queries_for(owner_client, charts, htmx=True)) == few


def test_vault_list_stays_flat(owner_client, vault, subscription):
    from tests.factories import VaultFactory

    few = queries_for(owner_client, "/vaults/")
    VaultFactory.create_batch(15, subscription=subscription)
    assert queries_for(owner_client, "/vaults/") == few


def test_policies_stays_flat(owner_client, vault):
    from tests.factories import PolicyFactory

    url = f"/vaults/{vault.pk}/policies/"
    few = queries_for(owner_client, url)
    for policy in PolicyFactory.create_batch(10, vault=vault):
        RegisteredItemFactory(vault=vault, policy=policy, protection_state=ProtectionState.PENDING)
    assert queries_for(owner_client, url) == few
