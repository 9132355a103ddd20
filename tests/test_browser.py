"""A person's first session in headless Chromium: create a vault, discover, register, protect."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job
from tests.conftest import held_queue
from vaults.choices import Operation
from vaults.models import RegisteredItem

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in(page, live_server, worker, owner, source):
    owner.set_password("pass-word-123")
    owner.save()
    page.goto(f"{live_server.url}/vaults/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/vaults/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pass-word-123")
    page.click("button[type=submit]")
    expect(page.get_by_text("You have no backup vaults yet.")).to_be_visible()
    # Until its scripts have run, a link opens its full page instead of the dialog (as it should
    # without JavaScript); a person's next click comes later than a test's.
    page.wait_for_load_state("load")
    page.wait_for_function("window.htmx !== undefined")
    return page


def test_create_discover_register_and_protect(signed_in, live_server, worker):
    page = signed_in
    tray = page.locator("#tray")

    # Create vault: a bad name is refused in the dialog, a good one opens Quick Start.
    page.click("a.new-button")
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    page.fill("#id_name", "9 lives")
    dialog.locator("button[type=submit]").click()
    expect(dialog.get_by_text("starting with a letter")).to_be_visible()
    page.fill("#id_name", "vault-east")
    page.select_option("#id_region", "East US")
    dialog.locator("button[type=submit]").click()
    expect(page.get_by_role("heading", name="vault-east")).to_be_visible()
    expect(page.get_by_text("Protect your virtual machines")).to_be_visible()

    # Discover: the tray shows it running, then what it found, with View Job.
    page.locator("nav.tabs").get_by_role("link", name="Registered Items", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.get_by_text("No items are registered with this vault.")).to_be_visible()
    page.locator(".commands").get_by_role("button", name="Discover", exact=True).click()
    expect(tray).to_contain_text("Discovery found 6 VMs that can be registered.", timeout=20_000)
    expect(tray.get_by_role("link", name="View Job", exact=True)).to_be_visible()

    # Register two VMs with the same name, told apart by cloud service.
    page.locator(".commands").get_by_role("button", name="Register", exact=True).click()
    expect(dialog.get_by_text("told apart by their cloud service")).to_be_visible()
    expect(dialog.get_by_text('<b>odd & "quoted"</b>')).to_be_visible()  # shown as text, not markup
    rows = dialog.locator("tr", has_text="app01")
    expect(rows).to_have_count(2)
    rows.nth(0).locator("input").check()
    rows.nth(1).locator("input").check()
    # Hold the worker for a moment, to see what a person sees while the jobs wait and run.
    with held_queue(worker):
        dialog.locator("button[type=submit]").click()
        expect(dialog).to_be_hidden()
        expect(tray).to_contain_text("Register: 2 jobs, 0 completed…")
        expect(tray.locator(".busy-dots")).to_be_visible()
        table = page.locator("#selection")
        expect(table.locator("tbody tr", has_text="Registering")).to_have_count(2)
    expect(tray).to_contain_text("Register: 2 completed, 0 failed.", timeout=20_000)
    expect(table.locator("tr", has_text="contoso-app")).to_contain_text("Registered")
    expect(table.locator("tr", has_text="fabrikam-app")).to_contain_text("Registered")

    # Unregister needs a selection; Protect opens the wizard with the selection ticked.
    expect(page.locator(".commands").get_by_role("button", name="Unregister", exact=True)).to_be_disabled()
    table.locator("input[name=selected]").nth(0).check()
    table.locator("input[name=selected]").nth(1).check()
    expect(page.locator(".commands").get_by_role("button", name="Unregister", exact=True)).to_be_enabled()
    page.locator(".commands").get_by_role("button", name="Protect", exact=True).click()
    expect(dialog.locator("input[name=selected]:checked")).to_have_count(2)
    dialog.get_by_role("button", name="Next", exact=True).click()

    # Step 2: an existing policy shows its retention read-only; then define a new one instead.
    expect(dialog.get_by_text("Each day's backup, for 30 days")).to_be_visible()
    dialog.get_by_label("Create a new policy").check()
    page.fill("#id_name", "Nightly")
    page.fill("#id_time_of_day", "01:30")
    dialog.get_by_role("button", name="Next", exact=True).click()

    # Step 3: retention, refused out of range with the limit named, then accepted.
    expect(dialog.get_by_role("heading", name="Retention range")).to_be_visible()
    page.fill("#id_retain_monthly", "0")
    page.eval_on_selector("#id_retain_monthly", "el => el.removeAttribute('min')")  # let the server judge
    dialog.get_by_role("button", name="Protect", exact=True).click()
    expect(dialog.get_by_text("Monthly retention must be between 1 and 1188 months.")).to_be_visible()
    page.fill("#id_retain_monthly", "12")
    dialog.get_by_role("button", name="Protect", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(tray).to_contain_text("Configure Protection: 2 completed, 0 failed.", timeout=20_000)

    page.locator("nav.tabs").get_by_role("link", name="Protected Items", exact=True).click()
    page.wait_for_load_state("load")
    rows = page.locator("#selection tbody tr")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row).to_contain_text("Protected (initial backup pending)")
        expect(row).to_contain_text("Nightly")
    assert {item.policy.name for item in RegisteredItem.objects.select_related("policy")} == {"Nightly"}

    # The job list and a job page tell the story.
    page.locator("nav.tabs").get_by_role("link", name="Jobs", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator("#job-table tbody tr")).to_have_count(5)
    page.get_by_role("link", name="View details", exact=True).first.click()
    expect(page.locator("[data-job-status]")).to_have_text("Completed")

    # The dashboard counts what happened.
    page.locator("nav.tabs").get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator("[data-counter=protected]")).to_have_text("2")
    expect(page.locator("[data-counter=completed]")).to_have_text("5")


def test_backup_now_then_restore(signed_in, live_server, worker, vault, owner):
    """Backup Now, watch the job's progress bar reach 100%, see the recovery point, restore it."""
    from tests.conftest import protect

    page = signed_in
    item = protect(vault, owner, "web01")
    page.goto(f"{live_server.url}/vaults/{vault.pk}/protected/")
    row = page.locator("#selection tbody tr", has_text="web01")
    expect(row).to_contain_text("Protected (initial backup pending)")
    row.locator("input[name=selected]").check()
    with held_queue(worker):
        page.locator(".commands").get_by_role("button", name="Backup Now", exact=True).click()
        dialog = page.locator("#modal")
        expect(dialog.get_by_label("Retain backup till")).to_have_value(
            (timezone.localdate() + datetime.timedelta(days=30)).isoformat())
        dialog.get_by_role("button", name="Back up").click()
        tray = page.locator("#tray")
        expect(tray).to_contain_text("Backup of 'web01 (contoso-web)' is in progress")
        tray.get_by_role("link", name="View Job").click()
        bar = page.get_by_role("progressbar")
        expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    expect(page.locator("[data-job-status]")).to_have_text("Completed")
    job = Job.objects.get(operation=Operation.BACKUP)
    assert job.progress_total == 2 * 1024 * 1024 and job.progress_done == job.progress_total, "real progress reported"
    assert "Transferring data to the vault: 2.0" in job.progress_message
    expect(page.locator("[data-subtask='Take snapshot']")).to_contain_text("Completed")
    expect(page.locator("[data-subtask='Transfer data to vault']")).to_contain_text("Completed")

    page.goto(f"{live_server.url}/vaults/{vault.pk}/items/{item.pk}/")  # goto waits for "load"
    expect(page.locator("#recovery-points tbody tr")).to_have_count(1)
    expect(page.locator("#recovery-points")).to_contain_text("Application consistent")
    page.locator(".commands").get_by_role("button", name="Restore", exact=True).click()
    dialog = page.locator("#modal")
    expect(dialog.locator("td.has-points")).to_have_count(1)  # today is marked on the calendar
    expect(dialog.get_by_text("(newest)")).to_be_visible()
    dialog.get_by_role("button", name="Next").click()
    page.fill("#restore-name", "web01-copy")
    page.fill("#restore-service", "restored-web")
    dialog.get_by_role("button", name="Restore").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#tray")).to_contain_text("every disk checked", timeout=30_000)
