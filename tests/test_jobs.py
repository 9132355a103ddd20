"""The job record: who may write its status, its history rows, the reaper and the Celery safety net."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import signals
from jobs.choices import JobStatus
from jobs.errors import CoreCode, JobError
from jobs.models import Job
from jobs.reaper import reap_stale_jobs
from jobs.runner import run_job
from tests.factories import JobFactory, RegisteredItemFactory
from vaults import states
from vaults.choices import Operation, ProtectionState, RegistrationState
from vaults.errors import ErrorCode


@pytest.fixture
def queued(db):
    return JobFactory(status=JobStatus.QUEUED)


def test_start_is_idempotent_and_claims_once(queued):
    assert queued.start() is True
    assert queued.start() is False, "a second delivery of the same message must not run the work again"
    queued.refresh_from_db()
    assert queued.status == JobStatus.IN_PROGRESS
    assert queued.events.filter(new_status=JobStatus.IN_PROGRESS).count() == 1


def test_run_job_runs_the_work_once(queued):
    runs = []

    def work(job):
        runs.append(job.pk)
        return JobStatus.COMPLETED, "done"

    run_job(queued.pk, work)
    run_job(queued.pk, work)
    assert runs == [queued.pk]


def test_a_failed_job_keeps_none_of_the_work_it_did(db):
    item = RegisteredItemFactory(registration_state=RegistrationState.REGISTERED,
                                 protection_state=ProtectionState.PROTECTED)
    job = JobFactory(vault=item.vault, vm=item.vm, operation=Operation.STOP_PROTECTION, status=JobStatus.QUEUED)

    def work(job):
        assert states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, "half done")
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE)

    run_job(job.pk, work)
    item.refresh_from_db()
    assert item.protection_state == ProtectionState.PROTECTED
    assert not item.vm.state_changes.exists()


def test_start_does_not_revive_an_ended_job(queued):
    queued.finish(JobStatus.CANCELLED)
    assert queued.start() is False
    assert queued.status == JobStatus.CANCELLED


def test_finish_refuses_a_status_that_is_not_terminal(queued):
    with pytest.raises(ValueError):
        queued.finish(JobStatus.IN_PROGRESS)


def test_finish_ends_a_job_once(queued):
    queued.start()
    assert queued.finish(JobStatus.COMPLETED, message="done") is True
    assert queued.finish(JobStatus.FAILED, error=CoreCode.INTERNAL_ERROR) is False
    queued.refresh_from_db()
    assert queued.status == JobStatus.COMPLETED and queued.error_code == ""
    assert [(e.old_status, e.new_status) for e in queued.events.all()] == [
        (JobStatus.QUEUED, JobStatus.IN_PROGRESS), (JobStatus.IN_PROGRESS, JobStatus.COMPLETED)
    ]


def test_run_job_stores_the_error_code_and_recommended_action(queued):
    def work(job):
        raise JobError(ErrorCode.VM_NOT_FOUND, "gone")

    run_job(queued.pk, work)
    queued.refresh_from_db()
    assert queued.status == JobStatus.FAILED
    assert queued.error_code == "VMNotFound"
    assert queued.error_message == "The VM no longer exists in its source."
    assert "Discover" in queued.recommended_action


def test_run_job_keeps_the_traceback_of_an_unexpected_error(queued):
    def work(job):
        raise ZeroDivisionError("boom")

    run_job(queued.pk, work)
    queued.refresh_from_db()
    assert queued.status == JobStatus.FAILED and queued.error_code == "InternalError"
    assert "ZeroDivisionError: boom" in queued.traceback and queued.error_detail == ""


def test_run_job_of_a_missing_job_does_nothing(db):
    run_job(999999, lambda job: pytest.fail("must not run"))


def test_reaper_fails_only_jobs_with_a_stale_heartbeat(db, settings):
    now = timezone.now()
    stale = JobFactory(status=JobStatus.IN_PROGRESS, heartbeat_at=now - settings.JOB_HEARTBEAT_TIMEOUT - timedelta(seconds=1))
    alive = JobFactory(status=JobStatus.IN_PROGRESS, heartbeat_at=now)
    assert reap_stale_jobs(now) == 1
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == JobStatus.FAILED and stale.error_code == CoreCode.WORKER_LOST
    assert alive.status == JobStatus.IN_PROGRESS


def test_reaper_fails_queued_jobs_no_worker_picked_up(db, settings):
    now = timezone.now()
    lost = JobFactory(status=JobStatus.QUEUED, created_at=now - settings.JOB_QUEUE_TIMEOUT - timedelta(seconds=1))
    waiting = JobFactory(status=JobStatus.QUEUED, created_at=now)
    assert reap_stale_jobs(now) == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.status == JobStatus.FAILED and lost.error_code == CoreCode.QUEUE_TIMEOUT
    assert waiting.status == JobStatus.QUEUED


def test_a_job_the_broker_refuses_ends_failed(transactional_db):
    """Redis down when the job is sent: a real connection to a closed port, not a mock."""
    from jobs.queue import create_job
    from portal.celery import app
    from tests.factories import VaultFactory

    vault = VaultFactory()
    saved = app.conf.broker_url, app.conf.task_publish_retry
    app.conf.broker_url, app.conf.task_publish_retry = "redis://127.0.0.1:9/0", False
    app._pool = app.amqp._producer_pool = None  # the pools were made for the real broker
    try:
        job = create_job(vault, Operation.DISCOVERY)
    finally:
        app.conf.broker_url, app.conf.task_publish_retry = saved
        app._pool = app.amqp._producer_pool = None
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.BROKER_UNAVAILABLE
    assert "Redis" in job.recommended_action


def test_a_reaped_register_job_leaves_no_item_registering(db, settings):
    item = RegisteredItemFactory(registration_state=RegistrationState.REGISTERING)
    JobFactory(vault=item.vault, vm=item.vm, operation=Operation.REGISTER, status=JobStatus.IN_PROGRESS,
               heartbeat_at=timezone.now() - timedelta(days=1))
    reap_stale_jobs()
    assert not type(item).objects.filter(pk=item.pk).exists()


def test_task_failure_signal_marks_the_job_failed(queued):
    from celery.signals import task_failure

    # Sent the way Celery sends it, so this also proves the handler is connected.
    task_failure.send(sender=None, task_id="t", exception=RuntimeError("worker blew up"), args=[queued.pk],
                      kwargs={}, traceback=None, einfo=None)
    queued.refresh_from_db()
    assert queued.status == JobStatus.FAILED and "worker blew up" in queued.traceback


def test_a_worker_process_killed_ends_its_job_worker_lost_with_its_sub_task(queued):
    from billiard.exceptions import WorkerLostError
    from celery.signals import task_failure

    queued.start()
    step = queued.subtasks.create(name="Transfer data to vault", status=JobStatus.IN_PROGRESS)
    # What Celery's pool reports when the child running the task is killed (SIGKILL, the OOM killer).
    task_failure.send(sender=None, task_id="t", args=[queued.pk], kwargs={}, traceback=None, einfo=None,
                      exception=WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL) Job: 0."))
    queued.refresh_from_db()
    step.refresh_from_db()
    assert queued.status == JobStatus.FAILED and queued.error_code == CoreCode.WORKER_LOST
    assert "signal 9" in queued.error_detail and not queued.traceback
    assert step.status == JobStatus.FAILED and step.finished_at is not None


@pytest.mark.parametrize("args", [None, [], ["not-a-number"], [987654]])
def test_signal_handlers_never_raise(db, args):
    signals.fail_job_on_task_failure(task_id="t", exception=RuntimeError("x"), args=args)
    signals.cancel_job_on_revoke(request=type("Request", (), {"args": args})())


def test_task_revoked_signal_cancels_the_job(queued):
    signals.cancel_job_on_revoke(request=type("Request", (), {"args": [queued.pk]})())
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED


def test_job_percent_and_active():
    job = Job(status=JobStatus.IN_PROGRESS, progress_done=1, progress_total=4)
    assert job.is_active and job.percent == 25
    job.status = JobStatus.COMPLETED
    assert not job.is_active and job.percent == 100


def test_the_reaper_spares_a_job_that_beat_while_it_waited_for_the_row(queued):
    queued.start()
    judged_at = timezone.now()  # the reaper judged it silent since then…
    queued.beat()  # …and its worker beat before the reaper held the row
    assert queued.finish(JobStatus.FAILED, error=CoreCode.WORKER_LOST, only_from=[JobStatus.IN_PROGRESS],
                         silent_since=judged_at) is False
    queued.refresh_from_db()
    assert queued.status == JobStatus.IN_PROGRESS
