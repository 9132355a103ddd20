"""The API fuzzed from its own OpenAPI document (schemathesis), through the WSGI app inside the test's
transaction: as an Owner (with the coverage phase: every boundary and wrong type the document allows
naming) and as a Reader. Every answer must be no 500, a status, content type and body the document
declares; a Reader's requests must leave the database exactly as it was."""

import contextlib
import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.renderers import JSONRenderer
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import tokens
from portal.access import Role
from tests.conftest import _member
from tests.test_hostile_requests import database_state

pytestmark = pytest.mark.same_on_every_database

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@contextlib.contextmanager
def connection_kept():
    """Django's WSGI handler closes the database connection after each request; here the connection
    holds the test's transaction, so it stays (as Django's own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load(examples, coverage):
    document = json.loads(JSONRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    config = SchemathesisConfig.from_dict({
        "seed": 20261207,  # the same cases on every run: a failure can be run again
        "generation": {"max-examples": examples, "database": "none"},
        "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.app = WSGIHandler()
    return schema


@pytest.fixture(autouse=True)
def kept_connection():
    with connection_kept():
        yield


def aim(case, world):
    """Point a case at the world's rows (a random id is nearly always a 404): the subscription or vault
    always, an item, job or policy most of the time. Ids the case made not whole numbers stay as made."""
    parameters = case.path_parameters or {}
    if isinstance(parameters.get("id"), int):
        subscription = case.path.startswith("/api/v1/subscriptions/")
        parameters["id"] = world["subscription_pk"] if subscription else world["valid"]["pk"]
    for name in ("item_pk", "job_pk", "policy_pk"):
        if isinstance(parameters.get(name), int) and parameters[name] % 4:
            parameters[name] = world["valid"][name]


def bearer(user):
    _row, token = tokens.issue(user, "fuzz", 30)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_owner(owner):
    return bearer(owner)


@pytest.fixture
def as_reader(subscription):
    return bearer(_member(subscription, "fuzz-reader", Role.READER))


# The document needs no database: it is built as the module loads, and each operation is a test.
owner_api = load(examples=8, coverage=True)
reader_api = load(examples=6, coverage=False)


# The fixtures (the world, a token) are made once per operation and shared by its examples, on purpose.
shared_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@owner_api.parametrize()
@shared_fixtures
def test_an_owner_never_meets_a_server_error_or_an_answer_the_document_does_not_declare(case, world, as_owner):
    aim(case, world)
    case.call_and_validate(headers=as_owner, checks=CHECKS)


@reader_api.parametrize()
@shared_fixtures
def test_a_reader_changes_nothing(case, world, as_reader):
    aim(case, world)
    before = database_state()
    case.call_and_validate(headers=as_reader, checks=CHECKS)
    assert database_state() == before, f"{case.method} {case.formatted_path} changed the database"
