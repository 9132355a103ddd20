"""Who may do what: every route of the URL conf (pages and API) × Owner, Backup Contributor, Backup
Operator, Backup Reader, an outsider and anonymous. The routes come from the URL conf and each view's
own mark (`portal.access.requires`), so a new route cannot be left out, nor added without saying who
may use it. An API route says it for each HTTP method it takes."""

import pytest
from django.urls import resolve, reverse

from jobs.models import Job
from portal.access import Action, Role, allows
from tests.conftest import PortalClient, _member, client_for
from tests.test_hostile_requests import database_state, fill, routes
from vaults.models import Policy

# Routes with a rule of their own rather than a subscription role: signing in and out, the language,
# Django's admin (staff only: tests/test_admin.py), and a user's own API tokens (tests/test_api.py).
OWN_RULES = {"login", "logout", "set_language"}
OWN_RULE_PREFIXES = ("admin:", "tokens:")
IDENTITIES = [*Role.values, "outsider", "anonymous"]


def portal_routes(world):
    for route, name in routes():
        if name in OWN_RULES or name.startswith(OWN_RULE_PREFIXES):
            continue
        url = fill(route, world["valid"])
        view = resolve(url).func
        if getattr(view, "required_on", None) == "subscription":
            url = fill(route, {**world["valid"], "pk": world["subscription_pk"]})
        yield name, url, view


def api_routes(world):
    """The API's routes: each marked with {HTTP method: action}."""
    return [(name, url, view) for name, url, view in portal_routes(world) if isinstance(view.required_action, dict)]


def method_rules(view):
    """(method, action) of each method a route takes: an API route's own, a page's GET and POST."""
    if isinstance(view.required_action, dict):
        return list(view.required_action.items())
    return [("GET", view.required_action), ("POST", view.required_action)]


def identity_client(identity, request, subscription):
    if identity == "anonymous":
        return PortalClient(), None
    if identity == "outsider":
        # An Owner of another subscription: every role there, nothing here.
        return client_for(request.getfixturevalue("outsider")), Role.OWNER
    return client_for(_member(subscription, f"a-{identity}", identity)), identity


def test_every_route_says_who_may_use_it(world):
    def marked(view):
        rule = getattr(view, "required_action", None)
        rules = rule.values() if isinstance(rule, dict) else [rule]
        return bool(rules) and all(action in Action.values for action in rules)

    unmarked = [name for name, _url, view in portal_routes(world) if not marked(view)]
    assert not unmarked, f"routes without a role rule: {unmarked}"


# The rule of each route, in one place to read: what the roles allow. A route missing here, or
# marked otherwise in its view, fails the test below.
VIEW, OPERATE, CHANGE, MANAGE = Action.VIEW, Action.OPERATE, Action.CHANGE, Action.MANAGE
RULES = {
    "home": VIEW, "jobs:troubleshooting": VIEW, "preferences": VIEW,
    "vaults:list": VIEW, "vaults:create": CHANGE, "vaults:quick_start": VIEW, "vaults:dashboard": VIEW,
    "vaults:export_key": MANAGE, "vaults:settings": CHANGE, "vaults:delete": MANAGE,
    "vaults:registered_items": VIEW, "vaults:protected_items": VIEW, "vaults:item": VIEW,
    "vaults:discover": OPERATE, "vaults:register": OPERATE, "vaults:unregister": CHANGE,
    "vaults:stop_protection": CHANGE, "vaults:backup_now": OPERATE, "vaults:verify": CHANGE, "vaults:prune": CHANGE,
    "vaults:delete_backup_data": CHANGE, "vaults:undelete": CHANGE, "vaults:protect": OPERATE,
    "vaults:policy_retention": VIEW, "vaults:restore": OPERATE, "vaults:download_disk": OPERATE,
    "vaults:policies": VIEW, "vaults:policy_create": CHANGE, "vaults:policy_edit": CHANGE,
    "vaults:policy_delete": CHANGE, "vaults:policy_preview": VIEW,
    "vaults:jobs": VIEW, "vaults:job": VIEW, "vaults:archived_jobs": VIEW, "vaults:archived_job": VIEW,
    "vaults:job_cancel": OPERATE, "vaults:job_retry": OPERATE, "vaults:tray": VIEW,
    "subscriptions:list": VIEW, "subscriptions:members": VIEW, "subscriptions:member_add": MANAGE,
    "subscriptions:member_role": MANAGE, "subscriptions:member_remove": MANAGE,
    "vaults:audit": VIEW, "subscriptions:audit": VIEW,
    "api:schema": VIEW, "api:docs": VIEW,
    "api:subscriptions": {"GET": VIEW}, "api:subscription": {"GET": VIEW}, "api:sources": {"GET": VIEW},
    "api:subscription-audit": {"GET": VIEW}, "api:vaults": {"GET": VIEW, "POST": CHANGE}, "api:vault": {"GET": VIEW},
    "api:protectable-vms": {"GET": VIEW}, "api:items": {"GET": VIEW}, "api:item": {"GET": VIEW},
    "api:recovery-points": {"GET": VIEW}, "api:policies": {"GET": VIEW, "POST": CHANGE},
    "api:policy-preview": {"POST": VIEW}, "api:policy": {"GET": VIEW, "PUT": CHANGE, "DELETE": CHANGE},
    "api:jobs": {"GET": VIEW}, "api:job": {"GET": VIEW}, "api:job-cancel": {"POST": OPERATE},
    "api:vault-audit": {"GET": VIEW}, "api:discover": {"POST": OPERATE}, "api:register": {"POST": OPERATE},
    "api:unregister": {"POST": CHANGE}, "api:protect": {"POST": OPERATE}, "api:backup-now": {"POST": OPERATE},
    "api:restore": {"POST": OPERATE}, "api:stop-protection": {"POST": CHANGE},
    "api:delete-backup-data": {"POST": CHANGE}, "api:undelete": {"POST": CHANGE}, "api:verify": {"POST": CHANGE},
    "api:prune": {"POST": CHANGE},
}


def test_each_route_keeps_the_rule_of_its_role(world):
    marked = {name: view.required_action for name, _url, view in portal_routes(world)}
    assert marked == RULES


def send(client, method, url, is_api):
    """An empty request of `method`: a form to a page, JSON to the API."""
    if method == "GET":
        return client.get(url)
    if not is_api:
        return client.post(url, {})
    return getattr(client, method.lower())(url, "{}", content_type="application/json")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_each_role_on_each_route(world, request, subscription, identity):
    client, role = identity_client(identity, request, subscription)
    before = database_state()
    for name, url, view in portal_routes(world):
        on, is_api = view.required_on, name.startswith("api:") and name != "api:docs"
        for method, action in method_rules(view):
            response = send(client, method, url, is_api)
            where = f"{identity} {method} {url} ({name}, needs {action})"
            if identity == "anonymous" and is_api:
                assert response.status_code == 401 and response["Content-Type"] == "application/problem+json", where
            elif identity == "anonymous":
                assert response.status_code == 302 and response.url.startswith("/login/"), where
            elif identity == "outsider" and on is not None:
                assert response.status_code == 404, where
            elif not allows(role, action):
                assert response.status_code == 403, where
            else:
                assert response.status_code not in (403, 404), f"{where}: {response.status_code}"
                before = database_state()  # an allowed command may change things
                continue
            assert database_state() == before, f"{where} changed the database"


@pytest.mark.parametrize("role, shown, hidden", [
    (Role.OWNER, ["backup_now", "restore", "stop_protection", "delete_backup_data", "protect"], []),
    (Role.CONTRIBUTOR, ["backup_now", "restore", "stop_protection", "delete_backup_data", "protect"], []),
    (Role.OPERATOR, ["backup_now", "restore", "protect"], ["stop_protection", "delete_backup_data", "undelete"]),
    (Role.READER, [], ["backup_now", "restore", "protect", "stop_protection", "delete_backup_data", "undelete"]),
])
def test_the_command_bar_shows_what_the_role_allows(world, subscription, role, shown, hidden):
    client = client_for(_member(subscription, f"a-{role}", role))
    vault = world["valid"]["pk"]
    page = client.get(f"/vaults/{vault}/protected/").content.decode()
    for command in shown:
        assert reverse(f"vaults:{command}", args=[vault]) in page, command
    for command in hidden:
        assert reverse(f"vaults:{command}", args=[vault]) not in page, command


@pytest.mark.parametrize("role, sees_delete, sees_key", [
    (Role.OWNER, True, True), (Role.CONTRIBUTOR, False, False), (Role.OPERATOR, False, False), (Role.READER, False, False)])
def test_only_an_owner_sees_delete_vault_and_export_key(world, subscription, role, sees_delete, sees_key):
    client = client_for(_member(subscription, f"a-{role}", role))
    vault = world["valid"]["pk"]
    page = client.get(f"/vaults/{vault}/").content.decode()
    assert (f"/vaults/{vault}/delete/" in page) == sees_delete
    assert (f"/vaults/{vault}/key/" in page) == sees_key


def test_an_operator_protects_with_an_existing_policy_but_creates_none(world, subscription, vault):
    client = client_for(_member(subscription, "an-operator", Role.OPERATOR))
    item = world["item"]
    item.protection_state, item.policy = "not_protected", None
    item.save()
    wizard = client.get(f"/vaults/{vault.pk}/protect/?selected={item.pk}").content.decode()
    step2 = client.post(f"/vaults/{vault.pk}/protect/", {"step": "1", "selected": [item.pk]}).content.decode()
    assert 'value="new"' not in step2 and "existing policies" in step2, wizard
    before = database_state()
    refused = client.post(f"/vaults/{vault.pk}/protect/", {
        "step": "3", "policy_mode": "new", "selected": [item.pk], "name": "Mine", "frequency": "daily",
        "time_of_day": "22:00", "time_zone": "UTC", "retain_daily": "7"})
    assert refused.status_code == 403
    assert database_state() == before and not Policy.objects.filter(name="Mine").exists()
    jobs = Job.objects.count()
    started = client.post(f"/vaults/{vault.pk}/protect/", {
        "step": "2", "policy_mode": "existing", "policy": vault.policies.get().pk, "selected": [item.pk]})
    assert started.status_code == 200
    assert Job.objects.count() == jobs + 1
