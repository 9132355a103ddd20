"""Discover, Register, Protect, Unregister and Stop Protection, each job run by a real Celery worker."""

import shutil

import pytest

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from tests.conftest import held_queue, wait_for_jobs
from vaults import services
from vaults.choices import Operation, ProtectionState, RegistrationState
from vaults.errors import ErrorCode, Refused
from vaults.models import ItemStateChange, RegisteredItem, VirtualMachine
from vaults.operations.discovery import start_discovery
from vaults.operations.protection import start_protection, start_stop_protection
from vaults.operations.registration import start_registration, start_unregister


def discover(vault, user):
    (job,) = wait_for_jobs([start_discovery(vault, user)])
    return job


def register(vault, user, *names):
    vms = vault.discovered_vms.filter(name__in=names)
    return wait_for_jobs(start_registration(vault, [vm.pk for vm in vms], user))


def test_discovery_finds_the_vms_of_the_vault_region(worker, vault, owner):
    job = discover(vault, owner)
    assert job.status == JobStatus.COMPLETED
    assert job.result_message == "Discovery found 6 VMs that can be registered."
    assert sorted(vault.discovered_vms.values_list("name", flat=True)) == sorted(
        ["web01", "app01", "app01", "batch01", "legacy01", '<b>odd & "quoted"</b>']
    )
    assert [event.new_status for event in job.events.all()] == [JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.COMPLETED]


def test_discovery_with_nothing_new_says_what_to_check(worker, vault, owner):
    discover(vault, owner)
    register(vault, owner, "web01", "app01", "batch01", "legacy01", '<b>odd & "quoted"</b>')
    job = discover(vault, owner)
    assert job.status == JobStatus.COMPLETED
    assert "No new VMs were found" in job.result_message
    assert "East US" in job.result_message and "already registered" in job.result_message


def test_discovery_reports_malformed_entries_as_warnings(worker, vault, owner, lab_path):
    (lab_path / "broken").mkdir()
    (lab_path / "broken" / "vm.json").write_text("{not json")
    job = discover(vault, owner)
    assert job.status == JobStatus.COMPLETED_WITH_WARNINGS
    assert "broken: unreadable manifest" in job.result_message
    assert vault.discovered_vms.count() == 6


def test_discovery_fails_with_a_code_when_the_source_is_gone(worker, vault, owner, lab_path):
    shutil.rmtree(lab_path)
    job = discover(vault, owner)
    assert job.status == JobStatus.FAILED
    assert job.error_code == ErrorCode.SOURCE_UNAVAILABLE
    assert job.recommended_action


def test_one_discovery_at_a_time_per_vault(worker, vault, owner):
    with held_queue(worker):
        first = start_discovery(vault, owner)
        with pytest.raises(Refused, match="Another Discovery operation is already in progress"):
            start_discovery(vault, owner)
        other_vault = services.create_vault(subscription=vault.subscription, name="other", region="East US", user=owner)
        other = start_discovery(other_vault, owner)  # another vault may discover meanwhile
    assert [job.status for job in wait_for_jobs([first, other])] == [JobStatus.COMPLETED] * 2


def test_register_creates_one_job_per_vm_and_ends_registered(worker, vault, owner):
    discover(vault, owner)
    jobs = register(vault, owner, "app01")
    assert len(jobs) == 2 and all(job.operation == Operation.REGISTER for job in jobs)
    assert sorted(job.entity_name for job in jobs) == ["app01 (contoso-app)", "app01 (fabrikam-app)"]
    assert all(job.status == JobStatus.COMPLETED for job in jobs)
    items = RegisteredItem.objects.filter(vault=vault)
    assert sorted(item.vm.cloud_service for item in items) == ["contoso-app", "fabrikam-app"]
    assert {item.registration_state for item in items} == {RegistrationState.REGISTERED}
    history = ItemStateChange.objects.filter(vm=items[0].vm).values_list("old", "new")
    assert list(history) == [(RegistrationState.UNREGISTERED, RegistrationState.REGISTERING),
                             (RegistrationState.REGISTERING, RegistrationState.REGISTERED)]


def test_a_vm_registered_to_one_vault_is_never_offered_by_another(worker, vault, owner):
    discover(vault, owner)
    register(vault, owner, "web01")
    other = services.create_vault(subscription=vault.subscription, name="other-east", region="East US", user=owner)
    discover(other, owner)
    web01 = VirtualMachine.objects.get(name="web01")
    assert not other.discovered_vms.filter(pk=web01.pk, registration__isnull=True).exists()
    with pytest.raises(Refused):
        start_registration(other, [web01.pk], owner)
    assert web01.registration.vault == vault


def test_a_vm_another_vault_registers_meanwhile_refuses_the_whole_command(db, vault, owner, monkeypatch):
    from tests.conftest import discover_here
    from vaults.operations import registration

    discover_here(vault, owner)
    other = services.create_vault(subscription=vault.subscription, name="other-east", region="East US", user=owner)
    discover_here(other, owner)
    web01, app01 = (VirtualMachine.objects.get(name=name, cloud_service__startswith="contoso")
                    for name in ("web01", "app01"))
    start_registration(vault, [web01.pk], owner)
    # The command read the list before the other vault's Register committed: the database has the last word.
    monkeypatch.setattr(registration, "registrable_vms", lambda vault: vault.discovered_vms.all())
    with pytest.raises(Refused, match="web01 .* is already registered to a vault"):
        start_registration(other, [web01.pk, app01.pk], owner)
    assert not RegisteredItem.objects.filter(vault=other).exists() and not other.jobs.filter(operation="register")


def test_register_fails_when_the_vm_left_its_source(worker, vault, owner, lab_path):
    discover(vault, owner)
    vm = vault.discovered_vms.get(name="web01")
    shutil.rmtree(lab_path / vm.external_id)
    (job,) = register(vault, owner, "web01")
    assert job.status == JobStatus.FAILED
    assert job.error_code == ErrorCode.VM_NOT_FOUND
    assert not RegisteredItem.objects.filter(vm=vm).exists(), "a failed registration leaves no item behind"


def test_protect_with_an_existing_policy(worker, vault, owner):
    discover(vault, owner)
    register(vault, owner, "web01", "legacy01")
    items = list(vault.items.all())
    policy = vault.policies.get(name="DefaultPolicy")
    jobs = wait_for_jobs(start_protection(vault, [i.pk for i in items], owner, policy=policy))
    assert [job.operation for job in jobs] == [Operation.CONFIGURE_PROTECTION] * 2
    assert all(job.status == JobStatus.COMPLETED for job in jobs)
    for item in vault.items.all():
        assert item.protection_state == ProtectionState.PENDING
        assert item.policy == policy


def test_protect_with_a_new_policy_then_stop_and_unregister(worker, vault, owner):
    discover(vault, owner)
    register(vault, owner, "web01")
    item = vault.items.get()
    new_policy = {
        "name": "Weekly", "frequency": "weekly", "weekdays": [5], "time_of_day": "03:00",
        "time_zone": "Asia/Seoul", "retain_daily": None, "retain_weekly": 12, "retain_monthly": 6,
        "retain_yearly": None, "weekly_days": [5], "monthly_weekdays": [5],
    }
    wait_for_jobs(start_protection(vault, [item.pk], owner, new_policy=new_policy))
    item.refresh_from_db()
    assert item.policy.name == "Weekly" and item.protection_state == ProtectionState.PENDING

    with pytest.raises(Refused, match="Stop protection first"):
        start_unregister(vault, [item.pk], owner)
    (stop,) = wait_for_jobs(start_stop_protection(vault, [item.pk], owner))
    assert stop.status == JobStatus.COMPLETED
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.STOPPED and item.policy is None

    (job,) = wait_for_jobs(start_unregister(vault, [item.pk], owner))
    assert job.status == JobStatus.COMPLETED
    assert not vault.items.exists()
    assert VirtualMachine.objects.get(name="web01").state_changes.last().new == "unregistered"


def test_another_operation_on_the_same_item_is_refused(worker, vault, owner):
    discover(vault, owner)
    register(vault, owner, "web01")
    item = vault.items.get()
    wait_for_jobs(start_protection(vault, [item.pk], owner, policy=vault.policies.get()))
    with held_queue(worker):
        jobs = start_stop_protection(vault, [item.pk], owner)
        # The item is still Protected, so only the database's one-active-job rule can refuse this.
        with pytest.raises(Refused, match="Another operation is in progress"):
            start_stop_protection(vault, [item.pk], owner)
    assert [job.status for job in wait_for_jobs(jobs)] == [JobStatus.COMPLETED]


def test_the_reaper_runs_on_the_worker(worker, vault, owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Job
    from portal.celery import app

    job = Job.objects.create(vault=vault, entity_name="stale", operation=Operation.DISCOVERY,
                             status=JobStatus.IN_PROGRESS, heartbeat_at=timezone.now() - timedelta(hours=1))
    app.send_task("jobs.tasks.reap_stale_jobs")
    (job,) = wait_for_jobs([job])
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST

