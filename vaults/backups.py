"""Backups, retention and restores: what Backup Now, the scheduler and the Restore wizard start,
and what their jobs do on a worker.

The repository (see repository/) holds the data; RecoveryPoint rows are the portal's list of it.
A backup commits its recovery point to the repository before the row is written, so a crash in
between leaves a point the portal does not list, never a row without data.
"""

import calendar
import contextlib
import datetime
import logging
import re
import zoneinfo
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Greatest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs.choices import JobStatus, Operation
from jobs.errors import ErrorCode, JobError
from jobs.models import Job
from jobs.services import JobConflict, Progress, create_job
from jobs.work import work_folder
from repository import DamagedData, PointNotFound, RepositoryError
from repository.chunking import changed_chunks, file_chunks
from sources import SourceUnavailable
from sources.base import CRASH, FILE_SYSTEM, SnapshotError
from vaults.choices import ACTIVE_PROTECTION_STATES, Frequency, ProtectionState
from vaults.keys import KeyUnavailable
from vaults.models import RecoveryPoint, RegisteredItem, Vault, VirtualMachine
from vaults.services import Refused, item_of, jobs_per_item, pick

log = logging.getLogger(__name__)

SNAPSHOT_ERRORS = {
    SnapshotError.VM_NOT_FOUND: ErrorCode.VM_NOT_FOUND,
    SnapshotError.VM_NOT_RUNNING: ErrorCode.VM_NOT_RUNNING,
    SnapshotError.VM_RUNNING: ErrorCode.VM_RUNNING,
    SnapshotError.VM_NAME_TAKEN: ErrorCode.VM_NAME_TAKEN,
    SnapshotError.EXTENSION_NOT_ANSWERING: ErrorCode.EXTENSION_NOT_ANSWERING,
    SnapshotError.SNAPSHOT_TIMEOUT: ErrorCode.SNAPSHOT_TIMEOUT,
    SnapshotError.DISK_REFUSED: ErrorCode.DISK_REFUSED,
}
CONSISTENCY_WARNINGS = {CRASH: ErrorCode.EXTENSION_MISSING, FILE_SYSTEM: ErrorCode.FREEZE_FAILED}
# How long a job waits for the vault's repository while another backup of the same vault writes.
REPOSITORY_WAIT = 3600


# --- Starting backups -------------------------------------------------------------------------


@transaction.atomic
def start_backup(vault, item_ids, user):
    """Backup Now: one Backup job per chosen protected item."""
    items = pick(
        vault.items.select_related("vm").filter(protection_state__in=ACTIVE_PROTECTION_STATES),
        item_ids,
        _("Only protected VMs can be backed up."),
    )
    return jobs_per_item(vault, Operation.BACKUP, user, items, parameters={"trigger": "manual"})


def latest_slot(policy, now):
    """The newest scheduled time of the policy at or before `now` (aware, UTC), or None."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    local_now = now.astimezone(zone)
    for days_back in range(0, 8):
        day = local_now.date() - datetime.timedelta(days=days_back)
        if policy.frequency == Frequency.WEEKLY and day.weekday() not in policy.weekdays:
            continue
        slot = datetime.datetime.combine(day, policy.time_of_day, tzinfo=zone)
        if slot <= local_now:
            return slot.astimezone(datetime.timezone.utc)
    return None


def schedule_due_backups(now=None):
    """Start the Backup jobs the policies make due. Safe to run from racing ticks or workers:
    the database keeps one job per item per slot. Returns the jobs started."""
    now = now or timezone.now()
    started = []
    items = RegisteredItem.objects.filter(
        protection_state__in=ACTIVE_PROTECTION_STATES, policy__isnull=False
    ).select_related("vm", "vault", "policy")
    # Slots that already have their job (the usual case, tick after tick): skip them without an insert.
    taken = set(Job.objects.filter(scheduled_for__gte=now - datetime.timedelta(days=1)).values_list("vm_id", "scheduled_for"))
    for item in items:
        slot = latest_slot(item.policy, now)
        # A slot is due if the item was protected before it; a slot missed by more than a day is skipped.
        if slot is None or item.protected_at is None or slot < item.protected_at or now - slot > datetime.timedelta(days=1):
            continue
        if (item.vm_id, slot) in taken:
            continue
        try:
            with transaction.atomic():
                started.append(create_job(
                    item.vault, Operation.BACKUP, vm=item.vm, scheduled_for=slot,
                    parameters={"trigger": "scheduled", "slot": slot.isoformat()},
                ))
        except JobConflict:
            continue  # this slot already has its job, or the item is busy
    return started


# --- The Backup job ---------------------------------------------------------------------------


def backup(job):
    item = item_of(job)
    if item.protection_state not in ACTIVE_PROTECTION_STATES or item.policy is None:
        raise JobError(ErrorCode.ITEM_NOT_PROTECTED)
    vm = item.vm
    previous = RecoveryPoint.objects.filter(vault=job.vault, vm=vm).first()
    with work_folder(job) as work:
        with job.step(_("Take snapshot")):
            job.beat(message=_("Taking a consistent snapshot"))
            snapshot = _snapshot(vm, work, previous)
        with job.step(_("Transfer data to vault")):
            repo = _repository(job.vault)
            point_id, stats, manifest = _transfer(job, repo, snapshot, previous)

    point = RecoveryPoint.objects.create(
        vault=job.vault, vm=vm, point_id=point_id, consistency=snapshot.consistency,
        disks=[{"key": d["key"], "name": d["name"], "format": d["format"], "size": d["size"]}
               for d in manifest["disks"]],
        size=sum(d["size"] for d in manifest["disks"]), bytes_read=stats.bytes_read,
        new_bytes=stats.new_bytes, stored_bytes=stats.stored_bytes,
        change_position=snapshot.change_position, job=job,
    )
    item.change_state("protection_state", ProtectionState.PROTECTED, _("Backup job completed"))
    _add_stored_bytes(job.vault, stats.stored_bytes)
    warnings = []  # (error code, text)
    if snapshot.warnings:
        warnings.append((CONSISTENCY_WARNINGS.get(snapshot.consistency, ErrorCode.FREEZE_FAILED),
                         " ".join(snapshot.warnings)))
    try:
        with job.step(_("Apply retention")):
            removed, freed = apply_retention(job, repo, item)
        _add_stored_bytes(job.vault, -freed)
    except (RepositoryError, OSError) as error:  # the new point is safe; older ones wait for the next backup
        removed = 0
        warnings.append((ErrorCode.STORAGE_UNAVAILABLE, _("Retention could not run: %(error)s") % {"error": error}))

    message = _("Recovery point %(time)s: %(new)s new of %(size)s read.") % {
        "time": timezone.localtime(point.created_at).strftime("%Y-%m-%d %H:%M"),
        "new": filesizeformat(stats.new_bytes), "size": filesizeformat(stats.bytes_read),
    }
    if removed:
        message += " " + ngettext("Retention removed %(count)d older point.",
                                  "Retention removed %(count)d older points.", removed) % {"count": removed}
    if warnings:
        return (JobStatus.COMPLETED_WITH_WARNINGS, " ".join([message] + [text for _code, text in warnings]),
                warnings[0][0])
    return JobStatus.COMPLETED, message


@contextlib.contextmanager
def repository_errors():
    """The repository's failures as job errors, each with its code."""
    try:
        yield
    except KeyUnavailable as error:
        raise JobError(ErrorCode.KEY_UNAVAILABLE, str(error)) from None
    except DamagedData as error:
        raise JobError(ErrorCode.DAMAGED_DATA, str(error)) from None
    except PointNotFound as error:
        raise JobError(ErrorCode.RECOVERY_POINT_NOT_FOUND, str(error)) from None
    except (RepositoryError, OSError) as error:  # locked, unreachable, wrong key, disk errors
        raise JobError(ErrorCode.STORAGE_UNAVAILABLE, str(error)) from None


@contextlib.contextmanager
def source_errors():
    """The VM source's failures as job errors, each with its code."""
    try:
        yield
    except SnapshotError as error:
        raise JobError(SNAPSHOT_ERRORS[error.code], str(error)) from None
    except SourceUnavailable as error:
        raise JobError(ErrorCode.SOURCE_UNAVAILABLE, str(error)) from None


def _waiting(job):
    """What a job does while another job of its vault holds the repository: says so, and beats."""
    return lambda: job.beat(message=_("Waiting for the vault's storage"))


def _add_stored_bytes(vault, change):
    """Keep the vault's storage used as a running total (Verify counts it afresh), in the database
    so two jobs of one vault cannot overwrite each other's change."""
    Vault.objects.filter(pk=vault.pk).update(stored_bytes=Greatest(F("stored_bytes") + change, 0))


def _snapshot(vm, work, previous):
    with source_errors():
        return vm.source.open().snapshot(vm.external_id, work, since=previous.change_position if previous else None)


def _repository(vault):
    with repository_errors():
        return vault.repository()


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
        return file_chunks(disk.path, repo.chunk_size, changed_chunks(disk.changed, repo.chunk_size) if base else None)

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
    progress = Progress(job, max(total, 1), _("Transferring data to the vault"))
    with repository_errors(), repo.writer(wait=REPOSITORY_WAIT, on_wait=_waiting(job)) as writer:
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


# --- Retention --------------------------------------------------------------------------------


def points_to_keep(points, policy, now):
    """The recovery points some retention rule keeps: for each of the last N days (weeks, months,
    years) in the policy's time zone, the newest point of that period. The newest point is always kept."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    points = sorted(points, key=lambda point: point.created_at, reverse=True)
    keep = {points[0].pk} if points else set()
    for count, period in (
        (policy.retain_daily, lambda d: d.toordinal()),
        (policy.retain_weekly, lambda d: (d.toordinal() - d.weekday()) // 7),
        (policy.retain_monthly, lambda d: d.year * 12 + d.month),
        (policy.retain_yearly, lambda d: d.year),
    ):
        if not count:
            continue
        current, seen = period(now.astimezone(zone).date()), set()
        for point in points:
            bucket = period(point.created_at.astimezone(zone).date())
            if current - bucket >= count:
                break
            if bucket not in seen:
                seen.add(bucket)
                keep.add(point.pk)
    return keep


def apply_retention(job, repo, item, now=None):
    """Forget the item's recovery points that no rule keeps, then free the packs nothing needs.
    Returns (points removed, bytes freed)."""
    now = now or timezone.now()
    points = list(RecoveryPoint.objects.filter(vault=item.vault, vm=item.vm))
    keep = points_to_keep(points, item.policy, now)
    if repo.index.has_damage():
        # The newest point the item can still be restored from stays, whatever newer ones hold.
        restorable = next((point for point in sorted(points, key=lambda point: point.created_at, reverse=True)
                           if repo.is_restorable(point.point_id)), None)
        if restorable is not None:
            keep.add(restorable.pk)
    doomed = [point for point in points if point.pk not in keep]
    # The rows go first: a crash in between leaves an unlisted manifest, never a listed point without data.
    RecoveryPoint.objects.filter(pk__in=[point.pk for point in doomed]).delete()
    for point in doomed:
        repo.delete_point(point.point_id)
    freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=_waiting(job)) if doomed else 0
    return len(doomed), freed


# --- Restores ---------------------------------------------------------------------------------

RESTORE_NEW_VM, RESTORE_REPLACE = "new_vm", "replace"
VM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")  # fullmatch: "$" would let a newline through


@transaction.atomic
def start_restore(vault, point, user, *, mode, name="", cloud_service="", confirmed=False):
    """A Restore job for one recovery point of this vault: as a new VM (whose name its cloud service
    does not have yet), or over the original VM's disks (only once the user confirmed it)."""
    if point.vault_id != vault.pk:
        raise Refused(_("That recovery point belongs to another vault."))
    parameters = {"point": point.pk, "mode": mode}
    if mode == RESTORE_NEW_VM:
        for label, value in ((_("VM name"), name), (_("Cloud service"), cloud_service)):
            if not isinstance(value, str) or not VM_NAME.fullmatch(value):
                raise Refused(_("%(label)s must have 1 to 64 characters: letters, digits and hyphens, "
                                "starting with a letter.") % {"label": label})
        if VirtualMachine.objects.filter(source=point.vm.source_id, name=name, cloud_service=cloud_service).exists():
            raise Refused(_("%(service)s already has a VM named %(name)s. Choose another name.") % {
                "service": cloud_service, "name": name})
        parameters.update(name=name, cloud_service=cloud_service)
    elif mode == RESTORE_REPLACE:
        if not confirmed:
            raise Refused(_("Confirm that the disks of %(vm)s are to be overwritten with the recovery point of "
                            "%(time)s.") % {"vm": point.vm, "time": _point_time(point)})
    else:
        raise Refused(_("Choose how to restore: as a new VM, or by replacing the disks of the existing VM."))
    try:
        return create_job(vault, Operation.RESTORE, user=user, vm=point.vm, parameters=parameters)
    except JobConflict:
        raise Refused(_("Another operation is in progress on this VM. Try again when it ends.")) from None


def restore(job):
    """Write the recovery point's disks out of the vault, install them, and check what was installed
    against the recovery point, chunk by chunk. Disks go by their place in the point, never by name."""
    point = RecoveryPoint.objects.filter(vault=job.vault, pk=job.parameters.get("point")).select_related("vm__source").first()
    if point is None:
        raise JobError(ErrorCode.RECOVERY_POINT_NOT_FOUND)
    with source_errors():
        source = point.vm.source.open()
    repo = _repository(job.vault)
    with work_folder(job) as work:
        with job.step(_("Restore data from vault")), repository_errors():
            progress = Progress(job, max(point.size, 1), _("Restoring data from the vault"))
            images = []
            for index, disk in enumerate(point.disks):
                image = work / f"{index}.raw"
                repo.restore_disk(point.point_id, index, image, progress=progress.advance)
                images.append(image)
        with source_errors():
            if job.parameters["mode"] == RESTORE_NEW_VM:
                with job.step(_("Create VM")):
                    like = source.get_vm(point.vm.external_id) or SimpleNamespace(
                        has_backup_extension=point.vm.has_backup_extension)
                    vm_id = source.create_vm(
                        name=job.parameters["name"], cloud_service=job.parameters["cloud_service"],
                        region=point.vm.region, like=like,
                        disks=[(disk["name"], disk["format"], str(image)) for disk, image in zip(point.disks, images)],
                    )
                    target = _("new VM %(name)s (%(service)s)") % {
                        "name": job.parameters["name"], "service": job.parameters["cloud_service"]}
                created = source.get_vm(vm_id)
                installed = [source.export_disk(vm_id, disk.key, work / f"installed-{index}.raw")
                             for index, disk in enumerate(created.disks)]
            else:
                keys = _disk_keys(source, point)
                with job.step(_("Replace disks")):
                    # Installed and read back in one pause of the VM's writes, so the check sees what was installed.
                    exported = source.replace_disks(
                        point.vm.external_id, {key: str(image) for key, image in zip(keys, images, strict=True)},
                        export_to=work)
                    installed = [exported[key] for key in keys]
                    target = _("the disks of %(vm)s") % {"vm": point.vm}
        with job.step(_("Verify restored disks")), repository_errors():
            for index, (disk, path) in enumerate(zip(point.disks, installed, strict=True)):
                if not repo.matches(point.point_id, index, path):
                    raise JobError(ErrorCode.RESTORE_MISMATCH, f"{disk['name']} differs from the recovery point")
    return JobStatus.COMPLETED, _("Restored the recovery point of %(time)s to %(target)s; every disk checked.") % {
        "time": _point_time(point), "target": target}


def _point_time(point):
    return timezone.localtime(point.created_at).strftime("%Y-%m-%d %H:%M")


def _disk_keys(source, point):
    """The VM's disk each of the point's disks goes back to. A point made before disks had keys is
    matched by place, and only if the VM's disks are still the same names and formats in that order."""
    keys = [disk.get("key") for disk in point.disks]
    if all(keys):
        return keys
    vm = source.get_vm(point.vm.external_id)
    if vm is None or [(disk.name, disk.format) for disk in vm.disks] != [
            (disk["name"], disk["format"]) for disk in point.disks]:
        raise JobError(ErrorCode.VM_NOT_FOUND, _("The VM's disks no longer match the recovery point's."))
    return [disk.key for disk in vm.disks]


# --- For the pages ----------------------------------------------------------------------------


def with_recovery_points(items):
    """Items with `point_count` and `newest_point`: the vault's recovery points of each VM."""
    in_vault = Q(vm__recovery_points__vault=F("vault"))
    return items.annotate(
        point_count=Count("vm__recovery_points", filter=in_vault),
        newest_point=Max("vm__recovery_points__created_at", filter=in_vault),
    ).order_by("vm__name", "vm__cloud_service", "pk")  # an aggregate drops Meta.ordering


class BadDate(ValueError):
    """A calendar date the page never sends: its message is for the user."""


class RecoveryCalendar:
    """A month of the Restore wizard's calendar: the days that have recovery points are marked;
    the chosen day (by default the newest point's) lists its points, newest first."""

    EARLIEST, LATEST = datetime.date(1970, 1, 1), datetime.date(9998, 12, 31)  # room for a month either side

    def __init__(self, points, month=None, day=None):
        newest = points.first()
        today = timezone.localdate()
        self.day = self._parse(day) or (timezone.localtime(newest.created_at).date() if newest else today)
        shown = self._parse(f"{month}-01") if month else None
        self.month = shown or self.day.replace(day=1)
        marked = {value for value in points.dates("created_at", "day")}
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(self.month.year, self.month.month)
        self.weeks = [[(date, date in marked, date.month == self.month.month) for date in week] for week in weeks]
        self.previous = (self.month - datetime.timedelta(days=1)).strftime("%Y-%m")
        self.next = (self.month + datetime.timedelta(days=32)).strftime("%Y-%m")
        start = timezone.make_aware(datetime.datetime.combine(self.day, datetime.time.min))
        self.day_points = list(points.filter(created_at__gte=start, created_at__lt=start + datetime.timedelta(days=1)))
        self.newest = newest

    @classmethod
    def _parse(cls, value):
        """A date written YYYY-MM-DD (ASCII digits), between EARLIEST and LATEST; BadDate otherwise."""
        if not value:
            return None
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError(value)
            date = datetime.date.fromisoformat(value)
        except ValueError:
            raise BadDate(_("That is not a date of the calendar.")) from None
        if not cls.EARLIEST <= date <= cls.LATEST:
            raise BadDate(_("Choose a date between %(earliest)s and %(latest)s.") % {
                "earliest": cls.EARLIEST.isoformat(), "latest": cls.LATEST.isoformat()})
        return date


def stream_disk(vault, point, disk_index):
    """The disk's bytes for a download. A damaged chunk ends the stream early (the size then
    does not match, so the browser reports the download failed) and is logged."""
    try:
        yield from vault.repository().stream_disk(point.point_id, disk_index)
    except (RepositoryError, OSError, KeyUnavailable):
        log.exception("Download of disk %s from recovery point %s stopped", disk_index, point.pk)
        raise


# --- Verify -----------------------------------------------------------------------------------


def start_verify(vault, user):
    return create_job(vault, Operation.VERIFY, user=user)


def verify(job):
    """Read and check every chunk the vault's recovery points need; name the points any damage affects."""
    repo = _repository(job.vault)
    job.beat(message=_("Reading every chunk the recovery points need"))
    with repository_errors():
        report = repo.verify()
        Vault.objects.filter(pk=job.vault.pk).update(stored_bytes=repo.stored_bytes())  # the running total, afresh
    listed = {point.point_id: point for point in job.vault.recovery_points.select_related("vm")}
    # A backup that died between committing its point and recording it leaves a point the portal does not list.
    unlisted = [point_id for point_id in report.points if point_id not in listed]
    if report.ok:
        message = ngettext(
            "%(count)d recovery point verified: %(chunks)d chunks read and checked.",
            "%(count)d recovery points verified: %(chunks)d chunks read and checked.",
            len(report.points),
        ) % {"count": len(report.points), "chunks": report.chunks_checked}
        if unlisted:
            return JobStatus.COMPLETED_WITH_WARNINGS, message + " " + ngettext(
                "%(count)d of them is not listed in the portal (a backup stopped before recording it).",
                "%(count)d of them are not listed in the portal (backups stopped before recording them).",
                len(unlisted),
            ) % {"count": len(unlisted)}
        return JobStatus.COMPLETED, message
    if not report.affected_points:  # only index objects damaged: the packs' own headers serve
        return JobStatus.COMPLETED_WITH_WARNINGS, _("Every chunk checked, but some index objects are damaged: %(names)s") % {
            "names": ", ".join(sorted(report.damaged_packs))}
    affected = [
        f"{listed[point_id].vm} {timezone.localtime(listed[point_id].created_at):%Y-%m-%d %H:%M}"
        for point_id in report.affected_points if point_id in listed
    ]
    detail = "; ".join(f"{pack}: {reason}" for pack, reason in sorted(report.damaged_packs.items()))
    raise JobError(ErrorCode.DAMAGED_DATA, _("Affected recovery points: %(points)s. Damage: %(detail)s") % {
        "points": ", ".join(affected) or _("none listed"), "detail": detail})


# --- Delete backup data -----------------------------------------------------------------------


@transaction.atomic
def start_delete_backup_data(vault, item_ids, user):
    """After Stop Protection: delete every recovery point of the chosen items (a job per item)."""
    items = pick(
        vault.items.select_related("vm").filter(protection_state=ProtectionState.STOPPED),
        item_ids,
        _("Backup data can be deleted only for VMs whose protection is stopped."),
    )
    return jobs_per_item(vault, Operation.DELETE_BACKUP_DATA, user, items)


def delete_backup_data(job):
    item = item_of(job)
    if item.protection_state != ProtectionState.STOPPED:
        raise JobError(ErrorCode.ITEM_NOT_PROTECTED, _("Stop protection before deleting backup data."))
    repo = _repository(job.vault)
    RecoveryPoint.objects.filter(vault=job.vault, vm=item.vm).delete()  # rows first, as in retention
    with repository_errors():
        # Every manifest of this VM in the repository, listed or not: a retry finishes what a crash left.
        doomed = [point["id"] for point in repo.points() if point.get("vm", {}).get("id") == item.vm.external_id]
        for point_id in doomed:
            repo.delete_point(point_id)
        freed = repo.prune(wait=REPOSITORY_WAIT, on_wait=_waiting(job))
    _add_stored_bytes(job.vault, -freed)
    return JobStatus.COMPLETED, ngettext(
        "Deleted %(count)d recovery point of %(vm)s; %(freed)s freed.",
        "Deleted %(count)d recovery points of %(vm)s; %(freed)s freed.",
        len(doomed),
    ) % {"count": len(doomed), "vm": item.vm, "freed": filesizeformat(freed)}
