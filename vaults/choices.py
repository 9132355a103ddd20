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
    PRUNE = "prune", _("Prune")
    UNDELETE = "undelete", _("Undelete")
    PURGE = "purge", _("Purge Deleted Data")


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
    SOFT_DELETED = "soft_deleted", _("Soft deleted")


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
    ProtectionState.SOFT_DELETED,
]


class Consistency(models.TextChoices):
    APPLICATION = "application", _("Application consistent")
    FILE_SYSTEM = "file_system", _("File-system consistent")
    CRASH = "crash", _("Crash consistent")


class Frequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    HOURLY = "hourly", _("Hourly")


HOURLY_INTERVALS = (4, 6, 8, 12)  # an hourly schedule backs up every this many hours, within its window
MAX_EXTRA_TIMES = 5  # a daily or weekly schedule backs up at its time and at up to this many more


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class RuleBasis(models.TextChoices):
    """A monthly or yearly rule keeps the backup of a weekday in a chosen week, or of a date."""

    WEEKDAY = "weekday", _("Day of the week")
    DAY = "day", _("Day of the month")


class WeekOfMonth(models.TextChoices):
    """Which of a month's weeks a monthly or yearly rule takes its weekday from (days 1–7 are the first)."""

    FIRST = "first", _("First")
    SECOND = "second", _("Second")
    THIRD = "third", _("Third")
    FOURTH = "fourth", _("Fourth")
    LAST = "last", _("Last")


LAST_DAY = -1  # in a monthly or yearly rule's days: the month's last day (a day past a month's end means it too)


class Month(models.IntegerChoices):
    JANUARY = 1, _("January")
    FEBRUARY = 2, _("February")
    MARCH = 3, _("March")
    APRIL = 4, _("April")
    MAY = 5, _("May")
    JUNE = 6, _("June")
    JULY = 7, _("July")
    AUGUST = 8, _("August")
    SEPTEMBER = 9, _("September")
    OCTOBER = 10, _("October")
    NOVEMBER = 11, _("November")
    DECEMBER = 12, _("December")


# A Backup Now point's own retention when the dialog does not say (the classic portal's successor's default).
BACKUP_NOW_RETAIN_DAYS = 30
BACKUP_NOW_MAX_RETAIN_DAYS = 99 * 366

# Retention limits, the same as the seed product's (DESIGN.md): kind -> (low, high, label, unit).
RETENTION_LIMITS = {
    "each": (1, 30, _("Every backup"), _("days")),  # a schedule that backs up more than once a day
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

# Deleted backup data stays this many days (the vault's setting, within these limits) before it is purged.
SOFT_DELETE_DAYS, SOFT_DELETE_MIN_DAYS, SOFT_DELETE_MAX_DAYS = 14, 14, 180
MAX_RECOVERY_POINTS_PER_ITEM = 9999
DEFAULT_POLICY_NAME = "DefaultPolicy"
