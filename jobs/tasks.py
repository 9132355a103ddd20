from celery import shared_task

from jobs import services


@shared_task(name="jobs.tasks.reap_stale_jobs")
def reap_stale_jobs():
    return services.reap_stale_jobs()
