"""Retention: which recovery points a policy keeps, and forgetting the rest."""

import zoneinfo

from django.utils import timezone

from vaults.models import RecoveryPoint


def points_to_keep(points, policy, now):
    """The recovery points some retention rule keeps: for each of the last N days (weeks, months,
    years) in the policy's time zone, the newest point of that period. The newest point is always kept."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    points = sorted(points, key=lambda point: point.created_at, reverse=True)
    keep = {points[0].pk} if points else set()
    for count, period in (
        (policy.retain_daily, lambda d: d.toordinal()),
        (policy.retain_weekly, lambda d: (d.toordinal() - d.weekday()) // 7),
        (policy.retain_monthly, lambda d: d.year * 12 + d.month),
        (policy.retain_yearly, lambda d: d.year),
    ):
        if not count:
            continue
        current, seen = period(now.astimezone(zone).date()), set()
        for point in points:
            bucket = period(point.created_at.astimezone(zone).date())
            if current - bucket >= count:
                break
            if bucket not in seen:
                seen.add(bucket)
                keep.add(point.pk)
    return keep


def apply_retention(repo, item, *, now=None, wait=0, on_wait=None):
    """Forget the item's recovery points that no rule keeps, then free the packs nothing needs.
    Returns (points removed, bytes freed)."""
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
    RecoveryPoint.objects.filter(pk__in=[point.pk for point in doomed]).delete()
    for point in doomed:
        repo.delete_point(point.point_id)
    freed = repo.prune(wait=wait, on_wait=on_wait) if doomed else 0
    return len(doomed), freed
