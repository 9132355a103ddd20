"""Celery's safety net: a task that died outside run_job still ends its job. Never raises."""

import logging

from celery.signals import task_failure, task_revoked, worker_ready

from jobs.choices import JobStatus
from jobs.messages import note

log = logging.getLogger(__name__)


def _job_of(args):
    from jobs.models import Job

    if not args:
        return None
    try:
        return Job.objects.filter(pk=int(args[0])).first()
    except (TypeError, ValueError):
        return None


@task_failure.connect
def fail_job_on_task_failure(sender=None, task_id=None, exception=None, args=None, **kwargs):
    from billiard.exceptions import WorkerLostError

    from jobs.errors import CoreCode

    try:
        job = _job_of(args)
        if job is None or not job.is_active:
            return
        if isinstance(exception, WorkerLostError):  # the pool's child died (SIGKILL, out of memory)
            job.finish(JobStatus.FAILED, error=CoreCode.WORKER_LOST, error_detail=str(exception))
        else:
            job.fail_with_exception(exception)
    except Exception:
        log.exception("Could not mark the job of task %s failed", task_id)


@task_revoked.connect
def cancel_job_on_revoke(sender=None, request=None, **kwargs):
    try:
        job = _job_of(getattr(request, "args", None))
        if job is not None and job.is_active:
            job.finish(JobStatus.CANCELLED, message=note("The task was revoked before it finished."))
    except Exception:
        log.exception("Could not mark a revoked task's job cancelled")


@worker_ready.connect
def sweep_work_files_at_start(sender=None, **kwargs):
    """A worker killed mid-job left its snapshot copies behind: remove those of jobs that ended."""
    try:
        from jobs.work import sweep

        sweep()
    except Exception:
        log.exception("Could not sweep the work files at worker start")
