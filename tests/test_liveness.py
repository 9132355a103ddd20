"""A worker's change of a job's status shows in the pages people have open (they poll every second
while a job they show runs): the job's page and the Jobs tab. bench/liveness.py runs this with
LIVENESS_ROUNDS=20 and prints how long each took to show the change."""

import os
import statistics
import time

import pytest
from playwright.sync_api import expect

from jobs.choices import JobStatus
from jobs.models import Job
from tests.conftest import sign_in
from vaults.choices import Operation

pytestmark = [pytest.mark.browser, pytest.mark.same_on_every_database]
ROUNDS = int(os.environ.get("LIVENESS_ROUNDS", "1"))


def test_a_workers_change_shows_in_the_open_pages(page, live_server, transactional_db, vault, owner):
    sign_in(page, live_server, owner)
    jobs_tab = page.context.new_page()
    seen = []
    for _ in range(ROUNDS):
        # Made as a command makes it, never sent: this test is the worker.
        job = Job.objects.create_queued(vault=vault, operation=Operation.VERIFY, entity_name=vault.name)
        page.goto(f"{live_server.url}/vaults/{vault.pk}/jobs/{job.pk}/")
        jobs_tab.goto(f"{live_server.url}/vaults/{vault.pk}/jobs/")
        expect(page.locator("[data-job-status=queued]")).to_be_visible()
        expect(jobs_tab.locator("#job-table .status-queued")).to_be_visible()
        changed = time.monotonic()
        assert job.start()  # Queued -> In progress, as a worker's claim does
        expect(page.locator("[data-job-status=in_progress]")).to_be_visible(timeout=15_000)
        on_page = time.monotonic() - changed
        expect(jobs_tab.locator("#job-table .status-in_progress")).to_be_visible(timeout=15_000)
        on_tab = time.monotonic() - changed
        job.finish(JobStatus.COMPLETED)
        expect(page.locator("[data-job-status=completed]")).to_be_visible(timeout=15_000)
        seen.append((on_page, on_tab))
    pages, tabs = ([round(row[column], 2) for row in seen] for column in (0, 1))
    print(f"\nA status change showed after (s): job page median {statistics.median(pages)}, max {max(pages)}; "
          f"Jobs tab median {statistics.median(tabs)}, max {max(tabs)} ({ROUNDS} rounds)")
