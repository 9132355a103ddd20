"""Jobs whose broker message was lost are sent again, never left Queued; a worker that cannot give
its reserved messages back to Redis carries on instead of exiting."""

import datetime
import uuid

from django.utils import timezone

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.models import MESSAGE_RESENT, Job
from jobs.reaper import MAX_RESENDS, resend_lost_jobs
from tests.conftest import held_queue, wait_for_jobs
from vaults.choices import Operation
from vaults.operations.discovery import start_discovery


def lost_job(vault, minutes_ago=5):
    """A queued Discovery whose message went nowhere (a Redis restarted, a web process killed after commit)."""
    return Job.objects.create(vault=vault, entity_name=vault.name, operation=Operation.DISCOVERY,
                              sent_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))


def test_a_queued_job_with_no_message_anywhere_is_sent_again_and_runs(worker, vault):
    job = lost_job(vault)
    assert resend_lost_jobs() == 1
    (done,) = wait_for_jobs([job])
    assert done.status == JobStatus.COMPLETED, done.error_message
    assert done.events.filter(note=MESSAGE_RESENT).count() == 1


def test_a_job_whose_message_waits_in_the_queue_is_not_sent_again(worker, vault, owner):
    with held_queue(worker):
        job = start_discovery(vault, owner)
        Job.objects.filter(pk=job.pk).update(sent_at=timezone.now() - datetime.timedelta(minutes=5))
        assert resend_lost_jobs() == 0, "its message is in the queue"
    (done,) = wait_for_jobs([job])
    assert done.status == JobStatus.COMPLETED and not done.events.filter(note=MESSAGE_RESENT).exists()


def test_a_recently_sent_job_is_left_alone(worker, vault):
    job = lost_job(vault, minutes_ago=0)
    assert resend_lost_jobs() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_a_job_lost_again_and_again_fails_with_a_reason(worker, vault):
    job = lost_job(vault)
    Job.objects.filter(pk=job.pk).update(resends=MAX_RESENDS)
    resend_lost_jobs()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == CoreCode.QUEUE_TIMEOUT


def test_reserved_messages_that_cannot_go_back_to_redis_do_not_stop_the_worker():
    """The state kombu reaches when Redis drops: the channel's pool is gone with the connection and the
    transport's client unset, then the channel gives its unacked messages back. Unguarded, that raised
    AttributeError("'NoneType' object has no attribute 'hostname'") and the worker exited."""
    from portal.celery import app  # applies the guard, as every worker does

    connection = app.connection_for_write()  # this run's broker keys
    name = f"lost-messages-test-{uuid.uuid4().hex}"
    queue = connection.SimpleQueue(name)
    try:
        queue.put({"job": 1})
        queue.get(timeout=5)  # delivered to us, not acknowledged: the QoS holds it
        channel = queue.consumer.channel
        assert len(channel.qos._delivered) == 1
        connection._do_close_transport()  # what Connection._close does before its channels finish
        channel.close()  # restores the unacked messages: must not raise
        assert len(channel.qos._delivered) == 0
    finally:
        with app.connection_for_write() as cleanup:
            cleanup.SimpleQueue(name).queue(cleanup.default_channel).delete()


def test_a_lost_job_a_worker_started_meanwhile_is_not_failed(db, vault):
    job = lost_job(vault)
    Job.objects.filter(pk=job.pk).update(resends=MAX_RESENDS)
    job.refresh_from_db()
    assert job.start(), "a worker took it after the reaper looked"
    assert not job.finish(JobStatus.FAILED, error=CoreCode.QUEUE_TIMEOUT, only_from=[JobStatus.QUEUED])
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS
