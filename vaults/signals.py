from django.dispatch import receiver

from jobs.choices import JobStatus
from jobs.models import Job, job_finished
from vaults import services


@receiver(job_finished, sender=Job)
def settle_item_after_failed_job(sender, job, **kwargs):
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        services.settle_after_failure(job)
