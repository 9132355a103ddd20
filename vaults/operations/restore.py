"""Restore: a recovery point's disks written out of the vault as a new VM or over the VM's own
disks, then read back and checked chunk by chunk; and a disk streamed as a download."""

import logging
import re
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import moment, note
from jobs.queue import JobConflict, create_job
from jobs.runner import Progress, ensure_running
from jobs.work import work_folder
from repository import RepositoryError
from vaults.choices import Operation, ProtectionState
from vaults.errors import ErrorCode, NeedsConfirmation, Refused
from vaults.keys import KeyUnavailable
from vaults.models import RecoveryPoint, RegisteredItem, VirtualMachine
from vaults.operations.common import open_repository, repository_errors, source_errors

log = logging.getLogger(__name__)

RESTORE_NEW_VM, RESTORE_REPLACE = "new_vm", "replace"
VM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")  # fullmatch: "$" would let a newline through


@transaction.atomic
def start_restore(vault, point, user, *, mode, name="", cloud_service="", confirmed=False):
    """A Restore job for one recovery point of this vault: as a new VM (whose name its cloud service
    does not have yet), or over the original VM's disks (only once the user confirmed it)."""
    if point.vault_id != vault.pk:
        raise Refused(_("That recovery point belongs to another vault."))
    check_not_soft_deleted(vault, point)
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
            raise NeedsConfirmation(_("Confirm that the disks of %(vm)s are to be overwritten with the recovery point of "
                            "%(time)s.") % {"vm": point.vm, "time": point_time(point)})
    else:
        raise Refused(_("Choose how to restore: as a new VM, or by replacing the disks of the existing VM."))
    try:
        return create_job(vault, Operation.RESTORE, user=user, vm=point.vm, parameters=parameters)
    except JobConflict:
        raise Refused(_("Another operation is in progress on this VM. Try again when it ends.")) from None


def check_not_soft_deleted(vault, point):
    """A soft-deleted VM's points are not restored (nor downloaded) until it is undeleted."""
    if RegisteredItem.objects.filter(vault=vault, vm=point.vm_id, protection_state=ProtectionState.SOFT_DELETED).exists():
        raise Refused(_("The backup data of %(vm)s is soft deleted. Undelete it first to restore from it.") % {
            "vm": point.vm})


def restore(job):
    """Write the recovery point's disks out of the vault, install them, and check what was installed
    against the recovery point, chunk by chunk. Disks go by their place in the point, never by name."""
    point = RecoveryPoint.objects.filter(vault=job.vault, pk=job.parameters.get("point")).select_related("vm__source").first()
    if point is None:
        raise JobError(ErrorCode.RECOVERY_POINT_NOT_FOUND)
    with source_errors():
        source = point.vm.source.open()
    repo = open_repository(job.vault)
    with work_folder(job) as work:
        with job.step(gettext_noop("Restore data from vault")), repository_errors():
            progress = Progress(job, max(point.size, 1), gettext_noop("Restoring data from the vault"))
            images = []
            for index in range(len(point.disks)):
                image = work / f"{index}.raw"
                repo.restore_disk(point.point_id, index, image, progress=progress.advance)
                images.append(image)
        # Nothing is installed for a job the reaper failed while it stalled: the operator was told it failed.
        ensure_running(job)
        with source_errors():
            if job.parameters["mode"] == RESTORE_NEW_VM:
                with job.step(gettext_noop("Create VM")):
                    like = source.get_vm(point.vm.external_id) or SimpleNamespace(
                        has_backup_extension=point.vm.has_backup_extension)
                    vm_id = source.create_vm(
                        name=job.parameters["name"], cloud_service=job.parameters["cloud_service"],
                        region=point.vm.region, like=like,
                        disks=[(disk["name"], disk["format"], str(image)) for disk, image in zip(point.disks, images, strict=True)],
                    )
                    target = note("new VM %(name)s (%(service)s)", name=job.parameters["name"],
                                  service=job.parameters["cloud_service"])
                created = source.get_vm(vm_id)
                installed = [source.export_disk(vm_id, disk.key, work / f"installed-{index}.raw")
                             for index, disk in enumerate(created.disks)]
            else:
                keys = _disk_keys(source, point)
                with job.step(gettext_noop("Replace disks")):
                    # Installed and read back in one pause of the VM's writes, so the check sees what was installed.
                    exported = source.replace_disks(
                        point.vm.external_id, {key: str(image) for key, image in zip(keys, images, strict=True)},
                        export_to=work)
                    installed = [exported[key] for key in keys]
                    target = note("the disks of %(vm)s", vm=str(point.vm))
        with job.step(gettext_noop("Verify restored disks")), repository_errors():
            for index, (disk, path) in enumerate(zip(point.disks, installed, strict=True)):
                if not repo.matches(point.point_id, index, path):
                    raise JobError(ErrorCode.RESTORE_MISMATCH, note("%(disk)s differs from the recovery point",
                                                                    disk=disk["name"]))
    return JobStatus.COMPLETED, note("Restored the recovery point of %(time)s to %(target)s; every disk checked.",
                                     time=moment(point.created_at), target=target)


def point_time(point):
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
        raise JobError(ErrorCode.VM_NOT_FOUND, note("The VM's disks no longer match the recovery point's."))
    return [disk.key for disk in vm.disks]


def stream_disk(vault, point, disk_index):
    """The disk's bytes for a download. A damaged chunk ends the stream early (the size then
    does not match, so the browser reports the download failed) and is logged."""
    try:
        yield from vault.repository().stream_disk(point.point_id, disk_index)
    except (RepositoryError, OSError, KeyUnavailable):
        log.exception("Download of disk %s from recovery point %s stopped", disk_index, point.pk)
        raise
