"""Who owns what: subscriptions and their members, VM sources, vaults and their key exports."""

import logging
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import DatabaseError, models, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.access import RestrictedQuerySet, Role
from vaults.choices import (
    SOFT_DELETE_DAYS,
    SOFT_DELETE_MAX_DAYS,
    SOFT_DELETE_MIN_DAYS,
    SourceKind,
    Weekday,
)

log = logging.getLogger(__name__)

vault_name_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9-]{1,49}$",
    _("A vault name has 2 to 50 characters: letters, digits and hyphens, starting with a letter."),
)


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

    def audit_scope(self):
        """(subscription, vault) for the audit log."""
        return self, None


class Membership(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.READER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "user"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} – {self.subscription} ({self.get_role_display()})"

    def audit_scope(self):
        return self.subscription, None


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

    def audit_scope(self):
        return self.subscription, None

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
    # Running totals of the vault's recovery points, changed in the transaction that adds or removes a
    # point and counted afresh by Verify: the Dashboard's poll reads them instead of counting every point.
    point_count = models.BigIntegerField(_("recovery points"), default=0)
    protected_bytes = models.BigIntegerField(_("protected data"), default=0)  # the points as plain disk images
    # Beat verifies every chunk the vault's points need once a week, on this day (VERIFY_HOUR_UTC).
    verify_weekday = models.PositiveSmallIntegerField(_("weekly verify on"), choices=Weekday.choices,
                                                      default=Weekday.SATURDAY)
    repository_id = models.CharField(max_length=64, blank=True, editable=False)  # set when its repository is made
    # Deleted backup data stays this long (Soft deleted, can be undeleted) before a daily purge removes it.
    soft_delete_days = models.PositiveSmallIntegerField(
        _("keep deleted backup data for (days)"), default=SOFT_DELETE_DAYS,
        validators=[MinValueValidator(SOFT_DELETE_MIN_DAYS), MaxValueValidator(SOFT_DELETE_MAX_DAYS)])
    # Once set it stays set: no point is deleted before it expires and no retention is shortened.
    immutable = models.BooleanField(_("immutable"), default=False)

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

    def audit_scope(self):
        """(subscription, vault) for the audit log."""
        return self.subscription, self

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

    @classmethod
    def add_points(cls, vault_id, count, size):
        """Keep the point totals: `count` points of `size` bytes in all were added (or removed, negative),
        in the database so two jobs of one vault cannot overwrite each other's change."""
        cls.objects.filter(pk=vault_id).update(point_count=Greatest(F("point_count") + count, 0),
                                               protected_bytes=Greatest(F("protected_bytes") + size, 0))

    @classmethod
    def recount_points(cls, vault_id):
        """The point totals counted afresh from the points themselves (Verify, and the migration)."""
        from vaults.models.items import RecoveryPoint

        # The vault's row locked first: a backup that added a point meanwhile has committed (its count is
        # seen), and one that adds a point now waits and adds it after (never lost under the recount).
        with transaction.atomic():
            if cls.objects.select_for_update().filter(pk=vault_id).first() is None:
                return
            totals = RecoveryPoint.objects.filter(vault=vault_id).aggregate(count=models.Count("pk"),
                                                                            size=models.Sum("size"))
            cls.objects.filter(pk=vault_id).update(point_count=totals["count"], protected_bytes=totals["size"] or 0)

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


class StorageSample(models.Model):
    """A vault's storage on one day: what it holds (stored) and what its recovery points would take as
    plain disk images (protected); the difference is what deduplication, zero elision and compression
    saved. Kept for the Dashboard's chart; written whenever the storage total changes."""

    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="storage_samples")
    day = models.DateField()
    stored_bytes = models.BigIntegerField()
    protected_bytes = models.BigIntegerField()

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["vault", "day"], name="one_storage_sample_a_day")]

    @classmethod
    def record(cls, vault_id):
        """Today's sample (a UTC day) of the vault, as its storage stands once the surrounding transaction
        has committed: one row a day, the last word kept. Bookkeeping for a chart: a failure is logged and
        never undoes the backup or prune that called it."""
        transaction.on_commit(lambda: cls._record_now(vault_id))

    @classmethod
    def _record_now(cls, vault_id):
        try:
            totals = Vault.objects.filter(pk=vault_id).values_list("stored_bytes", "protected_bytes").first()
            if totals is None:  # the vault is gone
                return
            stored, protected = totals
            cls.objects.bulk_create(
                [cls(vault_id=vault_id, day=timezone.now().date(), stored_bytes=stored, protected_bytes=protected)],
                update_conflicts=True, unique_fields=["vault", "day"], update_fields=["stored_bytes", "protected_bytes"])
        except DatabaseError:
            log.exception("Could not record the storage of vault %s", vault_id)


class KeyExport(models.Model):
    """An Owner took a copy of a vault's key: who, when, from where. Kept as the vault's history."""

    vault = models.ForeignKey(Vault, on_delete=models.CASCADE, related_name="key_exports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    address = models.GenericIPAddressField(null=True, blank=True)

    subscription_path = "vault__subscription"

    class Meta:
        ordering = ["-at", "-pk"]
