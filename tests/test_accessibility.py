"""Keyboard and screen readers: axe-core (from the npm registry, `make test` installs it) finds no
serious or critical violation on any page, in English and in Korean; a wizard keeps focus inside it
and moves it to each new step's first field; every command is a control the keyboard reaches."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import open_page, sign_in
from vaults.choices import ProtectionState

pytestmark = [pytest.mark.browser, pytest.mark.same_on_every_database]

AXE = Path(settings.BASE_DIR) / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def signed_in(page, live_server, transactional_db, world, owner):
    return sign_in(page, live_server, owner)


def violations(page):
    assert AXE.exists(), f"{AXE} is missing: make test installs axe-core from the npm registry"
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`);
    }""")
    return found


@pytest.mark.parametrize("language", ["en", "ko"])
def test_no_serious_or_critical_violation_on_any_page(signed_in, live_server, world, language):
    page = signed_in
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    vault, item, job = world["valid"]["pk"], world["item"].pk, world["job"].pk
    paths = ["/vaults/", f"/vaults/{vault}/", f"/vaults/{vault}/dashboard/", f"/vaults/{vault}/registered/",
             f"/vaults/{vault}/protected/", f"/vaults/{vault}/items/{item}/", f"/vaults/{vault}/policies/",
             f"/vaults/{vault}/jobs/", f"/vaults/{vault}/jobs/{job}/", f"/vaults/{vault}/jobs/older/",
             f"/vaults/{vault}/jobs/older/{world['valid']['archived_pk']}/", f"/vaults/{vault}/audit/", "/subscriptions/",
             f"/subscriptions/{world['subscription_pk']}/members/", "/tokens/", "/preferences/", "/troubleshooting/",
             f"/vaults/{vault}/policies/new/", f"/vaults/{vault}/restore/?selected={item}"]
    found = {}
    for path in paths:
        open_page(page, live_server.url + path)
        found[path] = violations(page)
    page.goto(f"{live_server.url}/vaults/{vault}/protected/")  # a dialog, open over its page
    page.wait_for_function("window.htmx !== undefined")
    page.locator("tr[data-points=yes] input[type=checkbox]").first.check()
    page.locator("button.cmd[hx-get$='/restore/']").click()
    expect(page.locator("#modal[open]")).to_be_visible()
    found["restore dialog"] = violations(page)
    problems = {path: problems for path, problems in found.items() if problems}
    assert not problems, "\n".join(f"{path}: {problem}" for path, found in problems.items() for problem in found)


def test_a_wizard_keeps_focus_inside_and_moves_it_to_each_step(signed_in, live_server, world):
    page = signed_in
    vault, item = world["valid"]["pk"], world["item"]
    item.protection_state, item.policy = ProtectionState.NOT_PROTECTED, None
    item.save()
    page.goto(f"{live_server.url}/vaults/{vault}/protected/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("button.cmd[hx-get$='/protect/']").focus()
    page.keyboard.press("Enter")  # the command bar, from the keyboard
    expect(page.locator("#modal[open]")).to_be_visible()
    expect(page.locator(f"#protect-{item.pk}")).to_be_focused()  # step 1's first field
    page.keyboard.press("Space")
    for _ in range(25):  # Tab never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('modal').contains(document.activeElement)")
    page.locator("#modal button[type=submit]:not([name=back])").click()  # Next
    expect(page.locator("#modal input[name=step][value='2']")).to_have_count(1)
    expect(page.locator("#modal input[name=policy_mode][value=existing]")).to_be_focused()
    expect(page.locator("#modal button[name=back]")).to_be_visible()
    page.locator("#modal button[name=back]").click()
    expect(page.locator(f"#protect-{item.pk}")).to_be_checked()
    expect(page.locator(f"#protect-{item.pk}")).to_be_focused()


def test_enter_in_a_field_goes_on_never_back(signed_in, live_server, world):
    page = signed_in
    vault, item = world["valid"]["pk"], world["item"]
    page.goto(f"{live_server.url}/vaults/{vault}/protected/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("tr[data-points=yes] input[type=checkbox]").first.check()
    page.locator("button.cmd[hx-get$='/restore/']").click()
    expect(page.locator("#modal[open]")).to_be_visible()
    page.locator("#modal button[type=submit]:not([name=back])").click()  # step 2: where to restore
    expect(page.locator("#modal input[name=step][value='2']")).to_have_count(1)
    page.locator("#restore-name").fill("not a name!")
    page.locator("#restore-name").press("Enter")  # the step's own button: the restore, refused for its name
    expect(page.locator("#modal [role=alert]")).to_contain_text("1 to 64 characters")
    expect(page.locator("#modal input[name=step][value='2']")).to_have_count(1)
    expect(page.locator("#restore-name")).to_have_value("not a name!")
    assert not item.vm.jobs.exclude(pk=world["job"].pk).exists()
