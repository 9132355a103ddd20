"""The REST API: personal tokens (a digest kept, shown once, expiry, read-only, revocation, last use),
the session with CSRF, commands that answer 202 with jobs to poll, problems for every refusal, cursor
pages, the OpenAPI document and its reference page, and a backup and restore through it on a real worker."""

import base64
import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from audit.models import AuditEntry, Outcome
from jobs.choices import JobStatus
from jobs.models import Job
from portal.access import Action, Role
from tests.conftest import PortalClient, _member, client_for, disk_bytes, wait_for_jobs
from tests.factories import JobFactory
from tests.test_hostile_requests import database_state
from tests.test_roles import api_routes
from vaults.choices import ProtectionState
from vaults.models import RecoveryPoint, VirtualMachine


class Api:
    """A script's view of the API: JSON in and out, a bearer token."""

    def __init__(self, token):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path, **params):
        return self.client.get(path, params, **self.headers)

    def send(self, method, path, body=None, **extra):
        return getattr(self.client, method)(path, json.dumps(body if body is not None else {}),
                                            content_type="application/json", **self.headers, **extra)

    def post(self, path, body=None, **extra):
        return self.send("post", path, body, **extra)


def api_for(user, read_only=False):
    _row, token = tokens.issue(user, f"test-{user.pk}-{read_only}", 30, read_only)
    return Api(token)


def is_problem(response, status, code):
    assert response.status_code == status, (response.status_code, response.content[:400])
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["detail"]
    return body


# --- Tokens --------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_digest_is_kept(owner_client, owner):
    page = owner_client.post("/tokens/new/", {"name": "nightly script", "days": "30"}, htmx=False)
    assert page.status_code == 201 and page["Cache-Control"] == "no-store"
    token = page.context["new_token"]
    assert token.startswith("vl_") and token in page.content.decode()
    row = ApiToken.objects.get(user=owner)
    assert row.digest == tokens.digest(token) and not row.read_only
    assert token not in repr(list(ApiToken.objects.values())) and token not in repr(list(AuditEntry.objects.values()))
    again = owner_client.get("/tokens/").content.decode()
    assert "nightly script" in again and token not in again and row.prefix in again
    assert Api(token).get("/api/v1/vaults/").status_code == 200
    entry = AuditEntry.objects.get(action="tokens:create")
    assert (entry.target, entry.outcome, entry.username) == ("nightly script", Outcome.SUCCEEDED, "owner")


@pytest.mark.parametrize("data, message", [
    ({"name": "", "days": "30"}, "This field is required"),
    ({"name": "x", "days": "1000"}, "Select a valid choice"),
])
def test_a_bad_token_request_says_why_and_makes_nothing(owner_client, data, message):
    response = owner_client.post("/tokens/new/", data, htmx=False)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_expired_revoked_unknown_and_inactive_tokens_sign_nobody_in(owner, vault):
    expired, expired_token = tokens.issue(owner, "old", 7)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    revoked, revoked_token = tokens.issue(owner, "gone", 7)
    tokens.revoke(revoked)
    for token, detail in ((expired_token, "The token has expired."), (revoked_token, "The token was revoked."),
                          ("vl_" + "x" * 43, "The token is not valid."), ("garbage", "The token is not valid.")):
        response = Api(token).get("/api/v1/vaults/")
        assert is_problem(response, 401, "authentication_failed")["detail"] == detail
        assert response["WWW-Authenticate"] == "Bearer"
    # Named after the token's owner where there is one; the same failure from one address once a minute.
    failures = AuditEntry.objects.filter(action="login", outcome=Outcome.DENIED).order_by("pk")
    assert [(entry.username, entry.message) for entry in failures] == [
        ("owner", "The token has expired."), ("", "The token is not valid.")]
    _row, token = tokens.issue(owner, "mine", 7)
    owner.is_active = False
    owner.save()
    is_problem(Api(token).get("/api/v1/vaults/"), 401, "authentication_failed")


def test_without_credentials_the_api_answers_401_never_the_sign_in_page(world):
    response = Client().get(f"/api/v1/vaults/{world['valid']['pk']}/")
    is_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    is_problem(Client().get("/api/schema/"), 401, "not_authenticated")


def test_last_use_is_written_at_most_once_a_minute(owner, vault):
    row, token = tokens.issue(owner, "busy", 7)
    api = Api(token)
    api.get("/api/v1/vaults/")
    first = ApiToken.objects.get(pk=row.pk).last_used_at
    api.get("/api/v1/vaults/")
    assert first is not None and ApiToken.objects.get(pk=row.pk).last_used_at == first
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - datetime.timedelta(minutes=2))
    api.get("/api/v1/vaults/")
    assert ApiToken.objects.get(pk=row.pk).last_used_at > first


def test_a_user_revokes_only_their_own_tokens(owner_client, owner, member):
    mine, token = tokens.issue(owner, "mine", 7)
    theirs, _other = tokens.issue(member, "theirs", 7)
    assert owner_client.post(f"/tokens/{theirs.pk}/revoke/", {}, htmx=False).status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    owner_client.post(f"/tokens/{mine.pk}/revoke/", {}, htmx=False)
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    is_problem(Api(token).get("/api/v1/vaults/"), 401, "authentication_failed")
    assert AuditEntry.objects.filter(action="tokens:revoke", outcome=Outcome.SUCCEEDED).count() == 1


def test_a_read_only_token_changes_nothing_on_any_command_route(world, owner):
    api = api_for(owner, read_only=True)
    before = database_state()
    checked = 0
    for _name, url, view in api_routes(world):
        for method, action in view.required_action.items():
            if action == Action.VIEW:
                continue
            response = api.send(method.lower(), url, {"items": [world["item"].pk]})
            is_problem(response, 403, "read_only_token")
            checked += 1
    assert checked >= 14 and database_state() == before
    assert api.get(f"/api/v1/vaults/{world['valid']['pk']}/jobs/").status_code == 200
    denied = AuditEntry.objects.filter(outcome=Outcome.DENIED, token_name=f"test-{owner.pk}-True")
    assert denied.count() == checked
    # Each under the page action it matches, as the filters list them.
    assert not denied.filter(action__startswith="api:").exists()
    assert set(denied.values_list("action", flat=True)) >= {"vaults:backup_now", "vaults:policy_delete"}


def test_the_session_needs_its_csrf_token(world, owner):
    vault = world["valid"]["pk"]
    session = PortalClient()
    session.force_login(owner)
    refused = session.post(f"/api/v1/vaults/{vault}/verify/", "{}", content_type="application/json", csrf=False)
    is_problem(refused, 403, "permission_denied")
    assert "CSRF" in refused.json()["detail"]
    accepted = session.post(f"/api/v1/vaults/{vault}/verify/", "{}", content_type="application/json")
    assert accepted.status_code == 202


# --- Commands and problems ---------------------------------------------------------------------------


def test_a_command_answers_202_with_the_job_to_poll(world, owner):
    api = api_for(owner)
    vault = world["valid"]["pk"]
    response = api.post(f"/api/v1/vaults/{vault}/backup-now/", {"items": [world["item"].pk],
                                                                "retain_until": "2099-01-01"})
    assert response.status_code == 202
    job = response.json()["jobs"][0]
    assert response["Location"] == job["url"] == f"/api/v1/vaults/{vault}/jobs/{job['id']}/"
    assert (job["operation"], job["status"], job["entity_name"]) == ("backup", "queued", str(world["item"].vm))
    polled = api.get(job["url"]).json()
    assert polled["status"] == "queued" and polled["events"][0]["new_status"] == "queued"
    assert Job.objects.get(pk=job["id"]).parameters["retain_until"].startswith("2099-01-01T23:59:59")
    entry = AuditEntry.objects.get(action="vaults:backup_now")
    assert (entry.outcome, entry.token_name, entry.target) == (Outcome.SUCCEEDED, f"test-{owner.pk}-False",
                                                               str(world["item"].vm))


@pytest.mark.parametrize("path, body, status, code, field", [
    ("backup-now/", {"items": ["abc"]}, 400, "invalid", "items"),
    ("backup-now/", {"items": []}, 400, "invalid", "items"),
    ("backup-now/", {"items": [1], "retain_until": "1999-01-01"}, 400, "invalid", "retain_until"),
    ("backup-now/", [1, 2], 400, "invalid", "non_field_errors"),
    ("restore/", {"point": 999999, "mode": "new_vm", "name": "x", "cloud_service": "y"}, 400, "invalid", "point"),
    ("protect/", {"items": [1], "policy": 999999}, 400, "invalid", "policy"),
    ("register/", {"vms": [999999]}, 409, "refused", None),
    ("unregister/", {"items": ["ITEM"]}, 409, "refused", None),
])
def test_bad_commands_are_problems_that_change_nothing(world, owner, path, body, status, code, field):
    api = api_for(owner)
    if isinstance(body, dict):
        body = {key: [world["item"].pk if value == "ITEM" else value for value in values]
                if isinstance(values, list) else values for key, values in body.items()}
    before = database_state()
    problem = is_problem(api.post(f"/api/v1/vaults/{world['valid']['pk']}/{path}", body), status, code)
    if field:
        assert field in problem["errors"]
    assert database_state() == before
    assert AuditEntry.objects.filter(outcome=Outcome.REFUSED, message=problem["detail"]).count() == 1


def test_a_replace_asks_first_then_starts(world, owner):
    api = api_for(owner)
    point = RecoveryPoint.objects.get(vm=world["item"].vm)
    url = f"/api/v1/vaults/{world['valid']['pk']}/restore/"
    question = is_problem(api.post(url, {"point": point.pk, "mode": "replace"}), 409, "needs_confirmation")
    assert str(world["item"].vm) in question["detail"]
    assert not AuditEntry.objects.filter(action="vaults:restore").exists()  # a question is not a command
    assert api.post(url, {"point": point.pk, "mode": "replace", "confirm": True}).status_code == 202


def test_a_point_of_another_vault_is_not_found_through_this_one(world, owner, subscription, source):
    from vaults import services

    other = services.create_vault(subscription=subscription, name="vault-two", region="East US", user=owner)
    point = RecoveryPoint.objects.get(vm=world["item"].vm)
    problem = is_problem(api_for(owner).post(f"/api/v1/vaults/{other.pk}/restore/", {
        "point": point.pk, "mode": "new_vm", "name": "copy", "cloud_service": "svc"}), 400, "invalid")
    assert "point" in problem["errors"]


def test_cancel_and_unknown_addresses(world, owner):
    api = api_for(owner)
    vault = world["valid"]["pk"]
    job = world["job"]
    is_problem(api.post(f"/api/v1/vaults/{vault}/jobs/{job.pk}/cancel/"), 409, "refused")
    queued = api.post(f"/api/v1/vaults/{vault}/discover/").json()["jobs"][0]
    cancelled = api.post(f"/api/v1/vaults/{vault}/jobs/{queued['id']}/cancel/")
    assert cancelled.status_code == 202 and cancelled.json()["jobs"][0]["status"] == "cancelled"
    is_problem(api.get("/api/v1/nothing-here/"), 404, "not_found")
    is_problem(api.get(f"/api/v1/vaults/{vault}/jobs/{world['foreign']['job_pk'][0]}/"), 404, "not_found")
    is_problem(api.send("delete", f"/api/v1/vaults/{vault}/"), 405, "method_not_allowed")
    response = api.client.post(f"/api/v1/vaults/{vault}/register/", "vms=1",
                               content_type="application/x-www-form-urlencoded", **api.headers)
    is_problem(response, 415, "unsupported_media_type")
    is_problem(api.client.post(f"/api/v1/vaults/{vault}/register/", "{", content_type="application/json",
                               **api.headers), 400, "parse_error")


def test_a_role_refusal_is_a_403_problem(world, subscription):
    operator = _member(subscription, "an-operator", Role.OPERATOR)
    api = api_for(operator)
    problem = is_problem(api.post(f"/api/v1/vaults/{world['valid']['pk']}/verify/"), 403, "permission_denied")
    assert problem["detail"] == "Your role in this subscription does not allow this."
    assert api.post(f"/api/v1/vaults/{world['valid']['pk']}/backup-now/",
                    {"items": [world["item"].pk]}).status_code == 202


def test_a_new_vault_through_the_api(owner, subscription, source, outsider):
    api = api_for(owner)
    created = api.post("/api/v1/vaults/", {"name": "vault-api", "region": "West Europe",
                                            "subscription": subscription.pk})
    assert created.status_code == 201 and created.json()["name"] == "vault-api" and created.json()["role"] == "owner"
    is_problem(api.post("/api/v1/vaults/", {"name": "vault-api", "region": "West Europe",
                                            "subscription": subscription.pk}), 400, "invalid")
    foreign = outsider.memberships.get().subscription_id
    problem = is_problem(api.post("/api/v1/vaults/", {"name": "theirs", "region": "East US",
                                                      "subscription": foreign}), 400, "invalid")
    assert "subscription" in problem["errors"]
    reader = _member(subscription, "a-reader", Role.READER)
    is_problem(api_for(reader).post("/api/v1/vaults/", {"name": "mine", "region": "East US",
                                                        "subscription": subscription.pk}), 403, "permission_denied")


# --- Policies ------------------------------------------------------------------------------------


def test_the_policy_lifecycle_asks_before_removing_points(world, owner):
    api = api_for(owner)
    vault = world["valid"]["pk"]
    base = f"/api/v1/vaults/{vault}/policies/"
    created = api.post(base, {"name": "Hourly", "frequency": "hourly", "time_of_day": "00:00", "hourly_interval": 6,
                              "retain_each": 2, "retain_daily": 10})
    assert created.status_code == 201, created.content
    assert created.json()["weekly_days"] == [6] and created.json()["item_count"] == 0
    problem = is_problem(api.post(base, {"name": "Too long", "frequency": "daily", "time_of_day": "22:00",
                                         "retain_daily": 10000}), 400, "invalid")
    assert "9999" in problem["errors"]["retain_daily"][0]
    default = world["item"].policy
    point = RecoveryPoint.objects.get(vm=world["item"].vm)
    five_days_ago = timezone.now() - datetime.timedelta(days=5)
    # An older scheduled point (the newest is always kept): 30 days keep it, 1 day would not.
    RecoveryPoint.objects.create(vault=point.vault, vm=point.vm, point_id="older", created_at=five_days_ago,
                                 slot=five_days_ago, consistency=point.consistency, disks=point.disks)
    url = f"{base}{default.pk}/"
    newer = {"name": default.name, "frequency": "daily", "time_of_day": "22:00", "retain_daily": 1}
    question = is_problem(api.send("put", url, newer), 409, "needs_confirmation")
    assert question["removals"] == [{"vm": str(world["item"].vm), "vm_id": world["item"].vm.pk, "points": 1}]
    changed = api.send("put", url + "?confirm=true", newer)
    assert changed.status_code == 200 and changed.json()["retain_daily"] == 1
    assert AuditEntry.objects.get(action="vaults:policy_edit").changes == {"retain_daily": ["30", "1"]}
    is_problem(api.send("delete", url), 409, "refused")
    assert api.send("delete", f"{base}{created.json()['id']}/").status_code == 204
    listed = api.get(base).json()
    assert [policy["name"] for policy in listed["results"]] == [default.name]


def test_the_preview_is_the_dialogs(world, owner):
    api = api_for(owner)
    response = api.post(f"/api/v1/vaults/{world['valid']['pk']}/policies/preview/", {
        "frequency": "daily", "time_of_day": "22:00", "retain_daily": 30, "retain_weekly": 104,
        "retain_monthly": 120, "monthly_week": "last", "retain_yearly": 99, "yearly_week": "first",
        "start": "2026-12-06"})
    assert response.status_code == 200, response.content
    preview = response.json()
    assert [horizon["points"] for horizon in preview["horizons"]] == [8, 31, 78, 234]  # tests/test_preview.py
    assert preview["most_points_kept"] == 353 and preview["estimate"]["total_bytes"] > 0
    is_problem(api.post(f"/api/v1/vaults/{world['valid']['pk']}/policies/preview/", {
        "frequency": "weekly", "time_of_day": "22:00", "retain_daily": 30}), 400, "invalid")


# --- Lists ---------------------------------------------------------------------------------------


def test_jobs_page_by_cursor_and_filter_as_the_jobs_tab(world, owner):
    vault = world["job"].vault
    JobFactory.create_batch(60, vault=vault, status=JobStatus.FAILED)
    api = api_for(owner)
    first = api.get(f"/api/v1/vaults/{vault.pk}/jobs/", status="failed").json()
    assert len(first["results"]) == 50 and first["next"] and "cursor=" in first["next"]
    rest = api.get(first["next"].replace("http://testserver", "")).json()
    assert len(rest["results"]) == 10 and rest["next"] is None
    seen = {job["id"] for job in first["results"] + rest["results"]}
    assert len(seen) == 60 and world["job"].pk not in seen
    is_problem(api.get(f"/api/v1/vaults/{vault.pk}/jobs/", status="everything"), 400, "invalid")
    # Any offset is read (PostgreSQL refuses +19:42 itself); a time before the year 1 in UTC is refused.
    assert len(api.get(f"/api/v1/vaults/{vault.pk}/jobs/", start="2000-12-01T10:00:00+19:42").json()["results"]) == 50
    problem = is_problem(api.get(f"/api/v1/vaults/{vault.pk}/jobs/", end="0001-01-01T00:30+01:00"), 400, "invalid")
    assert problem["errors"]["end"] == ["Give a time between the years 1 and 9999."]


@pytest.mark.parametrize("position", ["garbage", "0001-01-01T00:30+01:00", "2026-13-45 99:00"])
def test_a_forged_cursor_is_not_found_never_a_server_error(world, owner, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    api = api_for(owner, read_only=True)
    for path in (f"/api/v1/vaults/{world['valid']['pk']}/jobs/", f"/api/v1/vaults/{world['valid']['pk']}/audit/",
                 f"/api/v1/subscriptions/{world['subscription_pk']}/audit/"):
        is_problem(api.get(path, cursor=cursor), 404, "not_found")


@pytest.mark.parametrize("body, content_type", [
    ("[" * 5000 + "]" * 5000, "application/json"),
    ('{"items": [1]}', "application/json; charset=rot13"),
    ('{"items": [NaN]}', "application/json"),
    ('{"items": "' + "x" * 3_000_000 + '"}', "application/json"),
])
def test_bodies_that_cannot_be_read_are_problems(world, owner, body, content_type):
    api = api_for(owner)
    before = database_state()
    response = api.client.generic("POST", f"/api/v1/vaults/{world['valid']['pk']}/policies/preview/", body.encode(),
                                  content_type=content_type, **api.headers)
    # Too large a body is refused by Django itself, before the API reads it.
    is_problem(response, 400, "bad_request" if len(body) > 2_621_440 else "parse_error")
    assert database_state() == before


def test_a_change_keeps_what_it_leaves_out_and_null_clears_a_rule(world, owner):
    api = api_for(owner)
    base = f"/api/v1/vaults/{world['valid']['pk']}/policies/"
    created = api.post(base, {"name": "Paris", "frequency": "daily", "time_of_day": "01:00", "time_zone": "Europe/Paris",
                              "extra_times": ["13:00"], "retain_each": 2, "retain_daily": 30, "retain_yearly": 5}).json()
    assert "id" in created, created
    url = f"{base}{created['id']}/"
    changed = api.send("put", url, {"retain_daily": 40})
    assert changed.status_code == 200, changed.content
    kept = changed.json()
    assert (kept["time_zone"], kept["extra_times"], kept["retain_daily"], kept["retain_yearly"]) == (
        "Europe/Paris", ["13:00"], 40, 5)
    cleared = api.send("put", url, {"retain_yearly": None}).json()
    assert cleared["retain_yearly"] is None and cleared["time_zone"] == "Europe/Paris"
    shown = api.post(f"{base}preview/", {"policy": created["id"], "start": "2026-12-06"}).json()
    assert shown["horizons"][0]["oldest"].startswith("2026-12-06T00:00")  # 01:00 in Paris is midnight UTC


def test_items_points_and_audit_lists(world, owner, outsider):
    api = api_for(owner)
    vault = world["valid"]["pk"]
    items = api.get(f"/api/v1/vaults/{vault}/items/", protection_state="protected").json()["results"]
    assert [(item["vm"]["name"], item["point_count"]) for item in items] == [("app01", 1)]
    assert "path" not in json.dumps(items)  # a disk's place on its host stays with the source
    points = api.get(f"/api/v1/vaults/{vault}/recovery-points/", item=world["item"].pk).json()["results"]
    assert len(points) == 1 and points[0]["vm_name"] == "app01"
    api.post(f"/api/v1/vaults/{vault}/verify/")
    audit = api.get(f"/api/v1/vaults/{vault}/audit/", action="vaults:verify").json()["results"]
    assert [entry["action_label"] for entry in audit] == ["Verify"]
    subscription = world["subscription_pk"]
    assert api.get(f"/api/v1/subscriptions/{subscription}/audit/").json()["results"]
    assert [source["name"] for source in api.get(f"/api/v1/subscriptions/{subscription}/sources/").json()[
        "results"]] == ["Lab"]
    is_problem(api_for(outsider).get(f"/api/v1/subscriptions/{subscription}/audit/"), 404, "not_found")


# --- The document and its reference page ------------------------------------------------------------


def test_the_openapi_document_and_its_reference_page(world, owner):
    schema = api_for(owner).get("/api/schema/", format="json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert document["openapi"].startswith("3.") and "/api/v1/vaults/{id}/backup-now/" in document["paths"]
    backup = document["paths"]["/api/v1/vaults/{id}/backup-now/"]["post"]
    assert {"202", "400", "401", "403", "404", "409"} <= set(backup["responses"])
    assert "application/problem+json" in backup["responses"]["409"]["content"]
    page = client_for(owner).get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    assert Client().get("/api/docs/").status_code == 302  # a page: sign in first


# --- On a real worker ----------------------------------------------------------------------------------


def test_protect_back_up_and_restore_through_the_api(worker, vault, owner, lab_path):
    api = api_for(owner)
    base = f"/api/v1/vaults/{vault.pk}/"

    def run(path, body=None):
        response = api.post(base + path, body)
        assert response.status_code == 202, response.content
        jobs = wait_for_jobs([Job(pk=job["id"]) for job in response.json()["jobs"]], timeout=60)
        assert all(job.status == JobStatus.COMPLETED for job in jobs), [(j.status, j.error_message) for j in jobs]
        return [api.get(job["url"]).json() for job in response.json()["jobs"]]

    run("discover/")
    vms = api.get(base + "protectable-vms/").json()["results"]
    web = next(vm for vm in vms if vm["name"] == "web01")
    run("register/", {"vms": [web["id"]]})
    item = api.get(base + "items/", name="web01").json()["results"][0]
    policy = api.get(base + "policies/").json()["results"][0]
    run("protect/", {"items": [item["id"]], "policy": policy["id"]})
    backup = run("backup-now/", {"items": [item["id"]]})[0]
    assert backup["progress"]["percent"] == 100 and [task["name"] for task in backup["subtasks"]][:2] == [
        "Take snapshot", "Transfer data to vault"]
    point = api.get(base + "recovery-points/", item=item["id"]).json()["results"][0]
    run("restore/", {"point": point["id"], "mode": "new_vm", "name": "web01-api", "cloud_service": "api-test"})
    run("discover/")  # the new VM, as its source now lists it
    found = [vm for vm in api.get(base + "protectable-vms/").json()["results"] if vm["name"] == "web01-api"]
    assert [vm["cloud_service"] for vm in found] == ["api-test"]
    copy, original = VirtualMachine.objects.get(pk=found[0]["id"]), VirtualMachine.objects.get(pk=web["id"])
    assert [disk_bytes(disk) for disk in copy.disks] == [disk_bytes(disk) for disk in original.disks]
    assert api.get(base + f"items/{item['id']}/").json()["protection_state"] == ProtectionState.PROTECTED
