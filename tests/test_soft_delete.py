"""The end of an item's data: Stop Protection keeping or deleting it, soft delete, Undelete, the daily
purge, and what an immutable vault refuses. Jobs run on the real worker against a real repository."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.models import Job
from sources.lab import LabSource
from sources.lab_build import build_lab
from tests.conftest import SMALL_LAB, backup, client_for, discover_here, protect, raw_bytes, wait_for_jobs
from tests.factories import PolicyFactory, RegisteredItemFactory, VMSourceFactory
from tests.test_prune import assert_point_totals
from vaults import services
from vaults.choices import Operation, ProtectionState, RegistrationState
from vaults.errors import ErrorCode, Refused
from vaults.models import RecoveryPoint, RegisteredItem, Vault
from vaults.operations.delete_data import purge_expired, start_delete_backup_data, start_undelete
from vaults.operations.protection import start_stop_protection
from vaults.operations.registration import start_unregister
from vaults.operations.restore import start_restore

P = ProtectionState


def stopped_with_data(vault, owner, name="web01"):
    item = protect(vault, owner, name)
    backup(vault, owner, item)
    wait_for_jobs(start_stop_protection(vault, [item.pk], owner))
    item.refresh_from_db()
    assert item.protection_state == P.STOPPED
    return item


def soft_delete(vault, owner, item, reason=""):
    (job,) = wait_for_jobs(start_delete_backup_data(vault, [item.pk], owner, typed_name=item.vm.name, reason=reason))
    assert job.status == JobStatus.COMPLETED, job.error_message
    item.refresh_from_db()
    return job


def expire(item):
    """The soft-delete days have passed (as the clock would say days later)."""
    RegisteredItem.objects.filter(pk=item.pk).update(purge_after=timezone.now() - datetime.timedelta(seconds=1))


def policy_fields(policy):
    return {name: getattr(policy, name) for name in (
        "name", "frequency", "time_of_day", "time_zone", "weekdays", "retain_daily", "retain_weekly", "weekly_days",
        "retain_monthly", "monthly_by", "monthly_week", "monthly_weekdays", "monthly_days", "retain_yearly",
        "yearly_by", "yearly_week", "yearly_weekdays", "yearly_days", "yearly_months")}


def test_deleted_data_is_soft_deleted_then_undeleted_with_every_point_restorable(worker, vault, owner, lab_path):
    item = stopped_with_data(vault, owner)
    point = RecoveryPoint.objects.get(vm=item.vm)
    with pytest.raises(Refused, match="Type the VM's name, web01"):
        start_delete_backup_data(vault, [item.pk], owner, typed_name="web02")
    job = soft_delete(vault, owner, item, reason="decommissioned")
    assert "1 recovery point of web01 (contoso-web) is soft deleted" in job.result_message
    assert (item.protection_state, item.deletion_reason) == (P.SOFT_DELETED, "decommissioned")
    days = (item.purge_after - timezone.now()).total_seconds() / 86400
    assert 13.9 < days <= 14, "the vault's default: 14 days"
    assert point.point_id in vault.repository().point_ids(), "nothing leaves the repository yet"

    with pytest.raises(Refused, match="soft deleted. Undelete it first"):
        start_restore(vault, point, owner, mode="new_vm", name="copy", cloud_service="svc")
    download = client_for(owner).get(reverse("vaults:download_disk", args=[vault.pk, point.pk, 0]))
    assert download.status_code == 409
    with pytest.raises(Refused):
        start_unregister(vault, [item.pk], owner)
    assert purge_expired() == [], "not before its days have passed"

    (undeleted,) = wait_for_jobs(start_undelete(vault, [item.pk], owner))
    assert undeleted.status == JobStatus.COMPLETED and "1 recovery point of web01" in undeleted.result_message
    item.refresh_from_db()
    assert (item.protection_state, item.purge_after, item.deletion_reason) == (P.STOPPED, None, "")
    (restored,) = wait_for_jobs([start_restore(vault, point, owner, mode="new_vm", name="web01-back",
                                               cloud_service="svc")], timeout=60)
    assert restored.status == JobStatus.COMPLETED, restored.error_message
    copy = next(vm for vm in LabSource(lab_path).inventory().vms if vm.name == "web01-back")
    original = LabSource(lab_path).get_vm(item.vm.external_id)
    for restored_disk, original_disk in zip(copy.disks, original.disks, strict=True):
        assert raw_bytes(restored_disk.path, "qcow2") == raw_bytes(original_disk.path, "qcow2")


def test_a_purge_after_the_days_removes_the_data_and_frees_the_vm(worker, vault, owner):
    item = stopped_with_data(vault, owner)
    point = RecoveryPoint.objects.get(vm=item.vm)
    soft_delete(vault, owner, item)
    expire(item)
    (job,) = wait_for_jobs(purge_expired(), timeout=60)
    assert job.operation == Operation.PURGE and job.status == JobStatus.COMPLETED, job.error_message
    assert "Purged 1 recovery point of web01" in job.result_message
    item.refresh_from_db()
    assert (item.protection_state, item.purge_after) == (P.NOT_PROTECTED, None)
    assert not RecoveryPoint.objects.filter(vm=item.vm).exists()
    assert_point_totals(vault)
    repo = vault.repository()
    assert point.point_id not in repo.point_ids() and repo.storage.list("packs/") == []
    assert purge_expired() == [], "purged once"
    (unregistered,) = wait_for_jobs(start_unregister(vault, [item.pk], owner))
    assert unregistered.status == JobStatus.COMPLETED, "with its data purged, the VM can go"


def test_a_purge_leaves_the_same_vm_id_of_another_source_alone(worker, vault, owner, subscription, tmp_path):
    """Two sources built alike hold VMs of one id. The twin's point, unlisted as a crash would leave it,
    stays in the repository when the first web01's data is purged."""
    build_lab(tmp_path / "lab2", SMALL_LAB)
    VMSourceFactory(subscription=subscription, name="Lab 2", location=str(tmp_path / "lab2"))
    discover_here(vault, owner)
    item, twin = (RegisteredItem.objects.create(vault=vault, vm=vm, registration_state=RegistrationState.REGISTERED,
                                                protection_state=P.PENDING, policy=vault.policies.get())
                  for vm in vault.discovered_vms.filter(name="web01").order_by("source__name"))
    assert twin.vm.source != item.vm.source and twin.vm.external_id == item.vm.external_id
    backup(vault, owner, twin)
    twin_point = RecoveryPoint.objects.get(vm=twin.vm)
    RecoveryPoint.objects.filter(pk=twin_point.pk).delete()
    backup(vault, owner, item)
    wait_for_jobs(start_stop_protection(vault, [item.pk], owner))
    soft_delete(vault, owner, item)
    expire(item)
    (job,) = wait_for_jobs(purge_expired(), timeout=60)
    assert job.status == JobStatus.COMPLETED and "Purged 1 recovery point" in job.result_message, job.error_message
    repo = vault.repository()
    assert twin_point.point_id in repo.point_ids() and repo.is_restorable(twin_point.point_id)


def test_an_immutable_vault_postpones_a_purge_to_the_promised_date(worker, vault, owner):
    item = stopped_with_data(vault, owner)
    point = RecoveryPoint.objects.get(vm=item.vm)
    soft_delete(vault, owner, item)
    Vault.objects.filter(pk=vault.pk).update(immutable=True)  # since the data was deleted
    expire(item)
    (job,) = wait_for_jobs(purge_expired(), timeout=60)
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS and "the purge waits until then" in job.result_message
    item.refresh_from_db()
    assert (item.protection_state, item.purge_after) == (P.SOFT_DELETED, point.retain_until)
    assert point.point_id in vault.repository().point_ids() and purge_expired() == []


def test_undeleted_before_its_purge_runs_keeps_everything(worker, vault, owner):
    item = stopped_with_data(vault, owner)
    soft_delete(vault, owner, item)
    expire(item)
    wait_for_jobs(start_undelete(vault, [item.pk], owner))
    assert purge_expired() == [], "an undeleted item is no longer due"
    assert RecoveryPoint.objects.filter(vm=item.vm).count() == 1


def test_stop_protection_can_delete_the_data_of_one_vm_whose_name_is_typed(worker, vault, owner):
    item = protect(vault, owner, "web01")
    other = protect(vault, owner, "app01", "contoso-app")
    backup(vault, owner, item, other)
    with pytest.raises(Refused, match="one VM at a time"):
        start_stop_protection(vault, [item.pk, other.pk], owner, delete_data=True, typed_name="web01")
    with pytest.raises(Refused, match="Type the VM's name"):
        start_stop_protection(vault, [item.pk], owner, delete_data=True, typed_name="")
    with pytest.raises(Refused, match="at most 200 characters"):
        start_stop_protection(vault, [item.pk], owner, delete_data=True, typed_name="web01", reason="x" * 201)
    (job,) = wait_for_jobs(start_stop_protection(vault, [item.pk], owner, delete_data=True, typed_name=" web01 ",
                                                 reason="moved to another host"))
    assert job.status == JobStatus.COMPLETED and "is soft deleted" in job.result_message
    item.refresh_from_db()
    assert (item.protection_state, item.policy, item.deletion_reason) == (P.SOFT_DELETED, None, "moved to another host")
    history = list(item.vm.state_changes.values_list("new", flat=True))
    assert history[-2:] == [P.STOPPED, P.SOFT_DELETED]
    other.refresh_from_db()
    assert other.protection_state == P.PROTECTED, "the other VM is untouched"


def test_stopping_protection_keeps_each_points_promised_date(worker, vault, owner):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)
    point = RecoveryPoint.objects.get(vm=item.vm)
    RecoveryPoint.objects.filter(pk=point.pk).update(slot=point.created_at, retain_until=None)  # as if scheduled
    wait_for_jobs(start_stop_protection(vault, [item.pk], owner))
    point.refresh_from_db()
    days = (point.retain_until - point.created_at).days
    assert 29 <= days <= 30, "DefaultPolicy keeps a daily point 30 days, now the point's own date"


def test_an_immutable_vault_refuses_to_delete_points_before_their_date(worker, vault, owner):
    item = protect(vault, owner, "web01")
    backup(vault, owner, item)  # a Backup Now point: kept 30 days
    Vault.objects.filter(pk=vault.pk).update(immutable=True)
    vault.refresh_from_db()
    with pytest.raises(Refused, match="is immutable: 1 recovery point of web01 is kept until"):
        start_stop_protection(vault, [item.pk], owner, delete_data=True, typed_name="web01")
    wait_for_jobs(start_stop_protection(vault, [item.pk], owner))
    with pytest.raises(Refused, match="is immutable"):
        start_delete_backup_data(vault, [item.pk], owner, typed_name="web01")
    RecoveryPoint.objects.filter(vm=item.vm).update(retain_until=timezone.now() - datetime.timedelta(days=1))
    soft_delete(vault, owner, item)
    assert item.protection_state == P.SOFT_DELETED, "an expired point may go"


def test_a_vault_made_immutable_after_the_job_was_queued_still_refuses(worker, vault, owner):
    item = stopped_with_data(vault, owner)
    job = Job.objects.create_queued(vault=vault, vm=item.vm, entity_name=str(item.vm),
                                    operation=Operation.DELETE_BACKUP_DATA, parameters={"reason": ""})
    Vault.objects.filter(pk=vault.pk).update(immutable=True)
    job.enqueue()
    (job,) = wait_for_jobs([job])
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.VAULT_IMMUTABLE
    item.refresh_from_db()
    assert item.protection_state == P.STOPPED


def test_an_immutable_vaults_policy_cannot_be_shortened(vault):
    Vault.objects.filter(pk=vault.pk).update(immutable=True)
    policy = vault.policies.get()
    fields = policy_fields(policy)
    with pytest.raises(Refused, match="is immutable: a policy's retention cannot be shortened \\(Daily\\)"):
        services.update_policy(policy, confirmed=True, **{**fields, "retain_daily": policy.retain_daily - 1})
    longer = services.update_policy(policy, **{**fields, "retain_daily": policy.retain_daily + 5})
    assert longer.retain_daily == policy.retain_daily + 5


def test_an_immutable_vaults_policy_cannot_move_a_promise_to_another_day(db):
    """Moving the weekly backup from Sunday to Monday shrinks no number and removes nothing today, but
    last Sunday's point, promised 104 weeks, would be kept 30 days: refused."""
    policy = PolicyFactory(retain_weekly=104, weekly_days=[6])
    Vault.objects.filter(pk=policy.vault.pk).update(immutable=True)
    policy.vault.refresh_from_db()
    item = RegisteredItemFactory(vault=policy.vault, policy=policy)
    today = timezone.now().astimezone(datetime.timezone.utc).date()
    sunday = today - datetime.timedelta(days=today.weekday() + 1)
    slot = datetime.datetime.combine(sunday, policy.time_of_day, tzinfo=datetime.timezone.utc)
    RecoveryPoint.objects.create(vault=policy.vault, vm=item.vm, point_id="sunday", consistency="crash", slot=slot,
                                 created_at=slot)
    fields = policy_fields(policy)
    with pytest.raises(Refused, match="\\(1 recovery point would be kept less long than promised\\)"):
        services.update_policy(policy, confirmed=True, **{**fields, "weekly_days": [0]})
    with pytest.raises(Refused, match="1 recovery point would be kept less long"):
        services.update_policy(policy, confirmed=True, **{**fields, "time_zone": "Pacific/Kiritimati"})
    assert services.update_policy(policy, **{**fields, "weekly_days": [0, 6]}).weekly_days == [0, 6]


def test_immutability_cannot_be_turned_off_from_the_settings(owner_client, vault):
    url = reverse("vaults:settings", args=[vault.pk])
    response = owner_client.post(url, {"verify_weekday": 5, "soft_delete_days": 30, "immutable": "on"}, htmx=False)
    assert response.status_code == 302
    vault.refresh_from_db()
    assert (vault.immutable, vault.soft_delete_days) == (True, 30)
    owner_client.post(url, {"verify_weekday": 5, "soft_delete_days": 30}, htmx=False)
    vault.refresh_from_db()
    assert vault.immutable, "once immutable, always"
    for days in ("13", "181", "x"):
        owner_client.post(url, {"verify_weekday": 5, "soft_delete_days": days}, htmx=False)
        vault.refresh_from_db()
        assert vault.soft_delete_days == 30
    page = owner_client.get(reverse("vaults:quick_start", args=[vault.pk])).content.decode()
    assert "This cannot be turned off" in page


def test_only_an_owner_makes_a_vault_immutable(member, vault):
    client = client_for(member)
    assert "Make the vault immutable" not in client.get(reverse("vaults:quick_start", args=[vault.pk])).content.decode()
    client.post(reverse("vaults:settings", args=[vault.pk]),
                {"verify_weekday": 5, "soft_delete_days": 20, "immutable": "on"})
    vault.refresh_from_db()
    assert (vault.immutable, vault.soft_delete_days) == (False, 20), "a Contributor keeps the rest of the settings"


def test_the_stop_protection_dialog_asks_and_keeps_what_was_typed(worker, vault, owner):
    item = protect(vault, owner, "web01")
    client = client_for(owner)
    url = reverse("vaults:stop_protection", args=[vault.pk])
    dialog = client.get(url, {"selected": item.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "Retain backup data" in dialog and "Type the VM's name, web01, to confirm" in dialog
    refused = client.post(url, {"selected": item.pk, "data": "delete", "confirm_name": "web", "reason": "gone"})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Type the VM&#x27;s name, web01, to delete its backup data." in page and 'value="gone"' in page
    item.refresh_from_db()
    assert item.protection_state == P.PENDING, "nothing changed"
    started = client.post(url, {"selected": item.pk, "data": "retain"})
    assert started.status_code == 200
    (job,) = wait_for_jobs(Job.objects.filter(vm=item.vm, operation=Operation.STOP_PROTECTION))
    item.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and item.protection_state == P.STOPPED
