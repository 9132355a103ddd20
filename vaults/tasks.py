"""Thin Celery tasks: each loads its job by id and runs one operation's job body through run_job."""

from celery import shared_task
from django.conf import settings

from jobs.runner import run_job
from vaults import schedule
from vaults.operations import backup as backup_operation
from vaults.operations import delete_data, discovery, protection, registration
from vaults.operations import prune as prune_operation
from vaults.operations import restore as restore_operation
from vaults.operations import verify as verify_operation

# Long jobs beat from a thread whatever their work does, so a job stuck in I/O would never be reaped:
# past the soft limit it ends Failed (run_job keeps the traceback); past the hard limit the pool kills it.
LONG_JOB_LIMITS = {
    "soft_time_limit": settings.LONG_JOB_TIME_LIMIT.total_seconds(),
    "time_limit": settings.LONG_JOB_TIME_LIMIT.total_seconds() + 300,
}


@shared_task(name="vaults.tasks.discover")
def discover(job_id):
    run_job(job_id, discovery.discover, atomic=False)


@shared_task(name="vaults.tasks.register")
def register(job_id):
    run_job(job_id, registration.register)


@shared_task(name="vaults.tasks.unregister")
def unregister(job_id):
    run_job(job_id, registration.unregister)


@shared_task(name="vaults.tasks.configure_protection")
def configure_protection(job_id):
    run_job(job_id, protection.configure_protection)


@shared_task(name="vaults.tasks.stop_protection")
def stop_protection(job_id):
    run_job(job_id, protection.stop_protection)


@shared_task(name="vaults.tasks.backup", **LONG_JOB_LIMITS)
def backup(job_id):
    run_job(job_id, backup_operation.backup, atomic=False)


@shared_task(name="vaults.tasks.schedule_backups")
def schedule_backups():
    """Celery beat's tick: start the backups the policies make due."""
    return len(schedule.schedule_due_backups())


@shared_task(name="vaults.tasks.restore", **LONG_JOB_LIMITS)
def restore(job_id):
    run_job(job_id, restore_operation.restore, atomic=False)


@shared_task(name="vaults.tasks.verify", **LONG_JOB_LIMITS)
def verify(job_id):
    run_job(job_id, verify_operation.verify, atomic=False)


@shared_task(name="vaults.tasks.delete_backup_data")
def delete_backup_data(job_id):
    run_job(job_id, delete_data.delete_backup_data)


@shared_task(name="vaults.tasks.undelete")
def undelete(job_id):
    run_job(job_id, delete_data.undelete)


@shared_task(name="vaults.tasks.purge", **LONG_JOB_LIMITS)
def purge(job_id):
    run_job(job_id, delete_data.purge, atomic=False)


@shared_task(name="vaults.tasks.purge_deleted_data")
def purge_deleted_data():
    """Celery beat's daily tick: a Purge job per soft-deleted item whose days have passed."""
    return len(delete_data.purge_expired())


@shared_task(name="vaults.tasks.prune", **LONG_JOB_LIMITS)
def prune(job_id):
    run_job(job_id, prune_operation.prune, atomic=False)


@shared_task(name="vaults.tasks.prune_vaults")
def prune_vaults():
    """Celery beat's nightly tick: a Prune job per vault."""
    return len(prune_operation.prune_every_vault())


@shared_task(name="vaults.tasks.verify_vaults")
def verify_vaults():
    """Celery beat's daily tick: a Verify job per vault whose weekly verify day it is."""
    return len(verify_operation.verify_the_vaults_due())
