from django.dispatch import receiver

from jobs.models import Job, job_finished
from vaults import states


@receiver(job_finished, sender=Job)
def settle_item_after_unsuccessful_job(sender, job, **kwargs):
    """Whoever ended the job (its task, the reaper, Celery's failure signal): if it did not succeed,
    its item goes where the operation's transition says."""
    if not job.succeeded:
        states.settle(job)
