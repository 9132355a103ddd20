"""Configure Protection and Stop Protection: a registered VM gets a policy (an existing one, or
one made in the wizard), and loses it again: its backup data kept, or deleted (soft deleted, see
delete_data.py). Each kept point keeps the date its rules promised as its own."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from jobs.errors import JobError
from jobs.messages import joined, note
from vaults import states
from vaults.choices import Operation
from vaults.errors import ErrorCode, Refused
from vaults.models import Policy, RecoveryPoint
from vaults.operations.common import item_of, item_state_changed, jobs_per_item, pick
from vaults.operations.delete_data import check_deletion, check_immutable_in_job, soft_delete
from vaults.retention import promised_until
from vaults.services import create_policy


@transaction.atomic
def start_protection(vault, item_ids, user, *, policy=None, new_policy=None):
    """Protect registered VMs with an existing policy of the vault, or with a new one made here."""
    if new_policy is not None:
        policy = create_policy(vault, **new_policy)
    if policy is None or policy.vault_id != vault.pk:
        raise Refused(_("Choose a policy of this vault."))
    # Lock the policy so a concurrent delete waits for this protection to be recorded.
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    items = pick(
        states.startable(vault.items.select_related("vm"), Operation.CONFIGURE_PROTECTION),
        item_ids,
        _("Only registered VMs that are not protected can be protected."),
    )
    jobs = []
    for item in items:
        jobs += jobs_per_item(
            vault, Operation.CONFIGURE_PROTECTION, user, [item],
            parameters={"policy": policy.pk, "previous_state": item.protection_state},
        )
        if not states.move(item, Operation.CONFIGURE_PROTECTION, states.START, _("Protection requested"),
                           policy=policy):
            raise Refused(_("%(vm)s changed meanwhile. Try again.") % {"vm": item.vm})
    return jobs


def configure_protection(job):
    item = item_of(job)
    if item.policy_id is None or item.policy_id != job.parameters.get("policy"):
        raise JobError(ErrorCode.POLICY_NOT_FOUND)
    if not states.move(item, Operation.CONFIGURE_PROTECTION, states.SUCCESS, _("Configure Protection job completed"),
                       protected_at=timezone.now()):
        raise item_state_changed(item)
    return JobStatus.COMPLETED, note("%(vm)s is protected by policy %(policy)s.", vm=str(item.vm),
                                     policy=item.policy.name)


@transaction.atomic
def start_stop_protection(vault, item_ids, user, *, delete_data=False, typed_name="", reason=""):
    """Stop protecting the chosen VMs, keeping their data; or one VM, deleting its data (its name typed)."""
    items = pick(states.startable(vault.items.select_related("vm"), Operation.STOP_PROTECTION), item_ids,
                 _("Only protected VMs can have their protection stopped."))
    parameters = {}
    if delete_data:
        parameters = {"delete_data": True, "reason": check_deletion(vault, items, typed_name, reason)}
    return jobs_per_item(vault, Operation.STOP_PROTECTION, user, items, parameters)


def stop_protection(job):
    item = item_of(job)
    policy = item.policy
    if job.parameters.get("delete_data"):
        check_immutable_in_job(job, item)
    if not states.move(item, Operation.STOP_PROTECTION, states.SUCCESS, _("Stop Protection job completed")):
        raise item_state_changed(item)
    keep_promised_dates(item, policy)
    if job.parameters.get("delete_data"):
        return JobStatus.COMPLETED, joined(note("Protection of %(vm)s is stopped.", vm=str(item.vm)),
                                           soft_delete(job, item, job.parameters.get("reason", "")))
    return JobStatus.COMPLETED, note("Protection of %(vm)s is stopped.", vm=str(item.vm))


def keep_promised_dates(item, policy):
    """Each point's own retain-until becomes the latest date a rule of its policy promised it: what an
    immutable vault holds it to, and what it keeps if the VM is protected again with another policy."""
    if policy is None:
        return
    points = list(RecoveryPoint.objects.filter(vault=item.vault_id, vm=item.vm_id))
    promised = promised_until(points, policy)
    changed = []
    for point in points:
        if promised[point.pk] is not None and promised[point.pk] != point.retain_until:
            point.retain_until = promised[point.pk]
            changed.append(point)
    RecoveryPoint.objects.bulk_update(changed, ["retain_until"], batch_size=500)
