"""The error codes of the vault operations, registered with the job core (jobs.errors)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ErrorCode(models.TextChoices):
    SOURCE_UNAVAILABLE = "SourceUnavailable", _("VM source unreachable")
    VM_NOT_FOUND = "VMNotFound", _("VM not found")
    ITEM_NOT_REGISTERED = "ItemNotRegistered", _("Item not registered")
    POLICY_NOT_FOUND = "PolicyNotFound", _("Policy not found")
    VM_NOT_RUNNING = "VMNotRunning", _("VM not in a state to back up")
    EXTENSION_NOT_ANSWERING = "ExtensionNotAnswering", _("Backup extension not answering")
    FREEZE_FAILED = "FreezeFailed", _("Freeze failed")
    EXTENSION_MISSING = "ExtensionMissing", _("Backup extension missing")
    SNAPSHOT_TIMEOUT = "SnapshotTimeout", _("Snapshot timed out")
    STORAGE_UNAVAILABLE = "StorageUnavailable", _("Vault storage unreachable or full")
    RECOVERY_POINT_NOT_FOUND = "RecoveryPointNotFound", _("Recovery point not found")
    DAMAGED_DATA = "DamagedData", _("Backup data damaged")
    ITEM_NOT_PROTECTED = "ItemNotProtected", _("Item not protected")
    RESTORE_MISMATCH = "RestoreMismatch", _("Restored disk differs from the recovery point")
    DISK_REFUSED = "DiskRefused", _("Disk cannot be read safely")
    KEY_UNAVAILABLE = "KeyUnavailable", _("Vault key unavailable")
    VM_RUNNING = "VMRunning", _("VM is running")
    VM_NAME_TAKEN = "VMNameTaken", _("VM name already in use")
    PROTECTION_NOT_STOPPED = "ProtectionNotStopped", _("Protection not stopped")
    ITEM_STATE_CHANGED = "ItemStateChanged", _("Item changed state")
    BACKUP_DATA_KEPT = "BackupDataKept", _("Backup data kept")
    VAULT_IMMUTABLE = "VaultImmutable", _("Vault is immutable")


# code -> (message, recommended action)
CATALOGUE = {
    ErrorCode.SOURCE_UNAVAILABLE: (
        _("The VM source could not be reached."),
        _("Check that the VM source's folder or host is available, then run the operation again."),
    ),
    ErrorCode.VM_NOT_FOUND: (
        _("The VM no longer exists in its source."),
        _("Run Discover to refresh the list of VMs, then try again."),
    ),
    ErrorCode.ITEM_NOT_REGISTERED: (
        _("The VM is not registered to this vault."),
        _("Register the VM with the vault, then configure protection."),
    ),
    ErrorCode.POLICY_NOT_FOUND: (
        _("The backup policy no longer exists."),
        _("Choose another policy and configure protection again."),
    ),
    ErrorCode.VM_NOT_RUNNING: (
        _("The VM is not in a state to back up: it is stopped or deleted."),
        _("Start the VM, then run Backup Now again."),
    ),
    ErrorCode.EXTENSION_NOT_ANSWERING: (
        _("The backup extension in the VM did not answer."),
        _("Check that the VM is healthy and its backup extension (guest agent) is running, then back up again."),
    ),
    ErrorCode.FREEZE_FAILED: (
        _("The backup extension could not freeze the VM's applications; the recovery point is file-system consistent."),
        _("Check the applications' writer services in the VM. The recovery point can be restored."),
    ),
    ErrorCode.EXTENSION_MISSING: (
        _("The VM has no backup extension; the recovery point is crash consistent."),
        _("Install the backup extension (guest agent) in the VM for application-consistent recovery points."),
    ),
    ErrorCode.SNAPSHOT_TIMEOUT: (
        _("The snapshot timed out: the VM's writes did not pause in time."),
        _("Back up again when the VM is less busy, or raise the snapshot timeout."),
    ),
    ErrorCode.STORAGE_UNAVAILABLE: (
        _("The vault's storage could not be written: it is unreachable or full."),
        _("Check the vault's storage (folder or bucket), its free space and credentials, then try again."),
    ),
    ErrorCode.RECOVERY_POINT_NOT_FOUND: (
        _("The recovery point was not found in the vault's storage."),
        _("Choose another recovery point, and run Verify on the vault."),
    ),
    ErrorCode.DAMAGED_DATA: (
        _("Backup data needed by this recovery point is damaged or missing; nothing was written."),
        _("Run Verify to see which recovery points are affected, and restore from another one."),
    ),
    ErrorCode.RESTORE_MISMATCH: (
        _("A restored disk, read back after it was installed, differs from the recovery point."),
        _("Check the VM's storage for errors, then restore again; do not start the VM on these disks."),
    ),
    ErrorCode.DISK_REFUSED: (
        _("A disk of the VM cannot be read safely: a file it needs is a symbolic link, outside the VM's own "
          "folder, or of a format the disk does not record. Nothing was read."),
        _("Keep every file of the VM's disks (backing files and data files too) as plain files in the VM's "
          "folder, with their formats recorded, then run Discover and back up again."),
    ),
    ErrorCode.KEY_UNAVAILABLE: (
        _("The vault's key could not be unwrapped: the key-encryption key that wrapped it is not configured."),
        _("Give the portal and its workers the key-encryption key (VAULTLINE_KEY_ENCRYPTION_KEY, or "
          "var/key_encryption_key) that wrapped this vault's key, then run the operation again."),
    ),
    ErrorCode.VM_RUNNING: (
        _("The VM is running and its writes cannot be paused, so its disks were not replaced."),
        _("Shut the VM down, then restore again; or restore as a new VM."),
    ),
    ErrorCode.VM_NAME_TAKEN: (
        _("A VM of that name already exists in that cloud service; nothing was created."),
        _("Restore again with another name or cloud service."),
    ),
    ErrorCode.ITEM_NOT_PROTECTED: (
        _("The VM is not protected by this vault."),
        _("Protect the VM with a policy, then back it up."),
    ),
    ErrorCode.PROTECTION_NOT_STOPPED: (
        _("The VM is still protected: its backup data is deleted only after its protection is stopped."),
        _("Stop protection of the VM (keeping its data), then delete its backup data."),
    ),
    ErrorCode.BACKUP_DATA_KEPT: (
        _("The VM still has recovery points in this vault; a VM is unregistered only once its backup data is deleted."),
        _("Delete the VM's backup data on the Protected Items tab; once it is purged (after the vault's "
          "soft-delete days), unregister it."),
    ),
    ErrorCode.VAULT_IMMUTABLE: (
        _("The vault is immutable: recovery points are not deleted before the date their rules promised."),
        _("Wait until the recovery points expire; an immutable vault cannot be made mutable again."),
    ),
    ErrorCode.ITEM_STATE_CHANGED: (
        _("The VM's item changed state while the job ran (another operation ended it meanwhile); "
          "the job left nothing behind."),
        _("Look at the VM's state on the Protected Items tab, then run the operation again if it is still wanted."),
    ),
}


class Refused(Exception):
    """A command that cannot be carried out as asked. Its message is for the user; nothing changed."""


class NeedsConfirmation(Refused):
    """A command that asks first (replacing a VM's disks, a policy change that removes recovery
    points); nothing changed. `removals`, where points would go: [(VM, how many)]."""

    def __init__(self, message, removals=()):
        super().__init__(message)
        self.removals = list(removals)
