"""What the pages show: names from VM sources escaped, the tray's life cycle, the dashboard's links."""

import datetime
import re

import pytest
from django.utils import timezone

from jobs.choices import JobStatus
from jobs.messages import note
from portal import keyset
from tests.factories import JobFactory, RegisteredItemFactory
from vaults.choices import Operation, ProtectionState

ODD = '<b>odd & "quoted"</b>'
ODD_ESCAPED = "&lt;b&gt;odd &amp; &quot;quoted&quot;&lt;/b&gt;"


@pytest.fixture
def odd_item(vault):
    item = RegisteredItemFactory(vault=vault, vm__name=ODD, vm__cloud_service="<i>svc</i>",
                                 protection_state=ProtectionState.PENDING, policy=vault.policies.get())
    JobFactory(vault=vault, vm=item.vm, entity_name=ODD, operation=Operation.REGISTER,
               result=note("%(vm)s is registered.", vm=ODD))
    return item


@pytest.mark.parametrize("page", ["registered/", "protected/", "jobs/"])
def test_names_from_sources_are_escaped(owner_client, vault, odd_item, page):
    html = owner_client.get(f"/vaults/{vault.pk}/{page}").content.decode()
    assert ODD_ESCAPED in html
    assert ODD not in html and "<i>svc</i>" not in html


def test_names_are_escaped_in_the_register_dialog_and_job_page(owner_client, vault):
    from tests.factories import VirtualMachineFactory

    vm = VirtualMachineFactory(source__subscription=vault.subscription, name=ODD)
    vault.discovered_vms.add(vm)
    html = owner_client.get(f"/vaults/{vault.pk}/register/").content.decode()
    assert ODD_ESCAPED in html and ODD not in html
    job = JobFactory(vault=vault, entity_name=ODD, result=note("%(vm)s is registered.", vm=ODD), status=JobStatus.COMPLETED)
    html = owner_client.get(f"/vaults/{job.vault_id}/jobs/{job.pk}/").content.decode()
    assert ODD_ESCAPED in html and ODD not in html
    html = owner_client.get(f"/vaults/{vault.pk}/tray/?job={job.pk}").content.decode()
    assert ODD_ESCAPED in html and ODD not in html


def test_tray_polls_while_a_job_runs_and_stops_with_view_job(owner_client, vault):
    job = JobFactory(vault=vault, status=JobStatus.IN_PROGRESS, operation=Operation.DISCOVERY)
    running = owner_client.get(f"/vaults/{vault.pk}/tray/?job={job.pk}", HTTP_HX_REQUEST="true")
    assert running.status_code == 200
    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert "is in progress" in running.content.decode()
    job.finish(JobStatus.COMPLETED, message="Discovery found 3 VMs that can be registered.")
    done = owner_client.get(f"/vaults/{vault.pk}/tray/?job={job.pk}", HTTP_HX_REQUEST="true")
    assert done.status_code == 286
    assert "vaultChanged" in done.headers["HX-Trigger"]
    html = done.content.decode()
    assert "Discovery found 3 VMs" in html and f"/vaults/{job.vault_id}/jobs/{job.pk}/" in html and "View Job" in html
    assert "every 1s" not in html, "an ended tray stops asking"


def test_a_discover_command_answers_with_the_tray(owner_client, vault):
    response = owner_client.post(f"/vaults/{vault.pk}/discover/")
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#tray"
    assert "Discovery of 'vault-east' is in progress" in response.content.decode()
    again = owner_client.post(f"/vaults/{vault.pk}/discover/")
    assert again.status_code == 409
    assert "Another Discovery operation is already in progress." in again.content.decode()


def test_the_job_page_shows_error_code_message_and_action(owner_client, vault):
    job = JobFactory(vault=vault, status=JobStatus.QUEUED)
    job.start()
    from vaults.errors import ErrorCode

    job.finish(JobStatus.FAILED, error=ErrorCode.SOURCE_UNAVAILABLE)
    html = owner_client.get(f"/vaults/{job.vault_id}/jobs/{job.pk}/").content.decode()
    for text in ("SourceUnavailable", "The VM source could not be reached.", "Recommended action", "In progress"):
        assert text in html


def test_job_filters(owner_client, vault):
    JobFactory(vault=vault, status=JobStatus.FAILED, operation=Operation.REGISTER, entity_name="failed-one")
    JobFactory(vault=vault, status=JobStatus.COMPLETED, operation=Operation.DISCOVERY, entity_name="done-one")
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/?status=failed").content.decode()
    assert "failed-one" in html and "done-one" not in html
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/?operation=discovery").content.decode()
    assert "done-one" in html and "failed-one" not in html
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/?end=2000-01-01T00:00").content.decode()
    assert "No jobs match these filters." in html


def job_rows(html):
    return re.findall(r'<td class="name">([^<]*)</td>', html)


def link(html, rel):
    found = re.search(rf'href="\?([^"]*cursor=[^"]*)" rel="{rel}"', html)
    return found and found[1].replace("&amp;", "&")


def test_the_jobs_tab_walks_older_and_newer_without_skipping_or_repeating(owner_client, vault):
    now = timezone.now()
    # Ties in time (three jobs a second) are where a cursor of time alone would skip or repeat rows.
    jobs = [JobFactory(vault=vault, entity_name=f"job{index:02}", created_at=now - datetime.timedelta(seconds=index // 3))
            for index in range(60)]
    newest_first = [job.entity_name for job in sorted(jobs, key=lambda job: (job.created_at, job.pk), reverse=True)]
    url = f"/vaults/{vault.pk}/jobs/"
    html = owner_client.get(url).content.decode()
    assert "60 rows" in html and link(html, "prev") is None
    pages = [job_rows(html)]
    while link(html, "next"):
        html = owner_client.get(f"{url}?{link(html, 'next')}").content.decode()
        pages.append(job_rows(html))
    assert [len(rows) for rows in pages] == [25, 25, 10]
    assert sum(pages, []) == newest_first
    # A job that starts meanwhile does not move the older pages; Newer goes back page by page.
    JobFactory(vault=vault, entity_name="newcomer")
    back = owner_client.get(f"{url}?{link(html, 'prev')}").content.decode()
    assert job_rows(back) == pages[1]
    back = owner_client.get(f"{url}?{link(back, 'prev')}").content.decode()
    assert job_rows(back) == pages[0] and link(back, "prev")  # the newcomer is newer still
    back = owner_client.get(f"{url}?{link(back, 'prev')}").content.decode()
    assert job_rows(back) == ["newcomer", *pages[0]][:25] and link(back, "prev") is None  # the first page again


def test_the_jobs_tab_keeps_its_filters_on_every_page(owner_client, vault):
    for index in range(30):
        JobFactory(vault=vault, entity_name=f"failed{index}", status=JobStatus.FAILED)
        JobFactory(vault=vault, entity_name=f"done{index}", status=JobStatus.COMPLETED)
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/?status=failed").content.decode()
    assert "30 rows" in html and "status=failed&cursor=" in link(html, "next")
    older = owner_client.get(f"/vaults/{vault.pk}/jobs/?{link(html, 'next')}").content.decode()
    assert len(job_rows(older)) == 5 and all(name.startswith("failed") for name in job_rows(older))


def test_a_count_beyond_the_limit_says_more_than(owner_client, vault, monkeypatch):
    monkeypatch.setattr(keyset, "COUNT_LIMIT", 10)
    JobFactory.create_batch(12, vault=vault)
    html = owner_client.get(f"/vaults/{vault.pk}/jobs/").content.decode()
    assert "More than 10 rows" in html and "12 rows" not in html


@pytest.mark.parametrize("cursor", ["older", "older-1-", "sideways-1-1", "older-999999999999999999-1",
                                   "older-1-9999999999999999999", "older-１-1", "older--1-1"])
def test_a_page_link_the_page_never_made_is_refused_with_a_message(owner_client, vault, cursor):
    JobFactory(vault=vault, entity_name="not-shown")
    response = owner_client.get(f"/vaults/{vault.pk}/jobs/", {"cursor": cursor})
    html = response.content.decode()
    assert response.status_code == 400 and "That page link is not valid" in html and "not-shown" not in html


def test_dashboard_counts_the_last_day_and_links_to_filtered_jobs(owner_client, vault):
    from datetime import timedelta

    from django.utils import timezone

    JobFactory.create_batch(3, vault=vault, status=JobStatus.COMPLETED)
    JobFactory(vault=vault, status=JobStatus.FAILED)
    JobFactory(vault=vault, status=JobStatus.IN_PROGRESS)
    JobFactory(vault=vault, status=JobStatus.FAILED, created_at=timezone.now() - timedelta(days=2))
    RegisteredItemFactory(vault=vault, protection_state=ProtectionState.PENDING, policy=vault.policies.get())
    html = owner_client.get(f"/vaults/{vault.pk}/dashboard/").content.decode()
    assert 'data-counter="completed">3<' in html
    assert 'data-counter="failed">1<' in html
    assert 'data-counter="in_progress">1<' in html
    assert 'data-counter="protected">1<' in html
    assert "jobs/?status=failed&amp;start=" in html


def test_the_dashboard_shows_the_space_running_jobs_hold_in_work_files(owner_client, vault, settings):
    running = JobFactory(vault=vault, status=JobStatus.IN_PROGRESS)
    elsewhere = JobFactory(status=JobStatus.IN_PROGRESS)  # another vault's job
    for job in (running, elsewhere):
        folder = settings.WORK_ROOT / f"job-{job.pk}"
        folder.mkdir(parents=True)
        (folder / "0.raw").write_bytes(b"x" * 2 * 1024 * 1024)
    html = owner_client.get(f"/vaults/{vault.pk}/dashboard/").content.decode()
    assert 'data-counter="work_files">2.0\xa0MB<' in html


def test_registered_items_are_paginated(owner_client, vault):
    RegisteredItemFactory.create_batch(55, vault=vault)
    first = owner_client.get(f"/vaults/{vault.pk}/registered/").content.decode()
    assert "Page 1 of 2 (55 rows)" in first and first.count('name="selected"') == 50
    second = owner_client.get(f"/vaults/{vault.pk}/registered/?page=2").content.decode()
    assert second.count('name="selected"') == 5


def test_the_korean_interface_uses_the_seed_words(owner_client, vault):
    html = owner_client.get(f"/vaults/{vault.pk}/registered/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for word in ("등록된 항목", "보호된 항목", "검색", "등록", "보호"):
        assert word in html


def test_a_table_refresh_keeps_the_ticked_rows(owner_client, vault):
    first, second = RegisteredItemFactory.create_batch(2, vault=vault)
    html = owner_client.get(f"/vaults/{vault.pk}/registered/?selected={second.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{second.pk}" checked' in html
    assert f'value="{first.pk}" checked' not in html


def test_names_are_escaped_in_the_restore_wizard_and_item_page(owner_client, vault, odd_item):
    wizard = owner_client.get(f"/vaults/{vault.pk}/restore/?selected={odd_item.pk}", HTTP_HX_REQUEST="true")
    item_page = owner_client.get(f"/vaults/{vault.pk}/items/{odd_item.pk}/")
    for response in (wizard, item_page):
        html = response.content.decode()
        assert ODD_ESCAPED in html and ODD not in html


def test_a_jobs_traceback_is_shown_to_staff_only(owner_client, vault, owner):
    job = JobFactory(vault=vault, status=JobStatus.FAILED, error_code="InternalError",
                     traceback="Traceback (most recent call last):\n  secret.py")
    page = owner_client.get(f"/vaults/{job.vault_id}/jobs/{job.pk}/").content.decode()
    assert "The job failed because of an unexpected error." in page and "InternalError" in page
    assert "send the job&#x27;s details to your administrator" in page
    assert "secret.py" not in page
    owner.is_staff = True
    owner.save()
    assert "secret.py" in owner_client.get(f"/vaults/{job.vault_id}/jobs/{job.pk}/").content.decode()


def test_every_answer_says_how_long_the_server_took(owner_client, vault, client):
    timing = owner_client.get(f"/vaults/{vault.pk}/jobs/")["Server-Timing"]
    assert re.fullmatch(r"app;dur=[0-9]+\.[0-9]", timing)
    assert client.get("/login/")["Server-Timing"].startswith("app;dur=")  # signed in or not
