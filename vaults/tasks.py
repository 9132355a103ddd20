"""Thin Celery tasks: each loads its job by id and runs one service through run_job."""

from celery import shared_task

from jobs.services import run_job
from vaults import backups, services


@shared_task(name="vaults.tasks.discover")
def discover(job_id):
    run_job(job_id, services.discover)


@shared_task(name="vaults.tasks.register")
def register(job_id):
    run_job(job_id, services.register)


@shared_task(name="vaults.tasks.unregister")
def unregister(job_id):
    run_job(job_id, services.unregister)


@shared_task(name="vaults.tasks.configure_protection")
def configure_protection(job_id):
    run_job(job_id, services.configure_protection)


@shared_task(name="vaults.tasks.stop_protection")
def stop_protection(job_id):
    run_job(job_id, services.stop_protection)


@shared_task(name="vaults.tasks.backup")
def backup(job_id):
    run_job(job_id, backups.backup, atomic=False)


@shared_task(name="vaults.tasks.schedule_backups")
def schedule_backups():
    """Celery beat's tick: start the backups the policies make due."""
    return len(backups.schedule_due_backups())


@shared_task(name="vaults.tasks.restore")
def restore(job_id):
    run_job(job_id, backups.restore, atomic=False)


@shared_task(name="vaults.tasks.verify")
def verify(job_id):
    run_job(job_id, backups.verify, atomic=False)


@shared_task(name="vaults.tasks.delete_backup_data")
def delete_backup_data(job_id):
    run_job(job_id, backups.delete_backup_data, atomic=False)
