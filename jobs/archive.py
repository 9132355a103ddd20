"""Jobs that ended more than JOB_ARCHIVE_DAYS ago move to the archive (ArchivedJob) each night: the
jobs table, which every page and worker reads, stays the size of the last months however long the
portal runs; the Jobs tab shows archived jobs under "Older jobs"."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.models import ArchivedJob, Job, JobEvent, JobSubtask

BATCH = 1000  # jobs moved in one transaction: no lock is held for the whole night's work
COPIED = ["id", "vault_id", "vm_id", "entity_name", "operation", "status", "parameters", "created_by_id",
          "created_at", "started_at", "finished_at", "progress_done", "progress_total", "progress_note",
          "result", "error_code", "detail", "traceback"]


def archive_old_jobs(now=None):
    """Move every job that ended and was created before the cutoff, a batch at a time. Returns how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.JOB_ARCHIVE_DAYS)
    moved = 0
    while True:
        with transaction.atomic():
            jobs = list(Job.objects.select_for_update(skip_locked=True)
                        .filter(created_at__lt=cutoff, status__in=JobStatus.terminal())
                        .order_by("created_at", "pk")[:BATCH])
            if not jobs:
                return moved
            ArchivedJob.objects.bulk_create([_archived(job) for job in _with_history(jobs)])
            Job.objects.filter(pk__in=[job.pk for job in jobs]).delete()
        moved += len(jobs)


def _with_history(jobs):
    """The jobs with their events and sub-tasks (two queries for the batch)."""
    by_id = {job.pk: job for job in jobs}
    for job in jobs:
        job.event_list, job.subtask_list = [], []
    for event in JobEvent.objects.filter(job__in=by_id).order_by("at", "pk"):
        by_id[event.job_id].event_list.append({"at": event.at.isoformat(), "old_status": event.old_status,
                                               "new_status": event.new_status, "note": event.note})
    for subtask in JobSubtask.objects.filter(job__in=by_id).order_by("pk"):
        by_id[subtask.job_id].subtask_list.append({
            "name": subtask.name, "status": subtask.status,
            "started_at": subtask.started_at and subtask.started_at.isoformat(),
            "finished_at": subtask.finished_at and subtask.finished_at.isoformat()})
    return jobs


def _archived(job):
    return ArchivedJob(**{name: getattr(job, name) for name in COPIED}, events=job.event_list,
                       subtasks=job.subtask_list)
