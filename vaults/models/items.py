"""The VMs a source reported, the items registered with a vault, their state history and their recovery points."""


from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.access import RestrictedQuerySet
from vaults.choices import (
    Consistency,
    PowerState,
    ProtectionState,
    RegistrationState,
)
from vaults.models.policies import Policy
from vaults.models.tenancy import Vault, VMSource


class VirtualMachine(models.Model):
    """The portal's copy of what a source said about one VM, refreshed by each discovery."""

    source = models.ForeignKey(VMSource, on_delete=models.CASCADE, related_name="vms")
    external_id = models.CharField(_("id in its source"), max_length=64)
    name = models.CharField(_("name"), max_length=64)
    cloud_service = models.CharField(_("cloud service"), max_length=64)
    region = models.CharField(_("region"), max_length=64)
    power_state = models.CharField(_("power state"), max_length=20, choices=PowerState.choices)
    has_backup_extension = models.BooleanField(_("backup extension"), default=False)
    disks = models.JSONField(_("disks"), default=list)
    last_seen_at = models.DateTimeField(default=timezone.now)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "source__subscription"

    class Meta:
        verbose_name = _("virtual machine")
        ordering = ["name", "cloud_service"]
        # Lists of VMs and of items are in this order: read from an index, a page of a fleet's thousands
        # of VMs stops at its last row instead of sorting them all.
        indexes = [models.Index(fields=["name", "cloud_service"], name="vm_by_name")]
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="vm_once_per_source")]

    def __str__(self):
        return f"{self.name} ({self.cloud_service})"

    def audit_scope(self):
        return self.source.subscription, None

    @property
    def disk_size(self):
        return sum(disk["virtual_size"] for disk in self.disks)


class RegisteredItem(models.Model):
    """A VM registered with a vault. The one-to-one link is what keeps a VM in one vault only."""

    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="items")
    vm = models.OneToOneField(VirtualMachine, on_delete=models.PROTECT, related_name="registration")
    registration_state = models.CharField(
        _("registration"), max_length=20, choices=RegistrationState.choices, default=RegistrationState.REGISTERING
    )
    protection_state = models.CharField(
        _("protection"), max_length=20, choices=ProtectionState.choices, default=ProtectionState.NOT_PROTECTED
    )
    # RESTRICT, not PROTECT: a policy in use cannot be deleted, but a whole vault still can.
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.RESTRICT, related_name="items")
    registered_at = models.DateTimeField(default=timezone.now)
    protected_at = models.DateTimeField(null=True, blank=True)  # scheduled slots count from here
    # Soft deleted: its backup data stays until then (Undelete brings it back), with the reason given.
    purge_after = models.DateTimeField(_("purged after"), null=True, blank=True)
    deletion_reason = models.CharField(_("reason for deleting"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["vm__name", "vm__cloud_service"]

    def __str__(self):
        return str(self.vm)

    def audit_scope(self):
        return self.vault.subscription, self.vault

    @property
    def registration_settling(self):
        return self.registration_state in (RegistrationState.REGISTERING, RegistrationState.UNREGISTERING)

    @property
    def is_settling(self):
        """Between two states while a job works on it: the page keeps polling until it settles.
        Its states change only through vaults/states.py."""
        return self.registration_settling or self.protection_state == ProtectionState.CONFIGURING


class ItemStateChange(models.Model):
    """One change of an item's registration or protection state (vaults/states.py). Kept after
    unregistering."""

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="state_changes")
    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=30)
    old = models.CharField(max_length=20)
    new = models.CharField(max_length=20)
    reason = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)

    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["at", "pk"]


class RecoveryPoint(models.Model):
    """One backup of one VM, as the portal knows it. The repository holds the data and its own
    copy of the manifest; `point_id` names it there."""

    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="recovery_points")
    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="recovery_points")
    point_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    consistency = models.CharField(_("consistency"), max_length=20, choices=Consistency.choices)
    disks = models.JSONField(default=list)  # [{"name", "format", "size"}]
    size = models.BigIntegerField(_("size"), default=0)
    bytes_read = models.BigIntegerField(default=0)
    new_bytes = models.BigIntegerField(_("new data"), default=0)
    stored_bytes = models.BigIntegerField(default=0)
    change_position = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A scheduled backup's slot (its policy's rules decide how long it stays), or a Backup Now point's
    # own date: one never evicts the other.
    slot = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    retain_until = models.DateTimeField(_("retain until"), null=True, blank=True)
    # The last Verify that read every chunk the point needs, and whether they were all whole.
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    verified_ok = models.BooleanField(_("verified whole"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["vm", "vault", "created_at"]),
            # A vault's points newest first (the API's list, the Dashboard's timeline): a page of them is
            # read from the index in order, not sorted out of the vault's hundreds of thousands.
            models.Index(fields=["vault", "created_at", "id"], name="point_vault_newest"),
        ]
        constraints = [models.UniqueConstraint(fields=["vault", "point_id"], name="point_once_per_vault")]

    def __str__(self):
        return f"{self.vm} {self.created_at:%Y-%m-%d %H:%M}"
