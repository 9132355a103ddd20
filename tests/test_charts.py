"""The Dashboard's and an item's pictures: drawn from the real rows, said in words too, in both languages."""

import datetime

from django.utils import timezone

from jobs.choices import JobStatus
from tests.conftest import client_for
from tests.factories import JobFactory
from vaults import charts, queries
from vaults.models import StorageSample


def test_jobs_per_day_stack_how_they_ended(vault):
    today = timezone.localdate()
    noon = timezone.make_aware(datetime.datetime.combine(today, datetime.time(12)))
    for status, count in ((JobStatus.COMPLETED, 3), (JobStatus.FAILED, 1), (JobStatus.COMPLETED_WITH_WARNINGS, 2)):
        JobFactory.create_batch(count, vault=vault, status=status, created_at=noon)
    JobFactory(vault=vault, status=JobStatus.CANCELLED, created_at=noon - datetime.timedelta(days=3))
    JobFactory(vault=vault, status=JobStatus.FAILED, created_at=noon - datetime.timedelta(days=40))  # too old
    chart = charts.jobs_per_day(vault, today)
    assert len(chart.bars) == 30 and chart.highest == 6
    last = chart.bars[-1]
    assert [(segment["group"], segment["count"]) for segment in last["segments"]] == [
        ("completed", 3), ("warnings", 2), ("failed", 1)]
    assert last["segments"][-1]["y"] == 0  # the tallest bar fills the height
    assert [segment["group"] for segment in chart.bars[-4]["segments"]] == ["cancelled"]
    assert chart.summary == "7 jobs in the last 30 days, 1 failed."


def test_storage_over_time_shows_what_was_saved(world, django_capture_on_commit_callbacks):
    vault = world["job"].vault
    with django_capture_on_commit_callbacks(execute=True):  # once the backup's last commit is done
        StorageSample.record(vault.pk)
    sample = StorageSample.objects.get(vault=vault)
    assert sample.protected_bytes == sum(point.size for point in vault.recovery_points.all())
    assert sample.stored_bytes == vault.__class__.objects.get(pk=vault.pk).stored_bytes > 0
    StorageSample.objects.create(vault=vault, day=sample.day - datetime.timedelta(days=10),
                                 stored_bytes=sample.stored_bytes // 2, protected_bytes=sample.protected_bytes // 2)
    chart = charts.storage_over_time(vault)
    assert not chart.empty and len(chart.stored.split()) == 2 and "saved by deduplication" in chart.summary
    assert [tick.label for tick in chart.ticks][-1] == charts._day_label(timezone.localdate())
    assert charts.storage_over_time(world["job"].vault.__class__(pk=0)).empty


def test_every_protected_item_shows_its_points(world):
    vault, item = world["job"].vault, world["item"]
    chart = charts.points_of_items(vault)
    rows = {row["item"].pk: row["marks"] for row in chart.rows}
    assert len(rows[item.pk]) == 1 and rows[item.pk][0]["consistency"] == "application"
    assert 0 <= rows[item.pk][0]["x"] <= charts.WIDTH


def test_an_items_timeline_colours_each_point_by_consistency_and_rule(world):
    item = world["item"]
    points = queries.with_retention(item.vault.recovery_points.filter(vm=item.vm), item)
    chart = charts.item_timeline(points)
    assert [(mark["consistency"], mark["rule"]) for mark in chart.marks] == [("application", "backup_now")]
    assert chart.rules[0][0] == "backup_now" and "1 recovery point" in chart.summary


def test_the_dashboard_and_item_pages_draw_them_in_korean(world, owner):
    client = client_for(owner)
    vault, item = world["valid"]["pk"], world["item"].pk
    dashboard = client.get(f"/vaults/{vault}/dashboard/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "차트를 그리는 중" in dashboard and "?part=charts" in dashboard  # asked for once the page is shown
    dashboard = client.get(f"/vaults/{vault}/dashboard/?part=charts", HTTP_ACCEPT_LANGUAGE="ko",
                           HTTP_HX_REQUEST="true").content.decode()
    assert "일별 작업, 지난 30일" in dashboard and "시간에 따른 저장소" in dashboard and "<svg" in dashboard
    assert 'role="img"' in dashboard and "Jobs per day" not in dashboard
    page = client.get(f"/vaults/{vault}/items/{item}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "타임라인의 복구 지점" in page and "point-mark mark-application rule-backup_now" in page
    assert "유지 근거: 지금 백업" in page
