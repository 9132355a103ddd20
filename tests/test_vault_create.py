import pytest

from tests.conftest import client_for
from tests.factories import MembershipFactory, SubscriptionFactory, VaultFactory
from vaults.models import Vault


def create(client, subscription, name, region="East US"):
    return client.post("/vaults/new/", {"name": name, "region": region, "subscription": subscription.pk})


def test_a_new_vault_opens_on_quick_start_with_the_default_policy(owner_client, subscription):
    response = create(owner_client, subscription, "Vault-1")
    vault = Vault.objects.get(name="Vault-1")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/vaults/{vault.pk}/"
    (policy,) = vault.policies.all()
    assert (policy.name, policy.frequency, policy.retain_daily) == ("DefaultPolicy", "daily", 30)
    page = owner_client.get(f"/vaults/{vault.pk}/")
    assert b"Protect your virtual machines" in page.content


@pytest.mark.parametrize(
    "name, message",
    [
        ("a", "2 to 50 characters: letters, digits and hyphens, starting with a letter"),
        ("1vault", "starting with a letter"),
        ("vault name", "starting with a letter"),
        ("vault_1", "starting with a letter"),
        ("<script>", "starting with a letter"),
        ("v" * 51, "at most 50 characters"),
        ("", "This field is required"),
    ],
)
def test_a_bad_vault_name_is_refused_with_the_rule(owner_client, subscription, name, message):
    response = create(owner_client, subscription, name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Vault.objects.exists()


def test_a_duplicate_name_in_the_subscription_is_refused(owner_client, subscription):
    VaultFactory(subscription=subscription, name="backup-east")
    response = create(owner_client, subscription, "BACKUP-EAST")
    assert response.status_code == 400
    assert b"already exists in this subscription" in response.content
    assert Vault.objects.count() == 1


def test_the_same_name_in_another_subscription_is_fine(owner, owner_client, subscription):
    other = SubscriptionFactory()
    MembershipFactory(subscription=other, user=owner, role="owner")
    VaultFactory(subscription=subscription, name="backup-east")
    assert create(owner_client, other, "backup-east").status_code == 204


def test_an_unknown_region_is_refused(owner_client, subscription):
    assert create(owner_client, subscription, "vault-x", region="Mars North").status_code == 400
    assert not Vault.objects.exists()


def test_a_vault_cannot_be_created_in_a_subscription_of_others(outsider, subscription):
    response = create(client_for(outsider), subscription, "sneaky")
    assert response.status_code == 400
    assert not Vault.objects.exists()


def test_a_reader_cannot_create_a_vault(reader, subscription):
    assert create(client_for(reader), subscription, "read-only").status_code == 403
    assert not Vault.objects.exists()
