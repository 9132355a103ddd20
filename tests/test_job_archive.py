"""Old jobs move to the archive each night (jobs/archive.py) and stay readable under "Older jobs"."""

import datetime

from django.conf import settings
from django.utils import timezone

from jobs.archive import archive_old_jobs
from jobs.choices import JobStatus
from jobs.messages import note
from jobs.models import ArchivedJob, Job, JobEvent
from tests.factories import JobFactory, RecoveryPointFactory, RegisteredItemFactory, VaultFactory
from tests.test_query_counts import queries_for

OLD = datetime.timedelta(days=settings.JOB_ARCHIVE_DAYS + 1)


def old_job(vault, **fields):
    job = JobFactory(vault=vault, created_at=timezone.now() - OLD, **fields)
    started = job.created_at + datetime.timedelta(seconds=1)
    job.events.create(at=job.created_at, old_status="", new_status=JobStatus.QUEUED)
    job.events.create(at=started, old_status=JobStatus.QUEUED, new_status=job.status,
                      note=note("%(vm)s is registered.", vm="web01"))
    job.subtasks.create(name="Take snapshot", status=JobStatus.COMPLETED, started_at=started,
                        finished_at=started + datetime.timedelta(seconds=2))
    return job


def test_jobs_that_ended_long_ago_move_with_their_history_and_the_rest_stay(db, vault):
    item = RegisteredItemFactory(vault=vault)
    ended = old_job(vault, vm=item.vm, entity_name="web01", status=JobStatus.FAILED, error_code="SnapshotFailed",
                    result=note("%(vm)s is registered.", vm="web01"))
    point = RecoveryPointFactory(vault=vault, vm=item.vm, job=ended)
    running = JobFactory(vault=vault, created_at=timezone.now() - OLD, status=JobStatus.IN_PROGRESS)
    recent = JobFactory(vault=vault, status=JobStatus.COMPLETED)
    assert archive_old_jobs() == 1
    assert set(Job.objects.values_list("pk", flat=True)) == {running.pk, recent.pk}, "only what ended long ago"
    assert not JobEvent.objects.filter(job=ended.pk).exists()
    archived = ArchivedJob.objects.get(pk=ended.pk)
    assert (archived.vault_id, archived.vm_id, archived.status, archived.error_code, archived.created_at) == (
        vault.pk, item.vm_id, JobStatus.FAILED, "SnapshotFailed", ended.created_at)
    assert [event.get_new_status_display() for event in archived.event_rows()] == ["Queued", "Failed"]
    assert archived.event_rows()[1].message == "web01 is registered." == archived.result_message
    assert [(subtask.label, subtask.duration) for subtask in archived.subtask_rows()] == [
        ("Take snapshot", datetime.timedelta(seconds=2))]
    point.refresh_from_db()
    assert point.job_id is None, "the point outlives its job's row"
    assert archive_old_jobs() == 0, "nothing twice"


def test_archiving_goes_a_batch_at_a_time(db, vault, monkeypatch):
    from jobs import archive

    monkeypatch.setattr(archive, "BATCH", 3)
    JobFactory.create_batch(7, vault=vault, created_at=timezone.now() - OLD)
    assert archive_old_jobs() == 7 and ArchivedJob.objects.count() == 7 and not Job.objects.exists()


def test_older_jobs_are_listed_filtered_and_shown_under_their_old_address(owner_client, vault):
    failed = old_job(vault, entity_name="failed-long-ago", status=JobStatus.FAILED)
    old_job(vault, entity_name="done-long-ago", status=JobStatus.COMPLETED)
    JobFactory(vault=vault, entity_name="recent")
    base = f"/vaults/{vault.pk}/jobs/"
    assert "Older jobs" not in owner_client.get(base).content.decode(), "nothing archived yet"
    archive_old_jobs()
    tab = owner_client.get(base).content.decode()
    assert "recent" in tab and "long-ago" not in tab and f'href="{base}older/"' in tab
    older = owner_client.get(f"{base}older/?status=failed").content.decode()
    assert "failed-long-ago" in older and "done-long-ago" not in older and "1 row" in older
    assert f"{base}older/{failed.pk}/" in older
    page = owner_client.get(f"{base}older/{failed.pk}/").content.decode()
    assert "failed-long-ago" in page and "Take snapshot" in page and "web01 is registered." in page
    response = owner_client.get(f"{base}{failed.pk}/")
    assert response.status_code == 302 and response["Location"] == f"{base}older/{failed.pk}/"
    poll = owner_client.get(f"{base}{failed.pk}/", HTTP_HX_REQUEST="true")  # an open page's summary, polling
    assert poll.status_code == 286 and poll["HX-Redirect"] == f"{base}older/{failed.pk}/"


def test_an_older_page_whose_jobs_were_archived_meanwhile_leads_back(owner_client, vault):
    from portal.keyset import make_cursor

    newest = JobFactory(vault=vault, entity_name="newest")
    gone = old_job(vault, entity_name="gone")
    archive_old_jobs()
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/",
                            {"cursor": make_cursor("older", newest, "created_at")}).content.decode()
    assert "No older jobs here." in html and "Newest" in html and gone.entity_name not in html.split("Older jobs")[0]


def test_another_vaults_archived_job_is_not_found(owner_client, vault, subscription):
    other = VaultFactory(subscription=subscription)
    theirs = old_job(other, entity_name="theirs")
    archive_old_jobs()
    assert owner_client.get(f"/vaults/{vault.pk}/jobs/older/{theirs.pk}/").status_code == 404
    assert owner_client.get(f"/vaults/{vault.pk}/jobs/{theirs.pk}/").status_code == 404
    assert "theirs" not in owner_client.get(f"/vaults/{vault.pk}/jobs/older/").content.decode()


def test_the_older_jobs_list_stays_flat(owner_client, vault):
    url = f"/vaults/{vault.pk}/jobs/older/"
    JobFactory.create_batch(2, vault=vault, created_at=timezone.now() - OLD)
    archive_old_jobs()
    few = queries_for(owner_client, url)
    JobFactory.create_batch(40, vault=vault, created_at=timezone.now() - OLD)
    archive_old_jobs()
    assert queries_for(owner_client, url) == few


def test_beat_runs_the_archive_every_night():
    assert any(entry["task"] == "jobs.tasks.archive_old_jobs" for entry in settings.CELERY_BEAT_SCHEDULE.values())
