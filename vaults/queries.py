"""The read side of the vault pages: what each command may be applied to, the Dashboard's numbers,
items with their recovery points, and the Restore wizard's calendar."""

import calendar
import datetime
import re
from types import SimpleNamespace

from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.work import space_held
from vaults import states
from vaults.choices import Operation, ProtectionState
from vaults.models import RecoveryPoint
from vaults.retention import RULE_LABELS, firsts_of_their_day, kept_by


def registrable_vms(vault):
    """VMs this vault discovered in its region that no vault has registered."""
    return vault.discovered_vms.filter(registration__isnull=True, region=vault.region)


def protectable_items(vault):
    """Registered items the Protect wizard offers."""
    return states.startable(vault.items.select_related("vm"), Operation.CONFIGURE_PROTECTION)


def policy_usage(vault):
    """Policies of a vault with the number of VMs each protects."""
    return vault.policies.annotate(item_count=Count("items")).order_by("name")


def dashboard_counts(vault, since):
    """The Dashboard's numbers: the vault's items, and its jobs created since `since`."""
    recent = vault.jobs.filter(created_at__gte=since).status_counts()
    items = vault.items.aggregate(
        registered=Count("pk"),
        protected=Count("pk", filter=Q(protection_state__in=[ProtectionState.PENDING, ProtectionState.PROTECTED])),
        errors=Count("pk", filter=Q(protection_state=ProtectionState.ERROR)),
    )
    protected = vault.protected_bytes  # running totals (Vault.add_points): no count of every point
    storage = {
        "points": vault.point_count,
        "protected": protected,  # what all recovery points would take as plain disk images
        "used": vault.stored_bytes,
        "saved_percent": round(100 * (1 - vault.stored_bytes / protected)) if protected else 0,
        "work_files": space_held(vault.jobs.all()),  # snapshot copies on this machine, while jobs run
    }
    return {"recent": recent, "items": items, "storage": storage}


def in_name_order(items):
    """Items by their VM's name (then id, so pages never overlap)."""
    return items.order_by("vm__name", "vm__cloud_service", "pk")


def add_recovery_points(items):
    """The items (a page of them), each with `point_count` and `newest_point`: its VM's recovery points
    in its vault, from one grouped query over these items' VMs only, whatever the vault holds."""
    items = list(items)
    if not items:
        return items
    found = {
        (row["vm"], row["vault"]): row
        for row in RecoveryPoint.objects.filter(vm__in={item.vm_id for item in items},
                                                vault__in={item.vault_id for item in items})
        .order_by().values("vm", "vault").annotate(count=Count("pk"), newest=Max("created_at"))
    }
    for item in items:
        row = found.get((item.vm_id, item.vault_id), {})
        item.point_count, item.newest_point = row.get("count", 0), row.get("newest")
    return items


def with_retention(points, item):
    """The points (a page of the item's) with `kept`: [(rule label, until)], the rules that keep each
    and the dates they keep it to, by the item's policy as it is now (`kept_rules`: the same by rule)."""
    points = list(points)
    policy = item.policy
    firsts = set()
    if policy is not None:
        scheduled = [SimpleNamespace(pk=pk, slot=slot) for pk, slot in item.vault.recovery_points.filter(
            vm=item.vm, slot__isnull=False).values_list("pk", "slot")]
        firsts = firsts_of_their_day(scheduled, policy)
    for point in points:
        point.kept_rules = sorted(kept_by(point, policy, firsts), key=lambda kept: kept[1], reverse=True)
        point.kept = [(RULE_LABELS[rule], until) for rule, until in point.kept_rules]
    return points


class BadDate(ValueError):
    """A calendar date the page never sends: its message is for the user."""


class RecoveryCalendar:
    """A month of the Restore wizard's calendar: the days that have recovery points are marked;
    the chosen day (by default the newest point's) lists its points, newest first."""

    EARLIEST, LATEST = datetime.date(1970, 1, 1), datetime.date(9998, 12, 31)  # room for a month either side

    def __init__(self, points, month=None, day=None):
        newest = points.first()
        today = timezone.localdate()
        self.day = self._parse(day) or (timezone.localtime(newest.created_at).date() if newest else today)
        shown = self._parse(f"{month}-01") if month else None
        self.month = shown or self.day.replace(day=1)
        marked = {value for value in points.dates("created_at", "day")}
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(self.month.year, self.month.month)
        self.weeks = [[(date, date in marked, date.month == self.month.month) for date in week] for week in weeks]
        self.previous = (self.month - datetime.timedelta(days=1)).strftime("%Y-%m")
        self.next = (self.month + datetime.timedelta(days=32)).strftime("%Y-%m")
        start = timezone.make_aware(datetime.datetime.combine(self.day, datetime.time.min))
        self.day_points = list(points.filter(created_at__gte=start, created_at__lt=start + datetime.timedelta(days=1)))
        self.newest = newest

    @classmethod
    def _parse(cls, value):
        """A date written YYYY-MM-DD (ASCII digits), between EARLIEST and LATEST; BadDate otherwise."""
        if not value:
            return None
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError(value)
            date = datetime.date.fromisoformat(value)
        except ValueError:
            raise BadDate(_("That is not a date of the calendar.")) from None
        if not cls.EARLIEST <= date <= cls.LATEST:
            raise BadDate(_("Choose a date between %(earliest)s and %(latest)s.") % {
                "earliest": cls.EARLIEST.isoformat(), "latest": cls.LATEST.isoformat()})
        return date
