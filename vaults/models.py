import uuid

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.access import RestrictedQuerySet, Role
from vaults.choices import (
    LAST_DAY,
    MAX_RECOVERY_POINTS_PER_ITEM,
    RETENTION_LIMITS,
    Consistency,
    Frequency,
    Month,
    PowerState,
    ProtectionState,
    RegistrationState,
    RuleBasis,
    SourceKind,
    Weekday,
    WeekOfMonth,
    retention_range_message,
)

vault_name_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9-]{1,49}$",
    _("A vault name has 2 to 50 characters: letters, digits and hyphens, starting with a letter."),
)


def _sunday():
    return [Weekday.SUNDAY.value]


def _january():
    return [Month.JANUARY.value]


def _retention_validators(kind):
    low, high, _label, _unit = RETENTION_LIMITS[kind]
    message = retention_range_message(kind)
    return [MinValueValidator(low, message), MaxValueValidator(high, message)]


class Subscription(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="subscriptions"
    )

    objects = RestrictedQuerySet.as_manager()
    subscription_path = ""

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.CONTRIBUTOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "user"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} – {self.subscription} ({self.get_role_display()})"


class VMSource(models.Model):
    """A place where VMs live (a "fabric"): opened through `sources.open_source`."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=SourceKind.choices, default=SourceKind.LAB)
    location = models.CharField(_("location"), max_length=500, help_text=_("Folder of a lab source."))

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "subscription"

    class Meta:
        verbose_name = _("VM source")
        constraints = [models.UniqueConstraint(fields=["subscription", "name"], name="source_name_per_subscription")]

    def __str__(self):
        return self.name

    def open(self):
        from sources import open_source

        return open_source(self.kind, self.location)


class Vault(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="vaults")
    name = models.CharField(_("name"), max_length=50, validators=[vault_name_validator])
    region = models.CharField(_("region"), max_length=50)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    discovered_vms = models.ManyToManyField("VirtualMachine", blank=True, related_name="discovering_vaults")
    # The repository's key, wrapped by the key-encryption key (vaults/keys.py): whoever holds the key
    # (and the storage) can read the backups, with or without this database. An Owner exports it.
    wrapped_key = models.CharField(max_length=200, editable=False)
    storage_url = models.CharField(
        _("storage"), max_length=500, blank=True,
        help_text=_("Empty for a folder under VAULTLINE_STORAGE_ROOT, or s3://bucket/prefix."),
    )
    stored_bytes = models.BigIntegerField(_("storage used"), default=0)
    # Beat verifies every chunk the vault's points need once a week, on this day (VERIFY_HOUR_UTC).
    verify_weekday = models.PositiveSmallIntegerField(_("weekly verify on"), choices=Weekday.choices,
                                                      default=Weekday.SATURDAY)
    repository_id = models.CharField(max_length=64, blank=True, editable=False)  # set when its repository is made

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "subscription"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "subscription",
                name="vault_name_per_subscription",
                violation_error_message=_("A vault with this name already exists in this subscription."),
            )
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.wrapped_key:  # a new vault: its own random key, wrapped before it is stored
            from repository import new_key
            from vaults.keys import wrap

            self.wrapped_key = wrap(self.uuid, new_key())
        super().save(*args, **kwargs)

    def key(self):
        """The vault's key, unwrapped (KeyUnavailable if its key-encryption key is not configured)."""
        from vaults.keys import unwrap

        return unwrap(self.uuid, self.wrapped_key)

    @property
    def storage_location(self):
        return self.storage_url or str(settings.VAULT_STORAGE_ROOT / str(self.uuid))

    def repository(self):
        """The vault's repository, made on first use. A vault whose repository was made never gets a
        new empty one: a missing config means its storage is not there (unmounted, wrong bucket)."""
        from repository import Repository, RepositoryError, open_storage

        storage = open_storage(self.storage_location, **settings.VAULTLINE_S3_OPTIONS)
        key = self.key()
        cache = settings.VAULTLINE_CACHE_DIR
        if self.repository_id or storage.exists("config"):
            repo = Repository.open(storage, key, cache_dir=cache)
        else:
            try:
                repo = Repository.init(storage, key, cache_dir=cache)
            except RepositoryError:  # another job made it a moment ago
                repo = Repository.open(storage, key, cache_dir=cache)
        if self.repository_id and repo.config["id"] != self.repository_id:
            raise RepositoryError("The vault's storage holds another repository than the one it made")
        if not self.repository_id:
            Vault.objects.filter(pk=self.pk, repository_id="").update(repository_id=repo.config["id"])
            self.repository_id = repo.config["id"]
        return repo


class KeyExport(models.Model):
    """An Owner took a copy of a vault's key: who, when, from where. Kept as the vault's history."""

    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="key_exports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    address = models.GenericIPAddressField(null=True, blank=True)

    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["-at", "-pk"]


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
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="vm_once_per_source")]

    def __str__(self):
        return f"{self.name} ({self.cloud_service})"

    @property
    def disk_size(self):
        return sum(disk["virtual_size"] for disk in self.disks)


class Policy(models.Model):
    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(_("name"), max_length=50)
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    weekdays = models.JSONField(_("days of the week"), default=list, blank=True)
    time_of_day = models.TimeField(_("time of day"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    retain_daily = models.PositiveIntegerField(
        _("daily points, in days"), null=True, blank=True, validators=_retention_validators("daily"))
    retain_weekly = models.PositiveIntegerField(
        _("weekly points, in weeks"), null=True, blank=True, validators=_retention_validators("weekly"))
    retain_monthly = models.PositiveIntegerField(
        _("monthly points, in months"), null=True, blank=True, validators=_retention_validators("monthly"))
    retain_yearly = models.PositiveIntegerField(
        _("yearly points, in years"), null=True, blank=True, validators=_retention_validators("yearly"))
    # Which scheduled backups the long-term rules keep (vaults/retention.py); the defaults are the
    # seed's example: Sunday's, the last Sunday of each month's, the first Sunday of January's.
    weekly_days = models.JSONField(_("weekly: the backup of"), default=_sunday, blank=True)
    monthly_by = models.CharField(_("monthly: by"), max_length=10, choices=RuleBasis.choices, default=RuleBasis.WEEKDAY)
    monthly_week = models.CharField(_("monthly: week"), max_length=10, choices=WeekOfMonth.choices,
                                    default=WeekOfMonth.LAST)
    monthly_weekdays = models.JSONField(_("monthly: day of the week"), default=_sunday, blank=True)
    monthly_days = models.JSONField(_("monthly: days of the month"), default=list, blank=True)
    yearly_months = models.JSONField(_("yearly: months"), default=_january, blank=True)
    yearly_by = models.CharField(_("yearly: by"), max_length=10, choices=RuleBasis.choices, default=RuleBasis.WEEKDAY)
    yearly_week = models.CharField(_("yearly: week"), max_length=10, choices=WeekOfMonth.choices,
                                   default=WeekOfMonth.FIRST)
    yearly_weekdays = models.JSONField(_("yearly: day of the week"), default=_sunday, blank=True)
    yearly_days = models.JSONField(_("yearly: days of the month"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        verbose_name_plural = _("policies")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "vault", name="policy_name_per_vault")]

    def __str__(self):
        return self.name

    def clean(self):
        """The retention rules: they hold however a policy is made (form, wizard, admin, code)."""
        errors = {}
        if self.frequency == Frequency.DAILY:
            self.weekdays = []
            if not self.retain_daily:
                errors["retain_daily"] = _("A daily schedule needs a daily retention (1–9999 days).")
        elif self.frequency == Frequency.WEEKLY:
            if not self.weekdays:
                errors["weekdays"] = _("Choose at least one day for a weekly schedule.")
            if self.retain_daily:
                errors["retain_daily"] = _("A weekly schedule keeps weekly, monthly or yearly points, not daily ones.")
            if not self.retain_weekly:
                errors["retain_weekly"] = _("A weekly schedule needs a weekly retention (1–5163 weeks).")
        errors.update(self._rule_errors())
        kept = self.most_points_kept()
        if kept > MAX_RECOVERY_POINTS_PER_ITEM:
            errors[NON_FIELD_ERRORS] = _(
                "These rules keep up to %(kept)d recovery points; an item can have at most %(limit)d."
            ) % {"kept": kept, "limit": MAX_RECOVERY_POINTS_PER_ITEM}
        if errors:
            raise ValidationError(errors)

    def _rule_errors(self):
        """What is wrong with the long-term rules' choices of which backups they keep."""
        errors = {}
        weekdays = set(Weekday.values)
        scheduled = set(self.weekdays) if self.frequency == Frequency.WEEKLY else weekdays

        def check_days(field, values, allowed, message):
            if not isinstance(values, list) or not values or not set(values) <= allowed:
                errors[field] = message

        if self.retain_weekly:
            check_days("weekly_days", self.weekly_days, weekdays, _("Choose the days whose backups the weekly rule keeps."))
            if "weekly_days" not in errors and not set(self.weekly_days) <= scheduled:
                errors["weekly_days"] = _("The weekly rule keeps the backups of days the schedule does not back up on.")
        for kind, retain in (("monthly", self.retain_monthly), ("yearly", self.retain_yearly)):
            if not retain:
                continue
            if getattr(self, f"{kind}_by") == RuleBasis.DAY:
                if self.frequency == Frequency.WEEKLY:
                    errors[f"{kind}_by"] = _("A weekly schedule keeps the backup of a day of the week, not of a date.")
                check_days(f"{kind}_days", getattr(self, f"{kind}_days"), set(range(1, 32)) | {LAST_DAY},
                           _("Choose days of the month between 1 and 31, or the last day."))
            else:
                if getattr(self, f"{kind}_week") not in WeekOfMonth.values:
                    errors[f"{kind}_week"] = _("Choose a week of the month.")
                check_days(f"{kind}_weekdays", getattr(self, f"{kind}_weekdays"), scheduled,
                           _("Choose days of the week the schedule backs up on."))
        if self.retain_yearly:
            check_days("yearly_months", self.yearly_months, set(Month.values), _("Choose the months of the yearly rule."))
        return errors

    def most_points_kept(self):
        """How many recovery points the rules keep at most, at steady state."""
        def per_period(kind):
            by_day = getattr(self, f"{kind}_by") == RuleBasis.DAY
            return max(1, len(getattr(self, f"{kind}_days" if by_day else f"{kind}_weekdays") or []))

        weekly = (self.retain_weekly or 0) * max(1, len(self.weekly_days or []))
        monthly = (self.retain_monthly or 0) * per_period("monthly")
        yearly = (self.retain_yearly or 0) * per_period("yearly") * max(1, len(self.yearly_months or []))
        return (self.retain_daily or 0) + weekly + monthly + yearly

    @property
    def is_weekly(self):
        return self.frequency == Frequency.WEEKLY

    def rule_descriptions(self):
        """Each retention rule in words: which backups it keeps, and for how long."""
        def days(values):
            return ", ".join(str(Weekday(day).label) for day in sorted(values))

        def which(kind):
            if getattr(self, f"{kind}_by") == RuleBasis.DAY:
                dates = sorted(getattr(self, f"{kind}_days"), key=lambda day: 99 if day == LAST_DAY else day)
                return _("day %(days)s") % {"days": ", ".join(str(_("last")) if day == LAST_DAY else str(day)
                                                             for day in dates)}
            return _("the %(week)s %(days)s") % {"week": str(WeekOfMonth(getattr(self, f"{kind}_week")).label).lower(),
                                                 "days": days(getattr(self, f"{kind}_weekdays"))}

        rules = []
        if self.retain_daily:
            rules.append(ngettext("Each day's backup, for %(count)d day", "Each day's backup, for %(count)d days",
                                  self.retain_daily) % {"count": self.retain_daily})
        if self.retain_weekly:
            rules.append(ngettext("The backup of %(days)s, for %(count)d week", "The backup of %(days)s, for %(count)d weeks",
                                  self.retain_weekly) % {
                "days": days(self.weekly_days), "count": self.retain_weekly})
        if self.retain_monthly:
            rules.append(ngettext("The backup of %(which)s of each month, for %(count)d month",
                                  "The backup of %(which)s of each month, for %(count)d months", self.retain_monthly) % {
                "which": which("monthly"), "count": self.retain_monthly})
        if self.retain_yearly:
            rules.append(ngettext("The backup of %(which)s of %(months)s, for %(count)d year",
                                  "The backup of %(which)s of %(months)s, for %(count)d years", self.retain_yearly) % {
                "which": which("yearly"), "count": self.retain_yearly,
                "months": ", ".join(str(Month(month).label) for month in sorted(self.yearly_months))})
        return rules

    def weekday_names(self):
        return [Weekday(day).label for day in sorted(self.weekdays)]


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

    objects = RestrictedQuerySet.as_manager()
    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["vm__name", "vm__cloud_service"]

    def __str__(self):
        return str(self.vm)

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
        indexes = [models.Index(fields=["vm", "vault", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["vault", "point_id"], name="point_once_per_vault")]

    def __str__(self):
        return f"{self.vm} {self.created_at:%Y-%m-%d %H:%M}"
