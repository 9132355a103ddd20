from celery import shared_task

from jobs import archive, reaper


@shared_task(name="jobs.tasks.reap_stale_jobs")
def reap_stale_jobs():
    return reaper.reap_stale_jobs()


@shared_task(name="jobs.tasks.archive_old_jobs")
def archive_old_jobs():
    return archive.archive_old_jobs()
