"""Pictures where people would rather look than read: the geometry of the Dashboard's and an item's
charts, drawn by templates as SVG on the server (nothing is fetched from elsewhere). Each chart also
says what it shows in words (its `summary`), for screen readers and for a quick read.

Coordinates are in a fixed viewBox (WIDTH × HEIGHT); the SVG scales to its box."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs.choices import JobStatus
from jobs.models import Job
from vaults.choices import PROTECTED_ITEM_STATES, Consistency
from vaults.models import RecoveryPoint, StorageSample
from vaults.retention import BACKUP_NOW, DAILY, EACH, MONTHLY, OWN_DATE, RULE_LABELS, WEEKLY, YEARLY

WIDTH, HEIGHT, AXIS = 600, 150, 18  # the plot, and the room under it for the day labels
DAYS = 30
# What a job's bar is made of, bottom up: a status group, and the statuses in it.
JOB_GROUPS = [
    ("completed", [JobStatus.COMPLETED]),
    ("warnings", [JobStatus.COMPLETED_WITH_WARNINGS]),
    ("failed", [JobStatus.FAILED]),
    ("cancelled", [JobStatus.CANCELLED]),
    ("active", list(JobStatus.active())),
]
# The rule that keeps a point longest names its colour on an item's timeline.
RULE_RANK = [YEARLY, MONTHLY, WEEKLY, DAILY, EACH, OWN_DATE, BACKUP_NOW]


@dataclass
class Tick:
    x: float
    label: str

    @property
    def percent(self):
        """Where the label goes under the chart (labels are HTML: SVG text would stretch with the chart)."""
        return round(100 * self.x / WIDTH, 2)


@dataclass
class Chart:
    summary: str
    ticks: list = field(default_factory=list)
    empty: bool = False


def _days(today, count=DAYS):
    return [today - datetime.timedelta(days=back) for back in range(count - 1, -1, -1)]


def _day_label(day):
    return formats.date_format(day, "MONTH_DAY_FORMAT")


def jobs_per_day(vault, today=None):
    """The vault's jobs of the last 30 days, a stacked bar a day by how they ended."""
    today = today or timezone.localdate()
    days = _days(today)
    since = timezone.make_aware(datetime.datetime.combine(days[0], datetime.time.min))
    rows = (Job.objects.filter(vault=vault, created_at__gte=since)
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day").annotate(**{group: Count("pk", filter=Q(status__in=statuses))
                                      for group, statuses in JOB_GROUPS}))
    counts = {row["day"]: row for row in rows}
    highest = max([sum(counts[day][group] for group, _s in JOB_GROUPS) for day in counts] or [0])
    step = WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        row = counts.get(day, {})
        bottom, segments = HEIGHT, []
        for group, _statuses in JOB_GROUPS:
            count = row.get(group, 0)
            if count:
                height = HEIGHT * count / highest
                bottom -= height
                segments.append({"group": group, "y": round(bottom, 1), "height": round(height, 1), "count": count})
        bars.append({"x": round(index * step + 1, 1), "width": round(step - 2, 1), "day": day, "segments": segments,
                     "total": sum(row.get(group, 0) for group, _s in JOB_GROUPS)})
    total = sum(bar["total"] for bar in bars)
    failed = sum(segment["count"] for bar in bars for segment in bar["segments"] if segment["group"] == "failed")
    chart = Chart(summary=ngettext("%(count)d job in the last 30 days, %(failed)d failed.",
                                   "%(count)d jobs in the last 30 days, %(failed)d failed.", total) % {
        "count": total, "failed": failed}, empty=not total)
    chart.bars, chart.highest = bars, highest
    chart.ticks = [Tick(bar["x"] + bar["width"] / 2, _day_label(bar["day"])) for bar in bars[:-2:7] + bars[-1:]]
    return chart


def storage_over_time(vault, today=None, days=90):
    """What the vault stores, and what its recovery points would take as plain disk images, a point a
    day (the last 90 days that have a sample)."""
    today = today or timezone.now().date()  # samples are UTC days
    samples = list(StorageSample.objects.filter(vault=vault, day__gt=today - datetime.timedelta(days=days)))
    if samples:
        today = max(today, samples[-1].day)
    chart = Chart(summary="", empty=not samples)
    if not samples:
        chart.summary = _("No storage recorded yet: the chart starts with the vault's first backup.")
        return chart
    first = samples[0].day
    span = max((today - first).days, 1)
    highest = max(max(sample.protected_bytes, sample.stored_bytes) for sample in samples) or 1

    def point(sample, value):
        return f"{round(WIDTH * (sample.day - first).days / span, 1)},{round(HEIGHT - HEIGHT * value / highest, 1)}"

    last = samples[-1]
    chart.stored = " ".join(point(sample, sample.stored_bytes) for sample in samples)
    chart.protected = " ".join(point(sample, sample.protected_bytes) for sample in samples)
    if len(samples) == 1:  # one day: a level line across
        chart.stored = f"0,{chart.stored.split(',')[1]} {WIDTH},{chart.stored.split(',')[1]}"
        chart.protected = f"0,{chart.protected.split(',')[1]} {WIDTH},{chart.protected.split(',')[1]}"
    chart.saved_area = chart.protected + " " + " ".join(reversed(chart.stored.split(" ")))
    chart.top_label = filesizeformat(highest)
    saved = max(last.protected_bytes - last.stored_bytes, 0)
    chart.summary = _("%(stored)s stored for %(protected)s of recovery points: %(saved)s saved by deduplication, "
                      "zero elision and compression.") % {"stored": filesizeformat(last.stored_bytes),
                                                          "protected": filesizeformat(last.protected_bytes),
                                                          "saved": filesizeformat(saved)}
    chart.ticks = [Tick(round(WIDTH * (day - first).days / span, 1), _day_label(day))
                   for day in (first, first + (today - first) / 2, today)] if span > 1 else [Tick(0, _day_label(first))]
    return chart


def points_of_items(vault, today=None, limit=20):
    """Each protected item's recovery points of the last 30 days on one timeline, a row an item."""
    today = today or timezone.localdate()
    start = timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=DAYS - 1), datetime.time.min))
    end = timezone.make_aware(datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min))
    items = list(vault.items.filter(protection_state__in=PROTECTED_ITEM_STATES).select_related("vm")[:limit])
    points = RecoveryPoint.objects.filter(vault=vault, vm__in=[item.vm_id for item in items], created_at__gte=start)
    by_vm = {}
    for vm_id, created, consistency in points.values_list("vm_id", "created_at", "consistency"):
        by_vm.setdefault(vm_id, []).append((created, consistency))
    span = (end - start).total_seconds()
    rows = []
    for item in items:
        marks = [{"x": round(WIDTH * (created - start).total_seconds() / span, 1), "consistency": consistency,
                  "title": formats.date_format(timezone.localtime(created), "SHORT_DATETIME_FORMAT")}
                 for created, consistency in by_vm.get(item.vm_id, [])]
        rows.append({"item": item, "marks": marks})
    total = sum(len(row["marks"]) for row in rows)
    chart = Chart(summary=ngettext("%(count)d recovery point of %(items)d protected items in the last 30 days.",
                                   "%(count)d recovery points of %(items)d protected items in the last 30 days.",
                                   total) % {"count": total, "items": len(rows)}, empty=not rows)
    chart.rows = rows
    chart.ticks = [Tick(round(WIDTH * index / DAYS, 1), _day_label(day)) for index, day in
                   enumerate(_days(today)) if index % 7 == 0 and index < DAYS - 3 or index == DAYS - 1]
    return chart


def item_timeline(points):
    """An item's recovery points (with `kept` from queries.with_retention) on a timeline from the oldest to
    now: coloured by consistency, ringed by the longest rule that keeps each."""
    now = timezone.now()
    if not points:
        return Chart(summary=_("No recovery points yet."), empty=True)
    oldest = min(point.created_at for point in points)
    span = max((now - oldest).total_seconds(), 3600)
    marks = []
    for point in points:
        rules = [rule for rule in RULE_RANK if rule in {kept_rule for kept_rule, _until in point.kept_rules}]
        marks.append({"percent": round(100 * (point.created_at - oldest).total_seconds() / span, 2),
                      "consistency": point.consistency, "rule": rules[0] if rules else "newest",
                      "title": "%s · %s · %s" % (
                          formats.date_format(timezone.localtime(point.created_at), "SHORT_DATETIME_FORMAT"),
                          point.get_consistency_display(),
                          str(RULE_LABELS[rules[0]]) if rules else _("No rule: kept as the newest point"))})
    chart = Chart(summary=ngettext("%(count)d recovery point, from %(oldest)s to now.",
                                   "%(count)d recovery points, from %(oldest)s to now.", len(points)) % {
        "count": len(points), "oldest": formats.date_format(timezone.localtime(oldest), "SHORT_DATE_FORMAT")})
    chart.marks = marks
    chart.ticks = [Tick(0, formats.date_format(timezone.localtime(oldest), "SHORT_DATE_FORMAT")),
                   Tick(WIDTH, formats.date_format(timezone.localtime(now), "SHORT_DATE_FORMAT"))]
    chart.consistencies = Consistency.choices
    chart.rules = [(rule, RULE_LABELS[rule]) for rule in RULE_RANK if any(mark["rule"] == rule for mark in marks)]
    return chart
