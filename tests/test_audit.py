"""The audit log: every command and every refusal leaves one entry saying who, from where, what, to
which object and how it ended; reads leave none; entries are never changed; the log is shown per
vault and per subscription, filtered, paged and exported as CSV."""

import csv
import io

import pytest
from django.urls import resolve

from audit.models import AppendOnly, AuditEntry, Outcome
from jobs.models import Job
from portal.access import Action, Role
from tests.conftest import PortalClient, _member, client_for, protect
from tests.factories import PolicyFactory, UserFactory
from tests.test_roles import method_rules, portal_routes, send
from vaults.choices import ProtectionState

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Vaultline-test"


def entries(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def only_entry(since, **filters):
    found = list(AuditEntry.objects.filter(pk__gt=since, **filters))
    assert len(found) == 1, [(entry.action, entry.outcome, entry.message) for entry in found]
    return found[0]


def last_pk():
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_command_leaves_one_entry_and_every_read_none(world, owner):
    """The routes come from the URL conf (pages and API), so a new command cannot be left out. The API
    records a command under the page action it matches."""
    client = client_for(owner)
    for name, url, view in portal_routes(world):
        is_api = name.startswith("api:") and name != "api:docs"
        for method, action in method_rules(view):
            before = last_pk()
            response = send(client, method, url, is_api)
            assert response.status_code < 500, f"{method} {url}"
            recorded = list(AuditEntry.objects.filter(pk__gt=before).values_list("action", flat=True))
            if method != "GET" and action != Action.VIEW:
                assert recorded == [recorded_as(name, view, method)], f"{method} {url}: {recorded}"
            else:
                # Handing out a disk's data is the one read recorded as a command would be.
                assert recorded == (["vaults:download_disk"] if name == "vaults:download_disk" else []), url


def recorded_as(name, view, method):
    api_view = getattr(view, "view_class", None)
    if api_view is None or not name.startswith("api:"):
        return name
    return getattr(api_view, "audit_actions", {}).get(method) or api_view.audit_action


def test_backup_now_is_recorded_with_who_where_what_and_how_it_ended(world, owner):
    client = client_for(owner)
    vault, item = world["job"].vault, world["item"]
    before = last_pk()
    response = client.post(f"/vaults/{vault.pk}/backup/", {"selected": item.pk}, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    entry = only_entry(before)
    assert (entry.action, entry.action_label, entry.outcome) == ("vaults:backup_now", "Backup Now", Outcome.SUCCEEDED)
    assert (entry.user_id, entry.username, entry.address, entry.user_agent) == (owner.pk, "owner", "127.0.0.1", BROWSER)
    assert (entry.vault_id, entry.vault_name, entry.subscription_id, entry.subscription_name) == (
        vault.pk, "vault-east", vault.subscription_id, "Contoso")
    assert entry.target == str(item.vm) and entry.method == "POST" and entry.status_code == 200


def test_a_command_the_state_refuses_is_recorded_with_its_reason(world, owner):
    client = client_for(owner)
    vault, item = world["job"].vault, world["item"]
    item.protection_state = ProtectionState.STOPPED
    item.save()
    before = last_pk()
    response = client.post(f"/vaults/{vault.pk}/backup/", {"selected": item.pk})
    assert response.status_code == 409
    entry = only_entry(before)
    assert entry.outcome == Outcome.REFUSED and entry.message == "Only protected VMs can be backed up."
    assert not Job.objects.filter(vm=item.vm, pk__gt=world["job"].pk).exists()


@pytest.mark.parametrize("path, data", [
    ("backup/", {"selected": "ITEM"}), ("stop-protection/", {"selected": "ITEM", "data": "retain"}),
    ("policies/new/", {"name": "Mine"}), ("delete/", {"confirm_name": "vault-east"}), ("key/", {}),
])
def test_a_role_that_does_not_allow_it_is_recorded_as_not_allowed(world, subscription, path, data):
    reader = _member(subscription, "a-reader", Role.READER)
    client = client_for(reader)
    vault = world["job"].vault
    data = {key: world["item"].pk if value == "ITEM" else value for key, value in data.items()}
    before = last_pk()
    response = client.post(f"/vaults/{vault.pk}/{path}", data, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 403
    entry = only_entry(before)
    assert (entry.outcome, entry.username, entry.vault_name, entry.status_code) == (
        Outcome.DENIED, "a-reader", "vault-east", 403)
    assert entry.message == "Your role in this subscription does not allow this."
    assert entry.action == resolve(f"/vaults/{vault.pk}/{path}").view_name


def test_a_request_without_its_csrf_token_is_recorded_as_not_allowed(world, owner):
    client = PortalClient()
    client.force_login(owner)
    before = last_pk()
    response = client.post(f"/vaults/{world['job'].vault.pk}/backup/", {"selected": world["item"].pk}, csrf=False)
    assert response.status_code == 403
    assert only_entry(before).outcome == Outcome.DENIED


def test_wizard_steps_are_not_commands_and_their_end_is(world, owner):
    client = client_for(owner)
    vault, item = world["job"].vault, world["item"]
    point = item.vm.recovery_points.get()
    url = f"/vaults/{vault.pk}/restore/"
    before = last_pk()
    client.post(url, {"selected": item.pk, "step": "1", "point": point.pk})
    client.post(url, {"selected": item.pk, "step": "2", "point": point.pk, "mode": "replace"})  # asks first
    assert last_pk() == before
    client.post(url, {"selected": item.pk, "step": "2", "point": point.pk, "mode": "new_vm", "name": "bad name!",
                      "cloud_service": "svc"})
    refused = only_entry(before)
    assert refused.outcome == Outcome.REFUSED and "name" in refused.message.lower()
    client.post(url, {"selected": item.pk, "step": "2", "point": point.pk, "mode": "new_vm", "name": "copy01",
                      "cloud_service": "svc"})
    started = only_entry(refused.pk)
    assert (started.action, started.outcome, started.target) == ("vaults:restore", Outcome.SUCCEEDED, str(item.vm))


def test_stop_protection_and_cancel_are_recorded(world, owner):
    client = client_for(owner)
    vault, item = world["job"].vault, world["item"]
    before = last_pk()
    client.post(f"/vaults/{vault.pk}/stop-protection/", {"selected": item.pk, "data": "retain"})
    stop = only_entry(before)
    assert (stop.action, stop.outcome, stop.target) == ("vaults:stop_protection", Outcome.SUCCEEDED, str(item.vm))
    job = Job.objects.filter(vm=item.vm).first()
    client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/", {})
    cancel = only_entry(stop.pk)
    assert (cancel.action, cancel.outcome, cancel.target) == ("vaults:job_cancel", Outcome.SUCCEEDED, str(job))
    client.post(f"/vaults/{vault.pk}/jobs/{job.pk}/cancel/", {})
    again = only_entry(cancel.pk)
    assert again.outcome == Outcome.REFUSED and again.message == "The job had already ended."


def test_policy_changes_keep_what_they_were_and_what_they_became(owner_client, vault):
    before = last_pk()
    owner_client.post(f"/vaults/{vault.pk}/policies/new/", {
        "name": "Nightly", "frequency": "daily", "time_of_day": "23:00", "time_zone": "UTC", "retain_daily": "14"})
    created = only_entry(before)
    assert created.target == "Nightly" and created.changes["retain_daily"] == ["", "14"]
    assert created.changes["time_of_day"] == ["", "23:00"]
    policy = vault.policies.get(name="Nightly")
    owner_client.post(f"/vaults/{vault.pk}/policies/edit/", {
        "selected": policy.pk, "name": "Nightly", "frequency": "daily", "time_of_day": "23:30", "time_zone": "UTC",
        "retain_daily": "45"})
    edited = only_entry(created.pk)
    assert edited.action == "vaults:policy_edit" and edited.outcome == Outcome.SUCCEEDED
    assert edited.changes == {"time_of_day": ["23:00", "23:30"], "retain_daily": ["14", "45"]}
    owner_client.post(f"/vaults/{vault.pk}/policies/new/", {"name": "Bad", "frequency": "daily",
                                                           "time_of_day": "23:00", "time_zone": "UTC",
                                                           "retain_daily": "10000"})
    refused = only_entry(edited.pk)
    assert refused.outcome == Outcome.REFUSED and "9999" in refused.message


def test_vault_settings_key_export_and_members_are_recorded(owner_client, vault, subscription, member):
    before = last_pk()
    owner_client.post(f"/vaults/{vault.pk}/settings/", {"verify_weekday": "2", "soft_delete_days": "30"}, htmx=False)
    settings = only_entry(before)
    assert settings.changes == {"verify_weekday": ["5", "2"], "soft_delete_days": ["14", "30"]}
    owner_client.post(f"/vaults/{vault.pk}/key/", {}, htmx=False)
    key = only_entry(settings.pk)
    assert (key.action, key.target, key.outcome) == ("vaults:export_key", "vault-east", Outcome.SUCCEEDED)
    membership = member.memberships.get()
    owner_client.post(f"/subscriptions/{subscription.pk}/members/{membership.pk}/role/", {"role": Role.READER},
                      htmx=False)
    role = only_entry(key.pk)
    assert (role.target, role.changes, role.subscription_name, role.vault_id) == (
        "member", {"role": ["Backup Contributor", "Backup Reader"]}, "Contoso", None)


def test_a_new_vault_is_recorded_in_its_subscription(owner_client, subscription, source):
    before = last_pk()
    owner_client.post("/vaults/new/", {"name": "vault-west", "region": "West Europe", "subscription": subscription.pk},
                      htmx=False)
    entry = only_entry(before)
    assert (entry.action, entry.vault_name, entry.subscription_name) == ("vaults:create", "vault-west", "Contoso")
    assert entry.changes["region"] == ["", "West Europe"]


def test_sign_ins_are_recorded_and_no_password_is_kept(db, owner):
    client = PortalClient()
    client.post("/login/", {"username": "owner", "password": "not-the-password"}, htmx=False,
                HTTP_USER_AGENT=BROWSER)
    client.post("/login/", {"username": "nobody-here", "password": "secret-guess"}, htmx=False)
    client.post("/login/", {"username": "owner", "password": "pass-word-123"}, htmx=False)
    client.post("/logout/", {}, htmx=False)
    rows = [(entry.action, entry.username, entry.outcome) for entry in entries()]
    # A name no user has may be a password typed in the wrong field: only its first letter and length.
    assert rows == [("login", "owner", Outcome.DENIED), ("login", "n… (11 characters, no such user)", Outcome.DENIED),
                    ("login", "owner", Outcome.SUCCEEDED), ("logout", "owner", Outcome.SUCCEEDED)]
    assert entries()[0].user_agent == BROWSER and entries()[0].user_id is None
    stored = repr(list(AuditEntry.objects.values()))
    assert "not-the-password" not in stored and "secret-guess" not in stored and "pass-word-123" not in stored


def test_entries_are_never_changed_or_deleted(world, owner):
    client_for(owner).post(f"/vaults/{world['job'].vault.pk}/verify/", {})
    entry = AuditEntry.objects.filter(action="vaults:verify").get()
    entry.outcome = Outcome.FAILED
    for attempt in (entry.save, entry.delete, lambda: AuditEntry.objects.update(outcome=Outcome.FAILED),
                    lambda: AuditEntry.objects.all().delete()):
        with pytest.raises(AppendOnly):
            attempt()
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.SUCCEEDED


def test_hostile_request_text_is_stored_safely(world, owner):
    client = client_for(owner)
    vault = world["job"].vault
    client.post(f"/vaults/{vault.pk}/verify/", {}, HTTP_USER_AGENT="evil\x00agent" + "x" * 5000,
                REMOTE_ADDR="fe80::1%eth0")
    entry = AuditEntry.objects.get(action="vaults:verify")
    assert entry.user_agent.startswith("evilagent") and len(entry.user_agent) == 300
    assert entry.address == "fe80::1"
    client.post(f"/vaults/{vault.pk}/prune/", {}, REMOTE_ADDR="not an address")
    assert AuditEntry.objects.get(action="vaults:prune").address is None


def test_the_vault_tab_and_the_subscription_page_show_their_own_entries(world, owner, subscription, outsider):
    vault = world["job"].vault
    client = client_for(owner)
    client.post(f"/vaults/{vault.pk}/verify/", {}, HTTP_USER_AGENT=BROWSER)
    client_for(_member(subscription, "a-reader", Role.READER)).post(f"/vaults/{vault.pk}/prune/", {})
    client_for(outsider).post(f"/vaults/{vault.pk}/prune/", {})  # not theirs: a 404, in no vault's log
    page = client.get(f"/vaults/{vault.pk}/audit/").content.decode()
    assert "Verify" in page and "a-reader" in page and "Not allowed" in page and "outsider" not in page
    assert "Audit log" in page
    refused = client.get(f"/vaults/{vault.pk}/audit/?outcome=denied").content.decode()
    assert "a-reader" in refused and "outcome-succeeded" not in refused
    by_user = client.get(f"/vaults/{vault.pk}/audit/?user=OWNER&action=vaults:verify").content.decode()
    assert "Verify" in by_user and "a-reader" not in by_user
    members = client.get(f"/subscriptions/{subscription.pk}/audit/").content.decode()
    assert "Verify" in members and "vault-east" in members
    assert client_for(outsider).get(f"/subscriptions/{subscription.pk}/audit/").status_code == 404


@pytest.mark.parametrize("query", ["outcome=everything", "start=yesterday", "action=vaults:nothing", "page=1&end=x"])
def test_a_filter_that_is_not_valid_is_refused_never_widened(world, owner, query):
    client = client_for(owner)
    client.post(f"/vaults/{world['job'].vault.pk}/verify/", {})
    for suffix in ("", "&export=csv"):
        response = client.get(f"/vaults/{world['job'].vault.pk}/audit/?{query}{suffix}")
        assert response.status_code == 400
        assert b"<tbody>" not in response.content and b"owner" not in response.content.split(b"</form>")[-1]


def test_the_log_exports_as_csv_with_formulas_defused(world, owner, subscription):
    vault = world["job"].vault
    client = client_for(owner)
    client.post(f"/vaults/{vault.pk}/verify/", {}, HTTP_USER_AGENT="=HYPERLINK(\"http://evil\")")
    client.post(f"/vaults/{vault.pk}/prune/", {})
    response = client.get(f"/vaults/{vault.pk}/audit/?action=vaults:verify&export=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-vault-east-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["vaults:verify"]
    assert rows[0]["user_agent"] == "'=HYPERLINK(\"http://evil\")" and rows[0]["user"] == "owner"


def test_a_busy_log_pages_by_fifty(world, owner):
    vault = world["job"].vault
    AuditEntry.objects.bulk_create([AuditEntry(action="vaults:verify", outcome=Outcome.SUCCEEDED, vault_id=vault.pk,
                                               username=f"user{number}") for number in range(120)])
    client = client_for(owner)
    first = client.get(f"/vaults/{vault.pk}/audit/").content.decode()
    assert "Page 1 of 3 (120 rows)" in first
    last = client.get(f"/vaults/{vault.pk}/audit/?page=3").content.decode()
    assert last.count("<tr>") == 1 + 20


def test_protect_with_an_existing_policy_is_one_entry(world, owner, vault):
    item = protect(vault, owner, "web01", "contoso-web")
    item.protection_state, item.policy = ProtectionState.NOT_PROTECTED, None
    item.save()
    client = client_for(owner)
    before = last_pk()
    client.post(f"/vaults/{vault.pk}/protect/", {"step": "1", "selected": [item.pk]})
    assert last_pk() == before
    client.post(f"/vaults/{vault.pk}/protect/", {"step": "2", "policy_mode": "existing",
                                                 "policy": vault.policies.get().pk, "selected": [item.pk]})
    entry = only_entry(before)
    assert (entry.action, entry.target, entry.outcome) == ("vaults:protect", str(item.vm), Outcome.SUCCEEDED)


def test_a_door_hammered_from_one_address_is_recorded_once_a_minute(db, owner):
    client = PortalClient()
    for _attempt in range(20):
        client.post("/login/", {"username": "owner", "password": "guess"}, htmx=False)
        client.post("/vaults/new/", {"name": "x"}, csrf=False)  # anonymous, no CSRF token: a 403
    assert AuditEntry.objects.filter(action="login", username="owner", outcome=Outcome.DENIED).count() == 1
    assert AuditEntry.objects.filter(action="vaults:create", outcome=Outcome.DENIED).count() == 1
    client.post("/login/", {"username": "owner", "password": "guess"}, htmx=False, REMOTE_ADDR="10.0.0.9")
    assert AuditEntry.objects.filter(action="login", outcome=Outcome.DENIED).count() == 2


def test_a_refused_removal_changes_nothing_on_record(owner_client, subscription, owner):
    mine = owner.memberships.get()
    owner_client.post(f"/subscriptions/{subscription.pk}/members/{mine.pk}/remove/", {}, htmx=False)
    entry = AuditEntry.objects.get(action="subscriptions:member_remove")
    assert entry.outcome == Outcome.REFUSED and entry.changes == {}


def test_a_policy_the_protect_wizard_makes_is_on_record(world, owner, vault):
    item = protect(vault, owner, "web01", "contoso-web")
    item.protection_state, item.policy = ProtectionState.NOT_PROTECTED, None
    item.save()
    client_for(owner).post(f"/vaults/{vault.pk}/protect/", {
        "step": "3", "policy_mode": "new", "selected": [item.pk], "name": "Nightly", "frequency": "daily",
        "time_of_day": "23:00", "time_zone": "UTC", "retain_daily": "7"})
    entry = AuditEntry.objects.get(action="vaults:protect")
    assert entry.changes["new policy"] == ["", "Nightly"] and entry.changes["retain_daily"] == ["", "7"]


def test_what_staff_change_in_the_admin_is_on_record_once_it_is_done(world, subscription, member):
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = client_for(staff)
    membership = member.memberships.get()
    url = f"/admin/vaults/membership/{membership.pk}/change/"
    before = last_pk()
    client.post(url, {"subscription": subscription.pk, "user": member.pk, "role": "god"}, htmx=False)  # invalid
    assert last_pk() == before
    client.post(url, {"subscription": subscription.pk, "user": member.pk, "role": Role.OWNER}, htmx=False)
    entry = only_entry(before)
    assert (entry.action, entry.username, entry.subscription_name, entry.outcome) == (
        "admin:change", "root", "Contoso", Outcome.SUCCEEDED)
    assert "membership" in entry.target and "Role" in entry.message
    policies = world["job"].vault.policies.all()
    extra = PolicyFactory(vault=world["job"].vault, name="Spare")
    chosen = {"action": "delete_selected", "_selected_action": [extra.pk]}
    client.post("/admin/vaults/policy/", chosen, htmx=False)  # the confirmation page
    assert last_pk() == entry.pk
    client.post("/admin/vaults/policy/", {**chosen, "post": "yes"}, htmx=False)
    deleted = only_entry(entry.pk)
    assert deleted.action == "admin:deletion" and "Spare" in deleted.target
    assert policies.count() == 1
