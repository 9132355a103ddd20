"""The reaper: jobs whose worker is gone, and jobs whose message the broker lost."""

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.broker import held_job_ids
from jobs.choices import JobStatus
from jobs.errors import CoreCode
from jobs.models import Job
from jobs.work import sweep

log = logging.getLogger(__name__)


MAX_RESENDS = 3  # a job whose message was lost this often is failed instead


def resend_lost_jobs(now=None):
    """Send again the queued jobs the broker no longer holds a message for (sent a while ago, and not
    in any queue nor reserved by a worker); fail those lost too often. Returns how many were resent."""
    from portal.celery import app

    now = now or timezone.now()
    waiting = list(Job.objects.filter(status=JobStatus.QUEUED).filter(
        Q(sent_at__lt=now - settings.JOB_LOST_MESSAGE_AFTER)
        | Q(sent_at__isnull=True, created_at__lt=now - settings.JOB_LOST_MESSAGE_AFTER)))
    if not waiting:
        return 0
    held = held_job_ids(app)
    if held is None:
        return 0
    resent = 0
    for job in waiting:
        if job.pk in held:
            continue
        if job.resends >= MAX_RESENDS:
            job.finish(JobStatus.FAILED, error=CoreCode.QUEUE_TIMEOUT, only_from=[JobStatus.QUEUED])
            continue
        log.warning("Job %s is queued but its message is not in the broker: sending it again", job.pk)
        job.send_again()
        resent += 1
    return resent


def reap_stale_jobs(now=None):
    """Fail the running jobs whose worker stopped sending heartbeats, and the queued jobs no
    worker picked up (a lost message). Returns how many it ended."""
    now = now or timezone.now()
    try:
        resend_lost_jobs(now)
    except Exception:
        log.exception("Could not send lost jobs again")
    silent_since = now - settings.JOB_HEARTBEAT_TIMEOUT
    lost = [
        (job, CoreCode.WORKER_LOST, silent_since)
        for job in Job.objects.filter(status__in=[JobStatus.IN_PROGRESS, JobStatus.CANCELLING],
                                      heartbeat_at__lt=silent_since)
    ] + [
        (job, CoreCode.QUEUE_TIMEOUT, None)
        for job in Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - settings.JOB_QUEUE_TIMEOUT)
    ]
    reaped = 0
    for job, code, silent in lost:
        try:
            # Only from the status it was judged in (a queued job a worker took meanwhile is no longer
            # lost), and only if it is still silent once its row is locked (its worker may have waited
            # for that row, beating, while the reaper judged it).
            reaped += job.finish(JobStatus.FAILED, error=code, only_from=[job.status], silent_since=silent)
        except Exception:
            log.exception("Could not reap job %s", job.pk)
    sweep()  # the work files of the jobs that ended without their worker
    return reaped
