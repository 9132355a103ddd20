"""Retention: how long a policy keeps each recovery point, and forgetting the rest.

A scheduled backup's point is kept by each rule that takes it, for that rule's span from its slot,
counted in the policy's time zone (a day, week, month or year later at the same local time):

    each     every scheduled backup (schedules that back up more than once a day)  N days (1–30)
    daily    the first scheduled backup of each day                               N days
    weekly   the backup of the chosen days of the week                             N weeks
    monthly  the backup of a chosen day of the week in a chosen week of the month
             (days 1–7 are the first week; the last week is the month's last 7 days),
             or of chosen days of the month (a day past the month's end is its last day)   N months
    yearly   the same, within the chosen months                                    N years

"The backup of" a day is the first scheduled backup of that local day. A Backup Now point keeps its
own date (retain_until) and neither kind evicts the other; a point's retain_until also holds for a
scheduled point (points made before these rules keep what they were promised). The newest point is
always kept, and where damage was found, the newest point that can still be restored.
"""

import calendar
import datetime
import zoneinfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vaults.choices import LAST_DAY, RuleBasis, WeekOfMonth
from vaults.models import RecoveryPoint, Vault

EACH, DAILY, WEEKLY, MONTHLY, YEARLY = "each", "daily", "weekly", "monthly", "yearly"
BACKUP_NOW, OWN_DATE = "backup_now", "own_date"  # a Backup Now point's date; a date kept from before the rules
RULE_LABELS = {EACH: _("Every backup"), DAILY: _("Daily"), WEEKLY: _("Weekly"), MONTHLY: _("Monthly"), YEARLY: _("Yearly"),
               BACKUP_NOW: _("Backup Now"), OWN_DATE: _("Its own date")}
WEEK_NUMBER = {WeekOfMonth.FIRST: 1, WeekOfMonth.SECOND: 2, WeekOfMonth.THIRD: 3, WeekOfMonth.FOURTH: 4}


def add_months(day, months):
    """The same day `months` later, or that month's last day if it is shorter."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return day.replace(year=year, month=month + 1, day=min(day.day, calendar.monthrange(year, month + 1)[1]))


def _takes(policy, kind, day):
    """Whether the monthly or yearly rule (`kind`) takes the backup of this local date."""
    last = calendar.monthrange(day.year, day.month)[1]
    if getattr(policy, f"{kind}_by") == RuleBasis.DAY:
        return any(day.day == (last if chosen == LAST_DAY or chosen > last else chosen)
                   for chosen in getattr(policy, f"{kind}_days"))
    if day.weekday() not in getattr(policy, f"{kind}_weekdays"):
        return False
    week = getattr(policy, f"{kind}_week")
    if week == WeekOfMonth.LAST:
        return day.day + 7 > last
    return (day.day - 1) // 7 + 1 == WEEK_NUMBER.get(week)


def rules_keeping(policy, slot):
    """[(rule, until)] for the first scheduled backup of its local day, made for `slot` (aware)."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    local = slot.astimezone(zone)
    day = local.date()

    def until(date):
        return datetime.datetime.combine(date, local.time(), tzinfo=zone)

    kept = []
    if policy.retain_daily:
        kept.append((DAILY, until(day + datetime.timedelta(days=policy.retain_daily))))
    if policy.retain_weekly and day.weekday() in policy.weekly_days:
        kept.append((WEEKLY, until(day + datetime.timedelta(weeks=policy.retain_weekly))))
    if policy.retain_monthly and _takes(policy, "monthly", day):
        kept.append((MONTHLY, until(add_months(day, policy.retain_monthly))))
    if policy.retain_yearly and day.month in policy.yearly_months and _takes(policy, "yearly", day):
        kept.append((YEARLY, until(add_months(day, 12 * policy.retain_yearly))))
    return kept


def firsts_of_their_day(points, policy):
    """The pks of the scheduled points that are the first of their local day (the ones rules take)."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    first = {}
    for point in points:
        if point.slot is not None:
            day = point.slot.astimezone(zone).date()
            if day not in first or (point.slot, point.pk) < (first[day].slot, first[day].pk):
                first[day] = point
    return {point.pk for point in first.values()}


def each_until(policy, slot):
    """Until when the "every backup" rule keeps a scheduled point: N local days later, same local time."""
    local = slot.astimezone(zoneinfo.ZoneInfo(policy.time_zone))
    return datetime.datetime.combine(local.date() + datetime.timedelta(days=policy.retain_each), local.time(),
                                     tzinfo=local.tzinfo)


def kept_by(point, policy, firsts):
    """[(rule, until)] that keep the point; `firsts` from firsts_of_their_day over the item's points."""
    kept = []
    if point.retain_until is not None:
        kept.append((BACKUP_NOW if point.slot is None else OWN_DATE, point.retain_until))
    if policy is not None and point.slot is not None and policy.retain_each:
        kept.append((EACH, each_until(policy, point.slot)))
    if policy is not None and point.pk in firsts:
        kept += rules_keeping(policy, point.slot)
    return kept


def promised_until(points, policy):
    """{pk: the latest date a rule (or its own date) keeps the point, or None}, over one item's points."""
    firsts = firsts_of_their_day(points, policy) if policy is not None else set()
    return {point.pk: max((until for _rule, until in kept_by(point, policy, firsts)), default=None)
            for point in points}


def points_to_keep(points, policy, now):
    """The pks of the points some rule (or their own date) still keeps at `now`; the newest is always kept."""
    points = sorted(points, key=lambda point: (point.created_at, point.pk), reverse=True)
    firsts = firsts_of_their_day(points, policy)
    keep = {points[0].pk} if points else set()
    for point in points:
        if any(now < until for _rule, until in kept_by(point, policy, firsts)):
            keep.add(point.pk)
    return keep


def apply_retention(repo, item, *, now=None):
    """Forget the item's recovery points that no rule keeps: their rows, then their manifests. Their
    data goes at the vault's next Prune. Returns how many were forgotten."""
    now = now or timezone.now()
    points = list(RecoveryPoint.objects.filter(vault=item.vault, vm=item.vm))
    keep = points_to_keep(points, item.policy, now)
    if repo.index.has_damage():
        # The newest point the item can still be restored from stays, whatever newer ones hold.
        restorable = next((point for point in sorted(points, key=lambda point: point.created_at, reverse=True)
                           if repo.is_restorable(point.point_id)), None)
        if restorable is not None:
            keep.add(restorable.pk)
    doomed = [point for point in points if point.pk not in keep]
    # The rows go first: a crash in between leaves an unlisted manifest, never a listed point without data.
    with transaction.atomic():
        # The totals lose what this statement deleted (a row another job took meanwhile is not taken twice).
        locked = list(RecoveryPoint.objects.select_for_update().filter(pk__in=[point.pk for point in doomed])
                      .values_list("pk", "size"))
        RecoveryPoint.objects.filter(pk__in=[pk for pk, _size in locked]).delete()
        Vault.add_points(item.vault_id, -len(locked), -sum(size for _pk, size in locked))
    for point in doomed:
        repo.delete_point(point.point_id)
    return len(doomed)
