from django.db import models
from django.utils.translation import gettext_lazy as _


class Operation(models.TextChoices):
    """The vault's operations, each registered with the job core (vaults/operations/)."""

    DISCOVERY = "discovery", _("Discovery")
    REGISTER = "register", _("Register")
    UNREGISTER = "unregister", _("Unregister")
    CONFIGURE_PROTECTION = "configure_protection", _("Configure Protection")
    BACKUP = "backup", _("Backup")
    RESTORE = "restore", _("Restore")
    STOP_PROTECTION = "stop_protection", _("Stop Protection")
    DELETE_BACKUP_DATA = "delete_backup_data", _("Delete Backup Data")
    VERIFY = "verify", _("Verify")


class SourceKind(models.TextChoices):
    LAB = "lab", _("Lab (disk-image folder)")


class PowerState(models.TextChoices):
    RUNNING = "running", _("Running")
    STOPPED = "stopped", _("Stopped")


class RegistrationState(models.TextChoices):
    UNREGISTERED = "unregistered", _("Not registered")  # no item: only the state history holds it
    REGISTERING = "registering", _("Registering")
    REGISTERED = "registered", _("Registered")
    UNREGISTERING = "unregistering", _("Unregistering")


class ProtectionState(models.TextChoices):
    NOT_PROTECTED = "not_protected", _("Not protected")
    CONFIGURING = "configuring", _("Configuring protection")
    PENDING = "pending", _("Protected (initial backup pending)")
    PROTECTED = "protected", _("Protected")
    ERROR = "error", _("Protection error")
    STOPPED = "stopped", _("Protection stopped")


# Items in these states are under protection: they can be backed up, or have their protection stopped.
ACTIVE_PROTECTION_STATES = [ProtectionState.PENDING, ProtectionState.PROTECTED, ProtectionState.ERROR]
# Items in these states can be protected (again), or unregistered.
PROTECTABLE_STATES = [ProtectionState.NOT_PROTECTED, ProtectionState.STOPPED]

# Items in these states appear on the Protected Items tab.
PROTECTED_ITEM_STATES = [
    ProtectionState.CONFIGURING,
    ProtectionState.PENDING,
    ProtectionState.PROTECTED,
    ProtectionState.ERROR,
    ProtectionState.STOPPED,
]


class Consistency(models.TextChoices):
    APPLICATION = "application", _("Application consistent")
    FILE_SYSTEM = "file_system", _("File-system consistent")
    CRASH = "crash", _("Crash consistent")


class Frequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


# Retention limits, the same as the seed product's (DESIGN.md): kind -> (low, high, label, unit).
RETENTION_LIMITS = {
    "daily": (1, 9999, _("Daily"), _("days")),
    "weekly": (1, 5163, _("Weekly"), _("weeks")),
    "monthly": (1, 1188, _("Monthly"), _("months")),
    "yearly": (1, 99, _("Yearly"), _("years")),
}


def retention_range_message(kind):
    low, high, label, unit = RETENTION_LIMITS[kind]
    return _("%(label)s retention must be between %(low)d and %(high)d %(unit)s.") % {
        "label": label, "low": low, "high": high, "unit": unit,
    }
MAX_RECOVERY_POINTS_PER_ITEM = 9999
DEFAULT_POLICY_NAME = "DefaultPolicy"
