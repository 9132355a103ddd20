"""Vaults and policies as records: creating and deleting them, and exporting a vault's key.
The operations that run as jobs live in vaults/operations/, one module each."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from vaults.choices import DEFAULT_POLICY_NAME, RETENTION_LIMITS, Frequency
from vaults.errors import NeedsConfirmation, Refused
from vaults.models import KeyExport, Policy, RecoveryPoint, Vault
from vaults.retention import points_to_keep, promised_until


@transaction.atomic
def create_vault(*, subscription, name, region, user):
    """A new vault with its DefaultPolicy (one backup a day, 30 days' retention)."""
    # The database's unique constraint is the authority; the form already told the user nicely.
    try:
        with transaction.atomic():
            vault = Vault.objects.create(subscription=subscription, name=name, region=region, created_by=user)
    except IntegrityError:  # a concurrent request took the name first
        raise Refused(_("A vault named %(name)s already exists in this subscription.") % {"name": name}) from None
    Policy.objects.create(
        vault=vault,
        name=DEFAULT_POLICY_NAME,
        frequency=Frequency.DAILY,
        time_of_day=datetime.time(22, 0),
        time_zone="UTC",
        retain_daily=30,
    )
    return vault


def points_by_item(policy):
    """[(item, [its recovery points])] of the VMs the policy protects, by VM name, in two queries."""
    items = list(policy.items.select_related("vm").order_by("vm__name", "vm__cloud_service"))
    points_of = {item.vm_id: [] for item in items}
    for point in RecoveryPoint.objects.filter(vault=policy.vault_id, vm__in=points_of):
        points_of[point.vm_id].append(point)
    return [(item, points_of[item.vm_id]) for item in items]


def points_a_change_removes(policy, changed, points_of_items, now):
    """[(VM, count)] of the points the policy's rules keep now that the changed rules would not."""
    removals = []
    for item, points in points_of_items:
        lost = points_to_keep(points, policy, now) - points_to_keep(points, changed, now)
        if lost:
            removals.append((item.vm, len(lost)))
    return removals


def points_a_change_shortens(policy, changed, points_of_items, now):
    """How many points the changed rules would keep less long than the policy promises them today."""
    shortened = 0
    for _item, points in points_of_items:
        before, after = promised_until(points, policy), promised_until(points, changed)
        shortened += sum(1 for pk, until in before.items()
                         if until is not None and until > now and (after[pk] is None or after[pk] < until))
    return shortened


@transaction.atomic
def update_policy(policy, *, confirmed=False, **fields):
    """Change a policy, for every VM it protects. A change that would remove recovery points is made
    only once confirmed (NeedsConfirmation says which); they go at each VM's next backup."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    changed = Policy(pk=policy.pk, vault=policy.vault, created_at=policy.created_at, **fields)
    try:
        changed.full_clean(exclude=["vault"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise Refused(" ".join(error.messages)) from None
    now = timezone.now()
    points_of_items = points_by_item(policy)
    if policy.vault.immutable:
        check_retention_not_shortened(policy, changed, points_a_change_shortens(policy, changed, points_of_items, now))
    removals = points_a_change_removes(policy, changed, points_of_items, now)
    if removals and not confirmed:
        total = sum(count for _vm, count in removals)
        raise NeedsConfirmation(ngettext(
            "The new rules keep %(count)d recovery point fewer than today; it goes at its VM's next backup.",
            "The new rules keep %(count)d recovery points fewer than today; they go at each VM's next backup.",
            total) % {"count": total}, removals)
    try:
        with transaction.atomic():
            changed.save(force_update=True)
    except IntegrityError:
        raise Refused(_("A policy named %(name)s already exists in this vault.") % {"name": fields["name"]}) from None
    return changed


def check_retention_not_shortened(policy, changed, shortened_points):
    """An immutable vault's policy may keep longer, never shorter: no rule's span shrinks, and no
    recovery point is kept less long than the rules promise it today (other days, another time zone)."""
    shortened = [str(RETENTION_LIMITS[kind][2]) for kind in RETENTION_LIMITS
                 if (getattr(changed, f"retain_{kind}") or 0) < (getattr(policy, f"retain_{kind}") or 0)]
    if shortened_points:
        shortened.append(ngettext("%(count)d recovery point would be kept less long than promised",
                                  "%(count)d recovery points would be kept less long than promised",
                                  shortened_points) % {"count": shortened_points})
    if shortened:
        raise Refused(_("%(vault)s is immutable: a policy's retention cannot be shortened (%(rules)s).") % {
            "vault": policy.vault.name, "rules": ", ".join(shortened)})


def create_policy(vault, **fields):
    """A new policy, checked against the retention rules however it arrives (wizard, dialog, code)."""
    policy = Policy(vault=vault, **fields)
    try:
        policy.full_clean(exclude=["vault"], validate_constraints=False)
    except ValidationError as error:
        raise Refused(" ".join(error.messages)) from None
    try:
        with transaction.atomic():
            policy.save()
            return policy
    except IntegrityError:
        raise Refused(_("A policy named %(name)s already exists in this vault.") % {"name": fields["name"]}) from None


@transaction.atomic
def delete_policies(vault, policy_ids):
    """Delete the chosen policies of a vault: all of them, or none if any still protects a VM."""
    ids = set(policy_ids)
    if not ids:
        raise Refused(_("Select a policy to delete."))
    policies = list(vault.policies.select_for_update().filter(pk__in=ids))
    if len(policies) != len(ids):
        raise Refused(_("Select a policy of this vault to delete."))
    for policy in policies:
        in_use = policy.items.count()
        if in_use:
            raise Refused(ngettext(
                "Policy %(name)s protects %(count)d VM. Protect it with another policy or stop its protection first.",
                "Policy %(name)s protects %(count)d VMs. Protect them with another policy or stop their protection first.",
                in_use,
            ) % {"name": policy.name, "count": in_use})
        policy.delete()


def delete_vault(vault, typed_name):
    """Delete an empty vault and its repository. Only a vault with no items, no recovery points and no
    running job; the user types its name to confirm. The repository's own objects go (its folder too,
    when that is left empty); the database rows last."""
    if typed_name != vault.name:
        raise Refused(_("Type the vault's name, %(name)s, to delete it.") % {"name": vault.name})
    with transaction.atomic():
        vault = Vault.objects.select_for_update().get(pk=vault.pk)
        if vault.items.exists() or vault.recovery_points.exists():
            raise Refused(_("%(name)s still holds items or backup data (soft-deleted data too, until it is "
                            "purged). Delete their backup data and unregister them first.") % {"name": vault.name})
        if vault.jobs.active().exists():
            raise Refused(_("A job of %(name)s is still running. Delete the vault when it has ended.") % {
                "name": vault.name})
        if vault.repository_id:
            vault.repository().destroy()
        vault.delete()


def export_vault_key(vault, user, address):
    """The vault key as a file to keep safe (the repository command line reads it); the export is recorded."""
    key = vault.key().hex()  # first: a key that cannot be unwrapped is not recorded as exported
    KeyExport.objects.create(vault=vault, user=user, address=address or None)
    return (
        "# Vaultline vault key. Keep it safe, apart from the vault's storage: whoever holds it and the storage\n"
        "# can read every backup of this vault, and without it nobody can, not even with the portal's database.\n"
        f"# vault: {vault.name} ({vault.uuid}) in {vault.subscription}\n"
        f"# storage: {vault.storage_location}\n"
        f"# exported by {user.get_username()} at {timezone.now():%Y-%m-%d %H:%M:%S %Z}\n"
        f"# read it with: python -m repository --repo <storage> --key-file <this file> list\n"
        f"{key}\n"
    )
