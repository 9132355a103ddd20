"""The scheduler: Celery beat ticks schedule_due_backups every minute; each protected item gets a
Backup job for its policy's latest slot.

Slots are the policy's local times of day (Policy.times()) on the days it backs up, in its time zone.
Across daylight-saving changes: a time that does not exist that day (the clocks jumped over it) is
taken at the next minute that does; a time that happens twice (the clocks went back) runs once, the
first time."""

import datetime
import zoneinfo

from django.utils import timezone

from jobs.models import Job
from jobs.queue import create_job_if_free
from vaults import states
from vaults.choices import Operation
from vaults.models import RegisteredItem


def local_slot(day, time, zone):
    """The instant (UTC) of local `time` on `day` in `zone`: the next existing minute if the clocks
    jumped over it, the first of the two if they went back over it (fold 0)."""
    wanted = datetime.datetime.combine(day, time)
    for minutes in range(0, 24 * 60):  # a gap lasts an hour or so; a whole day is the bound
        naive = wanted + datetime.timedelta(minutes=minutes)
        instant = naive.replace(tzinfo=zone).astimezone(datetime.timezone.utc)
        if instant.astimezone(zone).replace(tzinfo=None) == naive:  # the time exists that day
            return instant
    raise ValueError(f"{wanted} does not exist in {zone}")


def slots_on(policy, day):
    """The policy's slots (UTC, in order, each once) on a local day."""
    if not policy.backs_up_on(day):
        return []
    zone = zoneinfo.ZoneInfo(policy.time_zone)
    return sorted({local_slot(day, time, zone) for time in policy.times()})


def latest_slot(policy, now):
    """The newest scheduled time of the policy at or before `now` (aware, UTC), or None."""
    local_today = now.astimezone(zoneinfo.ZoneInfo(policy.time_zone)).date()
    for days_back in range(0, 8):
        past = [slot for slot in slots_on(policy, local_today - datetime.timedelta(days=days_back)) if slot <= now]
        if past:
            return past[-1]
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
