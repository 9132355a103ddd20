"""Every URL the portal has, walked with hostile values: never a 500, never a change in the database.

The routes come from the URL conf itself, so a new page cannot be left out of the walk."""

import json
import re

import pytest
from django.apps import apps
from django.urls import URLResolver, get_resolver

from tests.conftest import client_for
from tests.factories import UserFactory

HUGE = "9" * 40
# In a path: wrong types, huge, negative, zero, unicode digits (other vaults' ids are added).
PATH_VALUES = ["0", "-1", "1.5", "abc", "１", "²", "١", "9223372036854775808", HUGE]
# In a query or a form: those, and empty, long, markup, control and bidi characters, dates out of range.
HOSTILE = PATH_VALUES + [
    "", " 1", "x" * 5000, "<script>alert(1)</script>", "\u202e\u0085\u2028\x00", "../../etc/passwd",
    "0001-01", "9999-12-31", "2026-02-30", "[]", "null",
    # Offsets PostgreSQL refuses in a literal, and times that leave the calendar once read as UTC.
    "2026-12-01T10:00:00+19:42", "0001-01-01T00:30+01:00", "9999-12-31T23:59-05:00",
    "cD1nYXJiYWdl",  # an API cursor (base64 of "p=garbage")
]
# Every parameter a page or command reads, each sent with every hostile value.
PARAMETERS = [
    "selected", "point", "page", "month", "day", "policy", "mode", "name", "cloud_service", "step", "job", "confirm",
    "status", "operation", "start", "end", "policy_mode", "frequency", "weekdays", "time_of_day", "time_zone",
    "retain_daily", "retain_weekly", "retain_monthly", "retain_yearly", "region", "language", "next",
    "retain_until", "weekly_days", "monthly_by", "monthly_week", "monthly_weekdays", "monthly_days",
    "yearly_months", "yearly_by", "yearly_week", "yearly_weekdays", "yearly_days", "verify_weekday", "confirm_name",
    "cursor", "page_size", "item", "protection_state", "registration_state", "user", "action", "outcome", "export",
    "days", "read_only",
]
# Commands that take no input: with a valid vault they start their job whatever else is sent.
NO_INPUT = {"vaults:discover", "vaults:verify", "vaults:prune", "vaults:export_key", "set_language", "logout", "admin:logout",
            "api:discover", "api:verify", "api:prune",
            # A setting whose valid values include "0" (Monday); tests/test_verify_schedule.py walks it alone.
            "vaults:settings"}
ARGUMENT = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


def routes():
    """(route template, URL name) of every pattern, nested ones with their prefixes."""
    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else (
                    pattern.namespace or namespace)
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            else:
                yield prefix + str(pattern.pattern), f"{namespace}:{pattern.name}" if namespace else pattern.name

    return [(route.lstrip("^").rstrip("$").replace("^", "").replace("\\Z", ""), name)
            for route, name in walk(get_resolver().url_patterns, "", "")]


def fill(route, values):
    """The route with each argument replaced: values[name] or the first valid value."""
    return "/" + ARGUMENT.sub(lambda match: str(values[match["name"] or match["group"]]), route)


def database_state():
    """Every row of the portal's own tables (and users), as text: any change shows."""
    rows = []
    for app_label in ("vaults", "jobs", "auth"):
        for model in apps.get_app_config(app_label).get_models():
            values = [{key: value for key, value in row.items() if key != "last_login"}  # signing in again
                      for row in model.objects.order_by("pk").values()]
            rows.append(json.dumps(values, default=str, sort_keys=True))
    return rows


def valid_arguments(world, name):
    return dict(world["valid"])


def send(client, method, url, data):
    response = getattr(client, method)(url, data) if method == "get" else client.post(url, data, htmx=False)
    assert response.status_code < 500, f"{method.upper()} {url} {list(data)[:3]} -> {response.status_code}"


def unchanged(name, route, state, client, user):
    """After the requests to one route: the database as it was (the state to compare the next route with)."""
    if name in NO_INPUT:
        client.force_login(user)  # a walk through logout/ comes back signed in
        return database_state()
    assert database_state() == state, f"requests to {route} changed the database"
    return state


def test_hostile_path_values_never_give_500_or_change_anything(world, owner):
    client = client_for(owner)
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    staff_client = client_for(staff)
    state = database_state()
    for route, name in routes():
        arguments = [match["name"] or match["group"] for match in ARGUMENT.finditer(route)]
        user, walker = (staff, staff_client) if route.startswith("admin/") else (owner, client)
        for argument in arguments:
            values = PATH_VALUES + world["foreign"].get(argument, []) if not route.startswith("admin/") else [
                "0", "abc", HUGE, "１"]
            for value in values:
                url = fill(route, {**valid_arguments(world, name), argument: value})
                send(walker, "get", url, {})
                send(walker, "post", url, {})
        state = unchanged(name, route, state, walker, user)


def test_hostile_parameters_never_give_500_or_change_anything(world, owner):
    client = client_for(owner)
    state = database_state()
    for route, name in routes():
        if route.startswith(("admin/", "api/")):
            continue  # Django's own admin (its paths are walked above); the API (tests/test_api_fuzz.py)
        url = fill(route, valid_arguments(world, name))
        for value in HOSTILE:
            data = {parameter: value for parameter in PARAMETERS}
            send(client, "get", url, data)
            send(client, "post", url, data)
            send(client, "post", url, {**data, "selected": [world["item"].pk, world["item"].pk, value]})
            if name in NO_INPUT:
                state = unchanged(name, route, state, client, owner)
        state = unchanged(name, route, state, client, owner)


def test_ids_written_with_other_digits_are_refused_never_read_as_another_id(world, owner):
    client = client_for(owner)
    vault = world["valid"]["pk"]
    for digits in ("１", "²", "١"):
        response = client.post(f"/vaults/{vault}/backup/", {"selected": digits})
        assert response.status_code == 400 and "The selection is not valid" in response.content.decode()
    assert not world["item"].vm.jobs.exclude(pk=world["job"].pk).exists()


@pytest.mark.parametrize("query", ["month=0001-01", "month=9999-12", "day=0001-01-01", "day=9999-12-31",
                                   "day=2026-13-01", "month=２０２６-01"])
def test_out_of_range_calendar_dates_are_refused_with_a_message(world, owner, query):
    client = client_for(owner)
    response = client.get(f"/vaults/{world['valid']['pk']}/restore/?selected={world['item'].pk}&{query}")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Choose a date between" in page or "not a date of the calendar" in page
