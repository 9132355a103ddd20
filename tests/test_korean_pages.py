"""A Korean operator never meets an English word: Chromium walks the main pages (and dialogs) in Korean and
fails on any run of Latin letters that is not a name (of a vault, VM, cloud service, subscription, user,
policy or region), a code (an error code, a format) or a unit."""

import re

import pytest
from playwright.sync_api import expect

from jobs.errors import CATALOGUE
from tests.conftest import open_page, sign_in
from vaults.models import RecoveryPoint

pytestmark = [pytest.mark.browser, pytest.mark.same_on_every_database]

# Codes and units a Korean page writes in Latin letters, as Korean documentation does.
ALLOWED = {"VM", "VMs", "API", "UTC", "CSV", "ID", "HH", "MM", "JSON", "REST", "Bearer", "Authorization",
           "Vaultline", "vaultline", "KB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB", "raw", "qcow2",
           "DefaultPolicy", "Redis", "REDIS_URL", "DATABASE_URL", "s3", "VAULTLINE_STORAGE_ROOT", "English",
           "vl_", "OK", "var"}  # var: the folder the portal keeps its files in
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_\-.]*[A-Za-z0-9]|[A-Za-z]")


@pytest.fixture
def in_korean(page, live_server, transactional_db, world, owner):
    return sign_in(page, live_server, owner, language="ko")


def names_of(world, owner):
    """Every name the world's rows carry: what a source or a person chose, shown as it is."""
    vault = world["job"].vault
    names = {vault.name, vault.region, vault.subscription.name, owner.get_username()}
    for vm in vault.discovered_vms.all():
        names |= {vm.name, vm.cloud_service, vm.region}
    names |= set(vault.policies.values_list("name", flat=True)) | set(vault.subscription.sources.values_list(
        "name", flat=True))
    return names


CODES = set(map(str, CATALOGUE))  # error codes, shown as they are beside their Korean message
SETTING = re.compile(r"[A-Z][A-Z0-9_]{2,}|var/[a-z_/]+|[a-z]+(_[a-z]+)+")  # a setting's name, a file


def english_in(text, names):
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return sorted({word for word in LATIN.findall(text)
                   if word not in ALLOWED and word not in CODES and not SETTING.fullmatch(word)})


def visible_text(page, within="body"):
    """What a person reads: a select's options (time zones, names) are codes and names, and left out."""
    return page.evaluate("""(selector) => {
        const copy = document.querySelector(selector).cloneNode(true);
        copy.querySelectorAll("select, script, style, .visually-hidden").forEach((node) => node.remove());
        document.body.appendChild(copy);
        const text = copy.innerText;
        copy.remove();
        return text;
    }""", within)


def test_the_main_pages_speak_korean_only(in_korean, live_server, world, owner):
    page = in_korean
    names = names_of(world, owner)
    vault, item, job = world["valid"]["pk"], world["item"].pk, world["job"].pk
    paths = ["/vaults/", f"/vaults/{vault}/", f"/vaults/{vault}/dashboard/", f"/vaults/{vault}/registered/",
             f"/vaults/{vault}/protected/", f"/vaults/{vault}/items/{item}/", f"/vaults/{vault}/policies/",
             f"/vaults/{vault}/jobs/", f"/vaults/{vault}/jobs/{job}/", f"/vaults/{vault}/jobs/older/",
             f"/vaults/{vault}/jobs/older/{world['valid']['archived_pk']}/", f"/vaults/{vault}/audit/", "/subscriptions/",
             f"/subscriptions/{world['subscription_pk']}/members/", "/tokens/", "/preferences/", "/troubleshooting/"]
    found = {}
    for path in paths:
        open_page(page, live_server.url + path)
        found[path] = english_in(visible_text(page), names)
    page.goto(f"{live_server.url}/vaults/{vault}/protected/")
    page.wait_for_function("window.htmx !== undefined")
    for row, button in ((None, "button.cmd[hx-get$='/protect/']"),
                        ("tr[data-points=yes] input[type=checkbox]", "button.cmd[hx-get$='/restore/']"),
                        ("tr[data-points=yes] input[type=checkbox]", "button.cmd[hx-get$='/backup/']")):
        if row:
            page.locator(row).first.check()
        page.locator(button).click()
        expect(page.locator("#modal[open]")).to_be_visible()
        found[button] = english_in(visible_text(page, "#modal"), names)
        page.keyboard.press("Escape")
        expect(page.locator("#modal[open]")).to_have_count(0)
    problems = {where: words[:40] for where, words in found.items() if words}
    assert not problems, "\n".join(f"{where}: {words}" for where, words in problems.items())
    assert RecoveryPoint.objects.filter(vm=world["item"].vm).exists()  # the pages had a point to show
