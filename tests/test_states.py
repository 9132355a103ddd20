"""Item states change in one place (vaults/states.py): a guarded move per step of each operation,
a history row per change, and a failed job's item put back by a lookup in the table."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.models import Job
from jobs.reaper import reap_stale_jobs
from jobs.registry import UnknownOperation, job_type
from jobs.runner import JobEnded, last_commit, run_job
from tests.factories import PolicyFactory, RegisteredItemFactory
from vaults import states
from vaults.choices import Operation, ProtectionState, RegistrationState
from vaults.errors import ErrorCode
from vaults.models import ItemStateChange, RegisteredItem
from vaults.operations.backup import start_backup
from vaults.operations.delete_data import delete_backup_data
from vaults.operations.protection import configure_protection, start_protection
from vaults.operations.registration import start_unregister

P, R = ProtectionState, RegistrationState


def history(item):
    return list(ItemStateChange.objects.filter(vm=item.vm).order_by("pk").values_list("field", "old", "new"))


def reaped(job):
    """The worker running the job went away: the reaper fails it WorkerLost, a heartbeat timeout later."""
    job.start()
    reap_stale_jobs(timezone.now() + settings.JOB_HEARTBEAT_TIMEOUT + timedelta(seconds=1))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.WORKER_LOST
    return job


def test_every_operation_with_items_has_a_transition_and_every_operation_a_task():
    for operation in Operation:
        assert job_type(operation).task.startswith("vaults.tasks."), operation
    vault_wide = {Operation.DISCOVERY, Operation.RESTORE, Operation.VERIFY, Operation.PRUNE}
    assert set(states.TRANSITIONS) == set(Operation) - vault_wide
    with pytest.raises(UnknownOperation):
        job_type("defragment")  # an operation nobody registered is refused when the job is made, not when sent


def test_a_move_from_a_state_the_table_does_not_expect_changes_nothing(db):
    item = RegisteredItemFactory(protection_state=P.NOT_PROTECTED)
    assert states.move(item, Operation.BACKUP, states.SUCCESS, "a backup of an unprotected VM") is False
    assert states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, "stop what is not protected") is False
    item.refresh_from_db()
    assert item.protection_state == P.NOT_PROTECTED and history(item) == []


def test_a_move_is_guarded_in_the_database_not_by_the_object_in_memory(db):
    item = RegisteredItemFactory(protection_state=P.PROTECTED)
    stale = RegisteredItem.objects.get(pk=item.pk)
    assert states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, "stopped")
    assert states.move(stale, Operation.BACKUP, states.SUCCESS, "a backup that read the item before") is False
    item.refresh_from_db()
    assert item.protection_state == P.STOPPED and item.policy is None
    assert history(item) == [("protection_state", P.PROTECTED, P.STOPPED)]


def test_the_command_bar_rules_come_from_the_table():
    rules = states.command_rules()
    assert rules["backup"]["protection"].split() == [P.PENDING, P.PROTECTED, P.ERROR]
    assert rules["unregister"] == {"registration": R.REGISTERED, "protection": f"{P.NOT_PROTECTED} {P.STOPPED}"}
    assert rules["delete_backup_data"] == {"protection": P.STOPPED}


def test_unregister_that_fails_puts_the_item_back_registered(db, vault, owner):
    item = RegisteredItemFactory(vault=vault)
    (job,) = start_unregister(vault, [item.pk], owner)  # plain db: the job is never sent to a worker
    item.refresh_from_db()
    assert item.registration_state == R.UNREGISTERING and item.is_settling
    reaped(job)
    item.refresh_from_db()
    assert item.registration_state == R.REGISTERED and not item.is_settling
    assert history(item) == [("registration_state", R.REGISTERED, R.UNREGISTERING),
                             ("registration_state", R.UNREGISTERING, R.REGISTERED)]


def test_configure_protection_that_fails_puts_the_item_back_as_it_was(db, vault, owner):
    stopped = RegisteredItemFactory(vault=vault, protection_state=P.STOPPED)
    fresh = RegisteredItemFactory(vault=vault)
    jobs = start_protection(vault, [stopped.pk, fresh.pk], owner, policy=vault.policies.get())
    for item in (stopped, fresh):
        item.refresh_from_db()
        assert item.protection_state == P.CONFIGURING and item.policy is not None
    for job in jobs:
        reaped(job)
    stopped.refresh_from_db()
    fresh.refresh_from_db()
    assert (stopped.protection_state, stopped.policy) == (P.STOPPED, None)
    assert (fresh.protection_state, fresh.policy) == (P.NOT_PROTECTED, None)


def test_configure_protection_whose_policy_changed_fails_and_rolls_back(db, vault, owner):
    item = RegisteredItemFactory(vault=vault)
    (job,) = start_protection(vault, [item.pk], owner, policy=vault.policies.get())
    other = PolicyFactory(vault=vault)
    RegisteredItem.objects.filter(pk=item.pk).update(policy=other)
    run_job(job.pk, configure_protection)
    job.refresh_from_db()
    item.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.POLICY_NOT_FOUND
    assert item.protection_state == P.NOT_PROTECTED and item.policy is None


def test_a_failed_backup_leaves_the_item_in_error_and_a_stopped_item_stopped(db, vault, owner):
    item = RegisteredItemFactory(vault=vault, protection_state=P.PROTECTED, policy=vault.policies.get())
    (job,) = start_backup(vault, [item.pk], owner)
    reaped(job)
    item.refresh_from_db()
    assert item.protection_state == P.ERROR

    # A backup that the reaper fails after protection was stopped leaves the item as the operator left it.
    (job,) = start_backup(vault, [item.pk], owner)
    job.start()
    assert states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, "stopped meanwhile")
    reap_stale_jobs(timezone.now() + settings.JOB_HEARTBEAT_TIMEOUT + timedelta(seconds=1))
    item.refresh_from_db()
    assert item.protection_state == P.STOPPED


def test_a_long_job_failed_meanwhile_commits_nothing(db, vault, owner):
    item = RegisteredItemFactory(vault=vault, protection_state=P.PROTECTED, policy=vault.policies.get())
    (job,) = start_backup(vault, [item.pk], owner)
    reaped(job)
    with pytest.raises(JobEnded), transaction.atomic():
        with last_commit(job):
            states.move(item, Operation.BACKUP, states.SUCCESS, "the stalled backup woke up")
    item.refresh_from_db()
    assert item.protection_state == P.ERROR, "the reaper's settling stands; the late success is not applied"


def test_deleting_the_data_of_a_protected_item_says_why_it_is_refused(db, vault, owner):
    item = RegisteredItemFactory(vault=vault, protection_state=P.PROTECTED, policy=vault.policies.get())
    job = Job.objects.create_queued(vault=vault, vm=item.vm, entity_name=item.vm.name,
                                    operation=Operation.DELETE_BACKUP_DATA)
    run_job(job.pk, delete_backup_data, atomic=False)
    job.refresh_from_db()
    assert job.error_code == ErrorCode.PROTECTION_NOT_STOPPED
    assert "Stop protection" in job.recommended_action and "Protect the VM" not in job.recommended_action
    assert job.events.first().new_status == JobStatus.QUEUED


def test_a_move_locks_the_item_row_alone(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    item = RegisteredItemFactory(protection_state=P.PROTECTED)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, "stopped")
    (lookup,) = [query["sql"] for query in queries if query["sql"].startswith("SELECT") and "registereditem" in query["sql"]]
    assert "JOIN" not in lookup, "a VM row locked with the item would make a move wait for a discovery"
