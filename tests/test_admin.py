"""The Django admin manages every model, and cannot corrupt what jobs own."""

import datetime

from django.apps import apps
from django.contrib import admin

from api import tokens
from api.models import ApiToken
from audit.models import AuditEntry
from jobs.choices import JobStatus
from jobs.models import ArchivedJob, Job, JobEvent, JobSubtask
from tests.conftest import client_for
from tests.factories import JobFactory, PolicyFactory, RegisteredItemFactory, UserFactory
from vaults.models import ItemStateChange, KeyExport, RecoveryPoint, StorageSample, Vault

# Rows the jobs own, the audit log and API tokens: staff see them, never add, change or delete them.
READ_ONLY = {Job, ArchivedJob, JobEvent, JobSubtask, RecoveryPoint, ItemStateChange, KeyExport, AuditEntry, ApiToken, StorageSample}


def test_every_model_has_a_working_admin(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = RegisteredItemFactory()
    JobFactory(vault=item.vault, vm=item.vm)
    client = client_for(superuser)
    for app_label in ("vaults", "jobs", "audit", "api"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), model
            name = model._meta.model_name
            assert client.get(f"/admin/{app_label}/{name}/").status_code == 200, name
            assert client.get(f"/admin/{app_label}/{name}/add/").status_code == (403 if model in READ_ONLY else 200), name


def test_what_jobs_own_is_read_only_in_the_admin(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = RegisteredItemFactory()
    job = JobFactory(vault=item.vault, vm=item.vm, status=JobStatus.FAILED)
    point = RecoveryPoint.objects.create(vault=item.vault, vm=item.vm, point_id="p", consistency="crash")
    client = client_for(superuser)
    for url in (f"/admin/jobs/job/{job.pk}/change/", f"/admin/vaults/recoverypoint/{point.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode(), url
        assert client.post(url, {"status": JobStatus.COMPLETED}, htmx=False).status_code == 403, url
        assert client.post(url.replace("/change/", "/delete/"), {"post": "yes"}, htmx=False).status_code == 403
    job.refresh_from_db()
    assert job.status != JobStatus.COMPLETED and RecoveryPoint.objects.filter(pk=point.pk).exists()


def test_a_points_admin_page_says_which_rules_keep_it(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = RegisteredItemFactory(policy=PolicyFactory(retain_daily=30))
    item.policy.vault = item.vault
    item.policy.save()
    slot = datetime.datetime(2027, 3, 1, 22, 0, tzinfo=datetime.timezone.utc)
    point = RecoveryPoint.objects.create(vault=item.vault, vm=item.vm, point_id="p", consistency="crash", slot=slot,
                                         created_at=slot)
    page = client_for(superuser).get(f"/admin/vaults/recoverypoint/{point.pk}/change/").content.decode()
    assert "Daily 2027-03-31" in page


def test_a_vault_holding_data_keeps_its_storage(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = RegisteredItemFactory()
    vault = item.vault
    client = client_for(superuser)
    assert 'name="storage_url"' in client.get(f"/admin/vaults/vault/{vault.pk}/change/").content.decode()
    Vault.objects.filter(pk=vault.pk).update(repository_id="abc", stored_bytes=1)
    page = client.get(f"/admin/vaults/vault/{vault.pk}/change/").content.decode()
    assert 'name="storage_url"' not in page


def test_staff_revoke_a_leaked_token_and_never_see_its_digest(db, owner):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    row, token = tokens.issue(owner, "leaked", 30)
    client = client_for(superuser)
    listed = client.get("/admin/api/apitoken/").content.decode()
    assert "leaked" in listed and row.digest not in listed and token not in listed
    assert row.digest not in client.get(f"/admin/api/apitoken/{row.pk}/change/").content.decode()
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}, htmx=False)
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None
    assert tokens.find(token).is_usable is False
