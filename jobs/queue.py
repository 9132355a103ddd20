"""Creating jobs: a Queued row, sent to a worker once the transaction that made it commits."""

from django.db import IntegrityError, transaction

from jobs.models import Job


class JobConflict(Exception):
    """The database refused the job: another job holds the item (or runs the same operation on the whole vault)."""


def create_job(vault, operation, *, user=None, vm=None, entity_name=None, parameters=None, scheduled_for=None):
    """Create a queued job and send it to a worker when the surrounding transaction commits."""
    try:
        with transaction.atomic():
            job = Job.objects.create_queued(
                vault=vault,
                vm=vm,
                entity_name=entity_name or (str(vm) if vm else vault.name),
                operation=operation,
                created_by=user if user and user.is_authenticated else None,
                parameters=parameters or {},
                scheduled_for=scheduled_for,
            )
    except IntegrityError as error:
        raise JobConflict(str(error)) from error
    job.enqueue()
    return job


def create_jobs(vault, operation, vms, *, user=None, parameters=None):
    """create_job for each of `vms` at once: their rows and first events in two statements, sent to
    workers once the surrounding transaction commits. JobConflict, and none made, if any VM already
    has a job the database refuses a second of."""
    created_by = user if user and user.is_authenticated else None
    try:
        with transaction.atomic():
            jobs = Job.objects.create_all_queued([
                Job(vault=vault, vm=vm, entity_name=str(vm), operation=operation, created_by=created_by,
                    parameters=parameters or {}) for vm in vms])
    except IntegrityError as error:
        raise JobConflict(str(error)) from error
    transaction.on_commit(lambda: Job.send_all(jobs))
    return jobs


def create_job_if_free(vault, operation, **fields):
    """create_job for a scheduled tick: None (and nothing changed) where the item or the vault already
    has such a job, instead of JobConflict; the caller's transaction goes on either way."""
    try:
        with transaction.atomic():
            return create_job(vault, operation, **fields)
    except JobConflict:
        return None
