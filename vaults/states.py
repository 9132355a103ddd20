"""Item states, changed in one place.

Each operation that changes an item's registration or protection state has a row in TRANSITIONS:
the states it may start from, the state while its job runs, and the state its job leaves behind
when it succeeds and when it fails (or is cancelled). Every change is made by move(): one guarded
UPDATE … WHERE state IN (…) that says whether it happened, and a history row when it did. A job
that finds its item no longer where the table expects it changes nothing.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from jobs.choices import JobStatus
from vaults.choices import (
    ACTIVE_PROTECTION_STATES,
    PROTECTABLE_STATES,
    Operation,
    ProtectionState,
    RegistrationState,
)
from vaults.models import ItemStateChange, RegisteredItem

REGISTRATION, PROTECTION = "registration_state", "protection_state"
PREVIOUS = "previous"  # back to the state the item was in when the operation started (kept in its job)
START, SUCCESS, FAILURE, CANCELLED = "start", "success", "failure", "cancelled"
SAME_AS_FAILURE = "same-as-failure"  # a cancelled job's item goes where a failed one's does


@dataclass(frozen=True)
class Transition:
    field: str
    start_from: tuple  # the states the operation may be started from
    running: str | None  # the state while its job runs (None: the state does not change)
    success: str | None  # after its job succeeded (None: no change)
    failure: str | None  # after its job failed or was cancelled (None: no change)
    requires: dict = field(default_factory=dict)  # the other field's states it also needs: {field: states}
    success_sets: dict = field(default_factory=dict)  # other columns set with the success state
    failure_sets: dict = field(default_factory=dict)  # … and with the failure state
    cancelled: str | None = SAME_AS_FAILURE  # after a user cancelled its job (None: no change)

    @property
    def running_in(self):
        """The states the item is in while the job runs: where success and failure move it from."""
        return (self.running,) if self.running else self.start_from


R, P = RegistrationState, ProtectionState
TRANSITIONS = {
    Operation.REGISTER: Transition(REGISTRATION, (R.UNREGISTERED,), R.REGISTERING, R.REGISTERED, R.UNREGISTERED),
    Operation.UNREGISTER: Transition(
        REGISTRATION, (R.REGISTERED,), R.UNREGISTERING, R.UNREGISTERED, R.REGISTERED,
        requires={PROTECTION: tuple(PROTECTABLE_STATES)}),
    Operation.CONFIGURE_PROTECTION: Transition(
        PROTECTION, tuple(PROTECTABLE_STATES), P.CONFIGURING, P.PENDING, PREVIOUS,
        requires={REGISTRATION: (R.REGISTERED,)}, failure_sets={"policy": None}),
    Operation.STOP_PROTECTION: Transition(
        PROTECTION, tuple(ACTIVE_PROTECTION_STATES), None, P.STOPPED, None, success_sets={"policy": None}),
    # A backup that fails leaves the item in error (one already in error stays so); a cancelled one as it was.
    Operation.BACKUP: Transition(PROTECTION, tuple(ACTIVE_PROTECTION_STATES), None, P.PROTECTED, P.ERROR,
                                 cancelled=None),
    # Deleted data is soft deleted first: Undelete brings it back, Purge (past its date) removes it.
    Operation.DELETE_BACKUP_DATA: Transition(PROTECTION, (P.STOPPED,), None, P.SOFT_DELETED, None),
    Operation.UNDELETE: Transition(PROTECTION, (P.SOFT_DELETED,), None, P.STOPPED, None),
    Operation.PURGE: Transition(PROTECTION, (P.SOFT_DELETED,), None, P.NOT_PROTECTED, None),
}


def startable(queryset, operation):
    """The items of `queryset` that `operation` may be started on."""
    transition = TRANSITIONS[operation]
    conditions = {f"{transition.field}__in": transition.start_from}
    conditions.update({f"{name}__in": states for name, states in transition.requires.items()})
    return queryset.filter(**conditions)


def start_states(operation):
    """The states (of its own field) an operation may start from: the command bar's rule."""
    return TRANSITIONS[operation].start_from


def command_rules():
    """The states each item command may be started from, for the command bar's data-allow-… attributes
    (the page's hint; the server checks again): {operation: {"registration": "…", "protection": "…"}}."""
    rules = {}
    for operation, transition in TRANSITIONS.items():
        fields = {transition.field: transition.start_from, **transition.requires}
        rules[operation.value] = {name.removesuffix("_state"): " ".join(states) for name, states in fields.items()}
    return rules


def move(item, operation, step, reason, *, previous=None, **columns):
    """Move the item as `operation`'s `step` (START, SUCCESS or FAILURE) says, only from the states the
    table expects; other columns change with it. Returns whether it moved: False changes nothing.
    A move to Unregistered deletes the item (its VM and its history stay)."""
    transition = TRANSITIONS[operation]
    if step == START:
        expected, new = transition.start_from, transition.running
    else:
        expected = transition.running_in
        if step == CANCELLED and transition.cancelled != SAME_AS_FAILURE:
            new = transition.cancelled
            if new is None:
                return False
        else:
            new = transition.success if step == SUCCESS else transition.failure
        columns = {**(transition.success_sets if step == SUCCESS else transition.failure_sets), **columns}
    if new == PREVIOUS:
        new = previous or ProtectionState.NOT_PROTECTED
    # Unordered, and locking the item's row alone: Meta.ordering would join (and lock) the VM row too.
    guarded = RegisteredItem.objects.order_by().filter(pk=item.pk, **{f"{transition.field}__in": expected})
    guarded = guarded.filter(**{f"{name}__in": states for name, states in transition.requires.items()}) \
        if step == START else guarded
    old = guarded.select_for_update(of=("self",)).values_list(transition.field, flat=True).first()
    if old is None:
        return False
    if new is None:
        moved = guarded.update(**columns) if columns else 1
    elif new == RegistrationState.UNREGISTERED:
        _record(item, transition.field, old, new, reason)
        return guarded.delete()[0] > 0
    else:
        moved = guarded.update(**{transition.field: new}, **columns)
    if moved and new is not None and new != old:
        _record(item, transition.field, old, new, reason)
    for name, value in columns.items():
        setattr(item, name, value)
    if new is not None:
        setattr(item, transition.field, new)
    return bool(moved)


def register(vault, vms, reason):
    """New items for the VMs, Registering: the Register operation's start (no item was there), in two
    statements. IntegrityError if another vault registered one of them meanwhile."""
    running = TRANSITIONS[Operation.REGISTER].running
    items = RegisteredItem.objects.bulk_create([RegisteredItem(vault=vault, vm=vm, registration_state=running)
                                                for vm in vms])
    ItemStateChange.objects.bulk_create([
        ItemStateChange(vm_id=item.vm_id, vault_id=item.vault_id, field=REGISTRATION,
                        old=RegistrationState.UNREGISTERED, new=running, reason=reason) for item in items])
    return items


def settle(job):
    """After a job failed or was cancelled: its item goes where the table says (a lookup, no rules here)."""
    transition = TRANSITIONS.get(job.operation)
    if transition is None or transition.failure is None:
        return
    item = RegisteredItem.objects.filter(vm_id=job.vm_id, vault_id=job.vault_id).first()
    if item is not None:
        step = CANCELLED if job.status == JobStatus.CANCELLED else FAILURE
        reason = (_("%(operation)s job was cancelled") if step == CANCELLED else
                  _("%(operation)s job did not complete")) % {"operation": job.get_operation_display()}
        move(item, job.operation, step, reason, previous=job.parameters.get("previous_state"))


def _record(item, field_name, old, new, reason):
    ItemStateChange.objects.create(vm_id=item.vm_id, vault_id=item.vault_id, field=field_name, old=old, new=new,
                                   reason=reason)
