"""The scheduler: Celery beat ticks schedule_due_backups every minute; each protected item gets a
Backup job for its policy's latest slot."""

import datetime
import zoneinfo

from django.utils import timezone

from jobs.models import Job
from jobs.queue import create_job_if_free
from vaults import states
from vaults.choices import Frequency, Operation
from vaults.models import RegisteredItem


def latest_slot(policy, now):
    """The newest scheduled time of the policy at or before `now` (aware, UTC), or None."""
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    local_now = now.astimezone(zone)
    for days_back in range(0, 8):
        day = local_now.date() - datetime.timedelta(days=days_back)
        if policy.frequency == Frequency.WEEKLY and day.weekday() not in policy.weekdays:
            continue
        slot = datetime.datetime.combine(day, policy.time_of_day, tzinfo=zone)
        if slot <= local_now:
            return slot.astimezone(datetime.timezone.utc)
    return None


def schedule_due_backups(now=None):
    """Start the Backup jobs the policies make due. Safe to run from racing ticks or workers:
    the database keeps one job per item per slot. Returns the jobs started."""
    now = now or timezone.now()
    started = []
    items = states.startable(RegisteredItem.objects, Operation.BACKUP).filter(
        policy__isnull=False).select_related("vm", "vault", "policy")
    # Slots that already have their job (the usual case, tick after tick): skip them without an insert.
    taken = set(Job.objects.filter(scheduled_for__gte=now - datetime.timedelta(days=1)).values_list("vm_id", "scheduled_for"))
    for item in items:
        slot = latest_slot(item.policy, now)
        # A slot is due if the item was protected before it; a slot missed by more than a day is skipped.
        if slot is None or item.protected_at is None or slot < item.protected_at or now - slot > datetime.timedelta(days=1):
            continue
        if (item.vm_id, slot) in taken:
            continue
        job = create_job_if_free(item.vault, Operation.BACKUP, vm=item.vm, scheduled_for=slot,
                                 parameters={"trigger": "scheduled", "slot": slot.isoformat()})
        if job is not None:  # else this slot already has its job, or the item is busy
            started.append(job)
    return started
