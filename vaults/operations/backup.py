"""Backup: Backup Now and the scheduler start it; its job takes a consistent snapshot, moves the
changed data to the vault's repository, records the recovery point and applies retention.

The repository holds the data; RecoveryPoint rows are the portal's list of it. The point is
committed to the repository before its row is written, and the row, the item's new state and the
vault's storage total commit together only while the job is still In progress: a job the reaper
failed while it stalled (and whose item may since have had its protection stopped) takes its
point out of the repository again and leaves nothing listed.
"""

import contextlib
import datetime
import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import joined, moment, note, plural_note, size
from jobs.runner import JobEnded, Progress, last_commit
from jobs.work import work_folder
from repository import DamagedData, PointNotFound, RepositoryError
from repository.chunking import changed_chunks, throttled
from sources.base import CRASH, FILE_SYSTEM
from vaults import states
from vaults.choices import BACKUP_NOW_MAX_RETAIN_DAYS, BACKUP_NOW_RETAIN_DAYS, Operation
from vaults.errors import ErrorCode, Refused
from vaults.models import RecoveryPoint, StorageSample, Vault
from vaults.operations.common import (
    REPOSITORY_WAIT,
    add_stored_bytes,
    item_of,
    item_state_changed,
    open_repository,
    repository_errors,
    source_errors,
    start_per_item,
    waiting,
)
from vaults.retention import apply_retention

log = logging.getLogger(__name__)

CONSISTENCY_WARNINGS = {CRASH: ErrorCode.EXTENSION_MISSING, FILE_SYSTEM: ErrorCode.FREEZE_FAILED}


@transaction.atomic
def start_backup(vault, item_ids, user, retain_until=None):
    """Backup Now: one Backup job per chosen protected item. Its point is kept until the end of the
    day `retain_until` (a date; 30 days from today when not given), whatever the policy's rules say."""
    parameters = {"trigger": "manual"}
    if retain_until is not None:
        check_retain_until(retain_until)
        end_of_day = datetime.datetime.combine(retain_until, datetime.time.max, tzinfo=timezone.get_current_timezone())
        parameters["retain_until"] = end_of_day.isoformat()
    _items, jobs = start_per_item(vault, Operation.BACKUP, item_ids, user, _("Only protected VMs can be backed up."),
                                  parameters=parameters)
    return jobs


def check_retain_until(day):
    """A Backup Now point's date (a datetime.date, or YYYY-MM-DD from the dialog): Refused unless it lies
    between tomorrow and the longest retention (99 years)."""
    if isinstance(day, str):
        try:
            day = datetime.date.fromisoformat(day) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) else None
        except ValueError:
            day = None
    today = timezone.localdate()
    latest = today + datetime.timedelta(days=BACKUP_NOW_MAX_RETAIN_DAYS)
    if not isinstance(day, datetime.date) or not today < day <= latest:
        raise Refused(_("Choose a date to retain the backup till, between tomorrow and %(latest)s.") % {
            "latest": latest.isoformat()})
    return day


def backup(job):
    item = item_of(job)
    if item.protection_state not in states.start_states(Operation.BACKUP) or item.policy is None:
        raise JobError(ErrorCode.ITEM_NOT_PROTECTED)
    vm = item.vm
    previous = RecoveryPoint.objects.filter(vault=job.vault, vm=vm).first()
    with work_folder(job) as work, contextlib.ExitStack() as held:
        with job.step(gettext_noop("Take snapshot")):
            job.beat(message=note("Taking a consistent snapshot"))
            with source_errors():
                snapshot = vm.source.open().snapshot(
                    vm.external_id, work, since=previous.change_position if previous else None)
                held.callback(_release, snapshot)  # whatever happens next, from the step's end on
        with job.step(gettext_noop("Transfer data to vault")):
            repo = open_repository(job.vault)
            point_id, stats, manifest = _transfer(job, repo, snapshot, previous)

    point = _record_point(job, item, repo, point_id, snapshot, stats, manifest)
    warnings = []  # (error code, message)
    if snapshot.warnings:
        warnings.append((CONSISTENCY_WARNINGS.get(snapshot.consistency, ErrorCode.FREEZE_FAILED),
                         " ".join(snapshot.warnings)))  # what the VM source said
    try:
        with job.step(gettext_noop("Apply retention")):
            removed = apply_retention(repo, item)  # their space comes back at the vault's next Prune
    except (RepositoryError, OSError) as error:  # the new point is safe; older ones wait for the next backup
        removed = 0
        warnings.append((ErrorCode.STORAGE_UNAVAILABLE, note("Retention could not run: %(error)s", error=str(error))))
    if removed:
        StorageSample.record(job.vault_id)  # the points retention forgot no longer count as protected

    message = joined(
        note("Recovery point %(time)s: %(new)s new of %(size)s read.", time=moment(point.created_at),
             new=size(stats.new_bytes), size=size(stats.bytes_read)),
        removed and plural_note("Retention removed %(count)d older point.",
                                "Retention removed %(count)d older points.", "count", count=removed),
    )
    if warnings:
        return (JobStatus.COMPLETED_WITH_WARNINGS, joined(message, *[text for _code, text in warnings]),
                warnings[0][0])
    return JobStatus.COMPLETED, message


def _record_point(job, item, repo, point_id, snapshot, stats, manifest):
    """The point's row, the item's Protected state and the storage total, together and only while the
    job still runs and the item is still protected; otherwise the point leaves the repository again
    (its packs are built on by the next backup or pruned)."""
    try:
        with last_commit(job):
            if not states.move(item, Operation.BACKUP, states.SUCCESS, _("Backup job completed")):
                raise item_state_changed(item)
            point = RecoveryPoint.objects.create(
                **point_retention(job, timezone.now()), vault=job.vault, vm=item.vm, point_id=point_id,
                consistency=snapshot.consistency,
                disks=[{"key": d["key"], "name": d["name"], "format": d["format"], "size": d["size"]}
                       for d in manifest["disks"]],
                size=sum(d["size"] for d in manifest["disks"]), bytes_read=stats.bytes_read,
                new_bytes=stats.new_bytes, stored_bytes=stats.stored_bytes,
                change_position=snapshot.change_position, job=job,
            )
            add_stored_bytes(job.vault, stats.stored_bytes)
            Vault.add_points(job.vault_id, 1, point.size)
            return point
    except (JobEnded, JobError):  # raised inside the block: nothing of it was committed
        log.warning("Job %s may not record its recovery point %s: taking it out of the repository", job.pk, point_id)
        try:
            repo.delete_point(point_id)
        except (RepositoryError, OSError):  # left unlisted, as a crash would leave it (Verify names it)
            log.exception("Could not take recovery point %s out of the repository", point_id)
        raise


def _release(snapshot):
    """The VM stops keeping the snapshot for us (a lab disk read in place). A failure here is logged,
    never raised: the point is safe, and the next snapshot of the VM removes what is left."""
    try:
        snapshot.release()
    except Exception:
        log.exception("Could not release the snapshot of %s", snapshot.vm.name)


def point_retention(job, now):
    """The point's time, and: for a scheduled backup its slot, which the policy's rules judge; for a
    Backup Now its own date (chosen in the dialog, 30 days on by default)."""
    if job.scheduled_for is not None:
        return {"created_at": now, "slot": job.scheduled_for}
    chosen = job.parameters.get("retain_until")
    if chosen:
        return {"created_at": now, "retain_until": datetime.datetime.fromisoformat(chosen)}
    return {"created_at": now, "retain_until": now + datetime.timedelta(days=BACKUP_NOW_RETAIN_DAYS)}


def _transfer(job, repo, snapshot, previous):
    """Store the snapshot's disks and commit the recovery point. Incremental where the previous
    point can serve as the base: only changed chunks are read when the source knows them."""
    base_disks = {}
    if previous:
        try:
            # By key, never by name: two disks of a VM may share a name (a point from before keys has none).
            base_disks = {disk["key"]: disk for disk in repo.load_point(previous.point_id)["disks"] if "key" in disk}
        except (PointNotFound, DamagedData):
            base_disks = {}  # the previous point is gone: read everything (chunks still dedupe)
    # Each disk with its base: the same disk in the previous point where the source knows what changed
    # since (only that is read), or None (the whole disk is read; its chunks still dedupe).
    plan = []
    for disk in snapshot.disks:
        base = base_disks.get(disk.key)
        # Never built on where damage was found: the disk is then read whole, so damaged chunks are stored anew.
        known = (base is not None and base["size"] == disk.size and disk.changed is not None
                 and not repo.refers_to_damage(base))
        plan.append((disk, base if known else None))

    def chunks(disk, base):
        read = disk.chunks(repo.chunk_size, changed_chunks(disk.changed, repo.chunk_size) if base else None)
        limit = settings.BACKUP_READ_LIMIT_MB_S
        return throttled(read, limit * 1_000_000) if limit > 0 else read

    def store(writer, disk, base):
        try:
            return writer.store_disk(disk.name, disk.size, chunks(disk, base), base=base,
                                     progress=progress.advance, format=disk.format, key=disk.key)
        except DamagedData:
            if base is None:
                raise
            # The previous point's chunk list is damaged: read this disk whole instead.
            return store(writer, disk, None)

    total = sum(sum(1 for _index in changed_chunks(disk.changed, repo.chunk_size)) * repo.chunk_size if base
                else disk.size for disk, base in plan)
    progress = Progress(job, max(total, 1), gettext_noop("Transferring data to the vault"))
    with repository_errors(), repo.writer(wait=REPOSITORY_WAIT, on_wait=waiting(job)) as writer:
        disks = [store(writer, disk, base) for disk, base in plan]
        manifest = {
            "vm": {"name": snapshot.vm.name, "cloud_service": snapshot.vm.cloud_service,
                   "region": snapshot.vm.region, "id": snapshot.vm.id},
            "consistency": snapshot.consistency,
            "disks": disks,
            "change_position": snapshot.change_position,
        }
        point_id = writer.commit(manifest)
    return point_id, writer.stats, manifest
