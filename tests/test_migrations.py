"""Migrations that touch what people already have: the retention rules keep at least what the old
ones promised; what jobs said before messages had codes is still shown."""

import contextlib
import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("vaults", "0004_unregistered_state"), ("jobs", "0005_operations_registered")]
AFTER = [("vaults", "0005_retention_rules_and_point_retention")]


@contextlib.contextmanager
def migrated_between(before, after):
    """The schema as it was at `before`; the test fills it, then migrate() brings it to `after`."""
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps

    def migrate():
        executor.loader.build_graph()
        executor.migrate(after)
        return executor.loader.project_state(after).apps

    try:
        yield old, migrate
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.fixture
def migrated_from_before(transactional_db):
    """Before the retention rules."""
    with migrated_between(BEFORE, AFTER) as migration:
        yield migration


def test_points_from_before_the_rules_keep_what_they_were_promised(migrated_from_before):
    old, migrate = migrated_from_before
    Subscription, VMSource, Vault = (old.get_model("vaults", name) for name in ("Subscription", "VMSource", "Vault"))
    VirtualMachine, Policy, RegisteredItem = (old.get_model("vaults", name) for name in
                                              ("VirtualMachine", "Policy", "RegisteredItem"))
    RecoveryPoint, Job = old.get_model("vaults", "RecoveryPoint"), old.get_model("jobs", "Job")
    subscription = Subscription.objects.create(name="s")
    source = VMSource.objects.create(subscription=subscription, name="lab", location="/nowhere")
    vault = Vault.objects.create(subscription=subscription, name="v", region="East US", wrapped_key=b"x" * 60)
    vm = VirtualMachine.objects.create(source=source, external_id="vm-1", name="vm", cloud_service="svc",
                                       region="East US", power_state="running")
    weekly = Policy.objects.create(vault=vault, name="weekly", frequency="weekly", weekdays=[2],
                                   time_of_day=datetime.time(1, 0), retain_weekly=10, retain_monthly=6)
    RegisteredItem.objects.create(vault=vault, vm=vm, registration_state="registered", protection_state="protected",
                                  policy=weekly)
    made = timezone.now() - datetime.timedelta(days=40)
    scheduled_job = Job.objects.create(vault=vault, vm=vm, entity_name="vm", operation="backup", status="completed",
                                       parameters={"trigger": "scheduled"}, scheduled_for=made)
    manual_job = Job.objects.create(vault=vault, entity_name="vm", operation="backup", status="completed",
                                    parameters={"trigger": "manual"})
    scheduled = RecoveryPoint.objects.create(vault=vault, vm=vm, point_id="a", consistency="crash", created_at=made,
                                             job=scheduled_job)
    manual = RecoveryPoint.objects.create(vault=vault, vm=vm, point_id="b", consistency="crash", created_at=made,
                                          job=manual_job)

    new = migrate()
    scheduled = new.get_model("vaults", "RecoveryPoint").objects.get(pk=scheduled.pk)
    manual = new.get_model("vaults", "RecoveryPoint").objects.get(pk=manual.pk)
    assert scheduled.slot == made and scheduled.retain_until == made + datetime.timedelta(days=6 * 31)
    assert manual.slot is None and manual.retain_until == made + datetime.timedelta(days=30)
    policy = new.get_model("vaults", "Policy").objects.get(pk=weekly.pk)
    assert policy.weekly_days == [2] and policy.monthly_weekdays == [2], "its rules keep the days it runs on"


def test_what_jobs_said_before_messages_had_codes_is_still_shown(transactional_db):
    from django.utils import translation

    from jobs.messages import render
    from tests.factories import VaultFactory

    vault = VaultFactory()
    with migrated_between([("jobs", "0005_operations_registered")], [("jobs", "0006_messages_with_codes")]) as (
            old, migrate):
        Job, JobEvent = old.get_model("jobs", "Job"), old.get_model("jobs", "JobEvent")
        job = Job.objects.create(vault_id=vault.pk, entity_name="vm", operation="backup", status="failed",
                                 result_message="Take snapshot", progress_message="Asking the VM sources",
                                 error_code="WorkerLost", error_message="old words", error_detail="it stopped")
        JobEvent.objects.create(job=job, new_status="failed", message="Backup job completed")
        new = migrate()
        job = new.get_model("jobs", "Job").objects.get(pk=job.pk)
        event = new.get_model("jobs", "JobEvent").objects.get(job=job.pk)
        assert (job.result, job.progress_note, job.detail, event.note) == (
            "Take snapshot", "Asking the VM sources", "it stopped", "Backup job completed")
        with translation.override("ko"):  # a text that is a msgid reads in Korean
            assert render(job.result) == "스냅숏 만들기" and render(job.detail) == "it stopped"
