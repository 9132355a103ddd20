"""Every page tells the truth about what is happening: a failed bar is not full, a warning is not an
error, a refusal does not hide what the first click started, lists update while you watch, what was
typed stays beside its message, the product's own messages name the limits, and a job's page offers
what applies to it (Cancel, Retry, View item)."""

import datetime

from django.utils import timezone

from jobs.choices import JobStatus
from jobs.models import Job
from portal.access import Role
from tests.conftest import _member, client_for
from tests.factories import JobFactory
from vaults.choices import Operation, ProtectionState


def job_page(client, job):
    return client.get(f"/vaults/{job.vault_id}/jobs/{job.pk}/", htmx=False).content.decode()


def test_a_failed_bar_shows_how_far_it_got_and_a_warning_is_no_error(owner_client, vault):
    failed = JobFactory(vault=vault, status=JobStatus.FAILED, progress_done=30, progress_total=100,
                        error_code="WorkerLost")
    page = job_page(owner_client, failed)
    assert 'aria-valuenow="30"' in page and 'width: 30%' in page and 'class="job-error" role="alert"' in page
    warned = JobFactory(vault=vault, status=JobStatus.COMPLETED_WITH_WARNINGS, operation=Operation.BACKUP,
                        error_code="FreezeFailed")
    page = job_page(owner_client, warned)
    assert 'class="job-warning" role="status"' in page and "job-error" not in page
    assert 'aria-valuenow="100"' in page and "status-completed_with_warnings" in page
    assert 'aria-valuenow="0"' in job_page(owner_client, JobFactory(vault=vault, status=JobStatus.CANCELLED))


def test_a_job_page_offers_cancel_retry_and_its_item(world, owner, subscription):
    vault, item = world["job"].vault, world["item"]
    failed = JobFactory(vault=vault, vm=item.vm, entity_name=str(item.vm), operation=Operation.BACKUP,
                        status=JobStatus.FAILED, error_code="VMNotRunning")
    client = client_for(owner)
    page = job_page(client, failed)
    assert f"/vaults/{vault.pk}/jobs/{failed.pk}/retry/" in page and f"/vaults/{vault.pk}/items/{item.pk}/" in page
    assert f"/jobs/{failed.pk}/cancel/" not in page
    queued = JobFactory(vault=vault, operation=Operation.VERIFY, status=JobStatus.QUEUED)
    assert f"/jobs/{queued.pk}/cancel/" in job_page(client, queued)
    assert f"/jobs/{queued.pk}/retry/" not in job_page(client, queued)

    retried = client.post(f"/vaults/{vault.pk}/jobs/{failed.pk}/retry/", {})
    assert retried.status_code == 200
    again = Job.objects.filter(vm=item.vm, operation=Operation.BACKUP).exclude(pk__in=[failed.pk, world["job"].pk]).get()
    assert again.status == JobStatus.QUEUED and again.parameters["trigger"] == "manual"
    assert client.post(f"/vaults/{vault.pk}/jobs/{world['job'].pk}/retry/", {}).status_code == 409  # it completed

    failed_verify = JobFactory(vault=vault, operation=Operation.VERIFY, status=JobStatus.FAILED)
    operator = client_for(_member(subscription, "an-operator", Role.OPERATOR))
    assert f"/jobs/{failed_verify.pk}/retry/" not in job_page(operator, failed_verify)
    assert operator.post(f"/vaults/{vault.pk}/jobs/{failed_verify.pk}/retry/", {}).status_code == 403
    reader = client_for(_member(subscription, "a-reader", Role.READER))
    assert reader.post(f"/vaults/{vault.pk}/jobs/{failed.pk}/retry/", {}).status_code == 403


def test_a_second_click_goes_above_what_the_first_started(world, owner):
    vault, item = world["job"].vault, world["item"]
    client = client_for(owner)
    first = client.post(f"/vaults/{vault.pk}/backup/", {"selected": item.pk})
    assert first.headers["HX-Reswap"] == "innerHTML"
    second = client.post(f"/vaults/{vault.pk}/backup/", {"selected": item.pk})
    assert second.status_code == 409 and second.headers["HX-Reswap"] == "afterbegin"
    assert "Another operation is in progress" in second.content.decode()


def test_lists_update_while_you_watch(world, owner):
    client = client_for(owner)
    vault = world["valid"]["pk"]
    for tab in ("registered", "protected", "jobs", "dashboard"):
        assert "every 5s" in client.get(f"/vaults/{vault}/{tab}/").content.decode(), tab
    # While a job runs, the pages that show it ask every second: a worker's change shows at once.
    JobFactory(vault_id=vault, status=JobStatus.IN_PROGRESS, operation=Operation.VERIFY)
    for tab in ("jobs", "dashboard"):
        assert "every 1s" in client.get(f"/vaults/{vault}/{tab}/").content.decode(), tab


def test_what_was_typed_stays_beside_its_message(world, owner):
    vault, item = world["job"].vault, world["item"]
    point = item.vm.recovery_points.get()
    page = client_for(owner).post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": point.pk, "mode": "new_vm", "name": "", "cloud_service": "x y"})
    html = page.content.decode()
    assert page.status_code == 400 and 'id="restore-name" name="name" value=""' in html
    assert 'value="x y"' in html and "must have 1 to 64 characters" in html


def test_the_products_messages_speak_before_the_browsers(owner_client, vault):
    dialog = owner_client.get(f"/vaults/{vault.pk}/policies/new/").content.decode()
    assert "novalidate" in dialog
    refused = owner_client.post(f"/vaults/{vault.pk}/policies/new/", {
        "name": "Long", "frequency": "daily", "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": "10000"})
    assert "between 1 and 9999 days" in refused.content.decode()


def test_a_to_before_from_says_so(world, owner):
    vault = world["valid"]["pk"]
    now = timezone.localtime()
    start, end = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), (
        now - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client_for(owner).get(f"/vaults/{vault}/jobs/?start={start}&end={end}")
    assert response.status_code == 400
    assert "“To” is earlier than “From”" in response.content.decode()
    audit = client_for(owner).get(f"/vaults/{vault}/audit/?start={start}&end={end}")
    assert audit.status_code == 400 and "“To” is earlier than “From”" in audit.content.decode()


def test_wizards_go_back_keeping_what_was_chosen(world, owner, vault):
    item = world["item"]
    client = client_for(owner)
    point = item.vm.recovery_points.get()
    back = client.post(f"/vaults/{vault.pk}/restore/", {"selected": item.pk, "step": "2", "point": point.pk,
                                                        "back": "1"}).content.decode()
    assert 'name="step" value="1"' in back and f'value="{point.pk}" checked' in back
    item.protection_state, item.policy = ProtectionState.NOT_PROTECTED, None
    item.save()
    step2 = client.post(f"/vaults/{vault.pk}/protect/", {"step": "1", "selected": [item.pk]}).content.decode()
    assert 'value="1"' in step2 and 'name="back"' in step2
    step1 = client.post(f"/vaults/{vault.pk}/protect/", {"step": "2", "back": "1", "selected": [item.pk]})
    assert f'value="{item.pk}" id="protect-{item.pk}" checked' in step1.content.decode()
    assert not Job.objects.filter(operation=Operation.CONFIGURE_PROTECTION).exists()


def test_a_list_refreshes_with_the_rows_ticked_now_never_an_old_selection(world, owner):
    vault, item = world["valid"]["pk"], world["item"]
    page = client_for(owner).get(f"/vaults/{vault}/protected/?selected={item.pk}&page=1").content.decode()
    assert f'hx-get="/vaults/{vault}/protected/?page=1"' in page  # htmx adds the boxes ticked at that moment
    assert f'id="select-{item.pk}" name="selected" value="{item.pk}" checked' in page  # an id keeps focus


def test_a_failed_bar_is_never_full_and_a_message_that_lost_its_words_still_reads(vault):
    from jobs.messages import note, render

    failed = JobFactory(vault=vault, status=JobStatus.FAILED, progress_done=100, progress_total=100)
    assert failed.percent == 99
    assert render(note("%(count)d of %(total)s", count="many")) == "%(count)d of %(total)s"


def test_a_retried_backup_now_keeps_its_date_and_a_job_is_retried_once(world, owner):
    vault, item = world["job"].vault, world["item"]
    later = (timezone.localdate() + datetime.timedelta(days=400))
    end_of_day = datetime.datetime.combine(later, datetime.time.max, tzinfo=timezone.get_current_timezone())
    failed = JobFactory(vault=vault, vm=item.vm, entity_name=str(item.vm), operation=Operation.BACKUP,
                        status=JobStatus.FAILED, parameters={"trigger": "manual", "retain_until": end_of_day.isoformat()})
    client = client_for(owner)
    assert client.post(f"/vaults/{vault.pk}/jobs/{failed.pk}/retry/", {}).status_code == 200
    again = Job.objects.filter(vm=item.vm, operation=Operation.BACKUP, status=JobStatus.QUEUED).get()
    assert again.parameters["retain_until"].startswith(later.isoformat())
    Job.objects.filter(pk=again.pk).update(status=JobStatus.FAILED)
    refused = client.post(f"/vaults/{vault.pk}/jobs/{failed.pk}/retry/", {})  # it was run again since
    assert refused.status_code == 409 and "was not run again since" in refused.content.decode()
    assert f"/jobs/{failed.pk}/retry/" not in job_page(client, failed)


def test_back_to_the_first_step_keeps_the_point_chosen_on_another_day(world, owner):
    vault, item = world["job"].vault, world["item"]
    newest = item.vm.recovery_points.get()
    older = newest.__class__.objects.create(
        vault=vault, vm=item.vm, point_id="older", consistency=newest.consistency, disks=newest.disks,
        created_at=newest.created_at - datetime.timedelta(days=3))
    page = client_for(owner).post(f"/vaults/{vault.pk}/restore/", {
        "selected": item.pk, "step": "2", "point": older.pk, "back": "1"}).content.decode()
    assert f'name="point" value="{older.pk}" checked' in page and f'name="point" value="{newest.pk}"' not in page


def test_a_to_before_from_at_the_calendars_edge_in_a_far_zone_is_a_message(world, owner):
    client = client_for(owner)
    client.cookies["vaultline_tz"] = "Asia/Tokyo"
    response = client.get(f"/vaults/{world['valid']['pk']}/jobs/?start=9999-12-31T23:00:00Z&end=9999-12-31T22:00:00Z")
    assert response.status_code == 400 and "“To” is earlier than “From”" in response.content.decode()
