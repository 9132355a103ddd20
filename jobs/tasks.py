from celery import shared_task

from jobs import reaper


@shared_task(name="jobs.tasks.reap_stale_jobs")
def reap_stale_jobs():
    return reaper.reap_stale_jobs()
