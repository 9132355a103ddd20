"""What a policy will keep, before it is chosen: the recovery points its schedule makes from a start
date, and which of them the retention engine (vaults/retention.py, the same code retention runs)
still keeps one week, one month, one year and ten years later; how many it keeps at most; and an
estimate of the storage they need, from the VMs' measured backups or the vault's averages.

Only the points a rule could keep are simulated: each day's first backup, and every backup of the
last `retain_each` days before a horizon (older ones no rule keeps). tests/test_preview.py checks this
against the engine run over every backup."""

import datetime
import zoneinfo
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from vaults.models import RecoveryPoint
from vaults.retention import add_months, points_to_keep
from vaults.schedule import slots_on

HORIZONS = (
    ("week", _("1 week"), lambda day: day + datetime.timedelta(weeks=1)),
    ("month", _("1 month"), lambda day: add_months(day, 1)),
    ("year", _("1 year"), lambda day: add_months(day, 12)),
    ("ten_years", _("10 years"), lambda day: add_months(day, 120)),
)


START_WITHIN = datetime.timedelta(days=100 * 366)  # past it, ten years and 99 years' rules leave the calendar


def start_date(asked, today):
    """The preview's start: the date asked for (a date, or ISO text), or today if none, an unreadable one,
    or one more than a century away."""
    if not isinstance(asked, datetime.date):
        try:
            asked = datetime.date.fromisoformat(asked)
        except (TypeError, ValueError):
            return today
    return asked if abs(asked - today) <= START_WITHIN else today


def vms_for(vault, policy, item_ids):
    """The VMs a preview estimates: the chosen items' (about to be protected with it), else those the
    existing policy protects, else none (a VM of the vault's average size stands in)."""
    if item_ids:
        return [item.vm for item in vault.items.select_related("vm").filter(pk__in=item_ids)]
    if policy is not None:
        return [item.vm for item in policy.items.select_related("vm")]
    return []


@dataclass
class Horizon:
    name: str
    label: str
    at: datetime.datetime  # the end of its local day (UTC)
    kept: list  # the slots (UTC) of the points kept then, oldest first
    span: datetime.timedelta  # from the start to `at`

    def ticks(self):
        """Where each kept point lies on the horizon's timeline, in percent from the start."""
        start = self.at - self.span
        return [round(100 * (slot - start) / self.span, 2) for slot in self.kept]


@dataclass
class Estimate:
    total_bytes: int
    measured: list = field(default_factory=list)  # VM names estimated from their own backups
    averaged: list = field(default_factory=list)  # VM names estimated from the vault's averages
    from_disk_size: list = field(default_factory=list)  # … from their disks' size (the vault has no backups)


def first_slots(policy, start_day, end_day):
    """The first slot of each day from start_day to end_day (local days), UTC, in order."""
    firsts, day = [], start_day
    while day <= end_day:
        slots = slots_on(policy, day)
        if slots:
            firsts.append(slots[0])
        day += datetime.timedelta(days=1)
    return firsts


def kept_at(policy, start, at, firsts):
    """The slots of the points the engine keeps at `at`, of the backups made from `start` on."""
    candidates = {slot for slot in firsts if start <= slot <= at}
    if policy.retain_each:
        day = (at - datetime.timedelta(days=policy.retain_each + 1)).date()
        while day <= at.date() + datetime.timedelta(days=1):
            candidates.update(slot for slot in slots_on(policy, day) if start <= slot <= at)
            day += datetime.timedelta(days=1)
    points = [RecoveryPoint(pk=number, slot=slot, created_at=slot) for number, slot in enumerate(sorted(candidates), 1)]
    keep = points_to_keep(points, policy, at)
    return [point.slot for point in points if point.pk in keep]


def horizons(policy, start_day):
    """A Horizon for each of HORIZONS: from the start of start_day to the end of the day a week, a month…
    later, local days in the policy's time zone."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    firsts = first_slots(policy, start_day, HORIZONS[-1][2](start_day))
    start = datetime.datetime.combine(start_day, datetime.time(0), tzinfo=zone).astimezone(datetime.timezone.utc)
    shown = []
    for name, label, later in HORIZONS:
        at = datetime.datetime.combine(later(start_day), datetime.time(23, 59), tzinfo=zone).astimezone(
            datetime.timezone.utc)
        shown.append(Horizon(name, label, at, kept_at(policy, start, at, firsts), at - start))
    return shown


def preview(vault, policy, vms, start_day):
    """What the policy dialog and the API show: the horizons from `start_day`, the most points a VM keeps,
    and the storage they need for `vms` (or, with none, for a VM of the vault's average size)."""
    steady = policy.most_points_kept()
    estimate = storage_estimate(vault, vms, steady) if vms else average_vm_estimate(vault, steady)
    return {"horizons": horizons(policy, start_day), "steady": steady, "estimate": estimate}


def storage_estimate(vault, vms, points_kept):
    """Bytes `points_kept` recovery points of each VM need: its first backup's stored bytes (a full
    read), and for each further point what a later backup stored on average (its changes). From the
    VM's own backups, else the vault's averages, else (a vault with no backups) its disks' size."""
    columns = ("vm", "created_at", "stored_bytes")
    own = _fulls_and_changes(RecoveryPoint.objects.filter(vault=vault, vm__in=vms).values_list(*columns))
    fulls, changes = [], []
    newest = RecoveryPoint.objects.filter(vault=vault).order_by("-created_at").values_list(*columns)[:VAULT_SAMPLE]
    for full, later in _fulls_and_changes(newest).values():
        fulls.append(full)
        changes += later
    vault_full = _average(fulls)
    vault_change = _average(changes)
    estimate = Estimate(0)
    for vm in vms:
        if vm.pk in own:
            full, later = own[vm.pk]
            change = _average(later)
            if change is None:
                change = vault_change if vault_change is not None else full * UNKNOWN_CHANGE
            estimate.measured.append(vm.name)
        elif vault_full is not None:
            full = vault_full
            change = vault_change if vault_change is not None else vault_full * UNKNOWN_CHANGE
            estimate.averaged.append(vm.name)
        else:
            full, change = vm.disk_size, vm.disk_size * UNKNOWN_CHANGE
            estimate.from_disk_size.append(vm.name)
        estimate.total_bytes += int(full + change * max(points_kept - 1, 0))
    return estimate


def average_vm_estimate(vault, points_kept):
    """For a policy no VM uses yet: one VM of the vault's average size, or None if nothing was measured."""
    columns = ("vm", "created_at", "stored_bytes")
    newest = RecoveryPoint.objects.filter(vault=vault).order_by("-created_at").values_list(*columns)[:VAULT_SAMPLE]
    measured = _fulls_and_changes(newest).values()
    full = _average([full for full, _later in measured])
    if full is None:
        return None
    change = _average([stored for _full, later in measured for stored in later])
    change = change if change is not None else full * UNKNOWN_CHANGE
    return Estimate(int(full + change * max(points_kept - 1, 0)))


VAULT_SAMPLE = 5000  # the vault's newest points its averages are taken from
UNKNOWN_CHANGE = 0.05  # a later backup's share of a full one, where no later backup was measured


def _fulls_and_changes(rows):
    """{vm id: (its oldest point's stored bytes, [its later points' stored bytes])} of (vm, created, stored) rows."""
    by_vm = {}
    for vm, _created, stored in sorted(rows):
        if vm in by_vm:
            by_vm[vm][1].append(stored)
        else:
            by_vm[vm] = (stored, [])
    return by_vm


def _average(values):
    return sum(values) / len(values) if values else None
