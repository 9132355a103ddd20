"""Delete vault: only an Owner, only an empty vault, only with its name typed; its storage goes too,
and nothing else."""

from pathlib import Path

from jobs.models import Job
from tests.conftest import client_for
from tests.factories import RegisteredItemFactory
from vaults.models import Vault


def delete(client, vault, name):
    return client.post(f"/vaults/{vault.pk}/delete/", {"confirm_name": name}, htmx=False)


def test_an_owner_deletes_an_empty_vault_and_its_storage(owner_client, vault):
    vault.repository()  # its repository is made, as the first backup would
    storage = Path(vault.storage_location)
    assert (storage / "config").exists()
    refused = delete(owner_client, vault, "vault-wrong")
    assert refused.status_code == 302 and Vault.objects.filter(pk=vault.pk).exists() and storage.exists()
    done = delete(owner_client, vault, vault.name)
    assert done.status_code == 302 and done["Location"] == "/vaults/"
    assert not Vault.objects.filter(pk=vault.pk).exists() and not Job.objects.filter(vault_id=vault.pk).exists()
    assert not storage.exists(), "its storage went with it"


def test_files_the_repository_did_not_write_stay(owner_client, vault):
    vault.repository()
    storage = Path(vault.storage_location)
    (storage / "README-do-not-delete.txt").write_text("someone else's")
    assert delete(owner_client, vault, vault.name).status_code == 302
    assert not Vault.objects.filter(pk=vault.pk).exists()
    assert [path.name for path in storage.iterdir()] == ["README-do-not-delete.txt"]


def test_a_vault_with_items_is_not_deleted(owner_client, vault):
    vault.repository()
    RegisteredItemFactory(vault=vault)
    response = owner_client.post(f"/vaults/{vault.pk}/delete/", {"confirm_name": vault.name}, htmx=False,
                                 follow=True)
    assert "still holds items or backup data" in response.content.decode()
    assert Vault.objects.filter(pk=vault.pk).exists() and (Path(vault.storage_location) / "config").exists()


def test_only_an_owner_may_delete_a_vault(vault, member, reader, outsider):
    for user, status in ((member, 403), (reader, 403), (outsider, 404)):
        assert delete(client_for(user), vault, vault.name).status_code == status
    assert Vault.objects.filter(pk=vault.pk).exists()
