"""What every API route shares: the action each HTTP method needs (`rules`), the object its `pk` names
(`on`), loaded through the same `get_allowed` as the pages (404 outside the user's subscriptions, 403
for a role without the action), read-only tokens kept to reads, and the page action the audit log
records a command under."""

from django.core.exceptions import ValidationError
from rest_framework import exceptions, generics, pagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from api.problems import Conflict, ReadOnlyToken
from api.serializers import JobSerializer
from audit import trail
from portal.access import Action, get_allowed
from portal.filters import UtcDateTimeField
from vaults.models import Subscription, Vault

SCOPES = {
    "vault": lambda: Vault.objects.select_related("subscription"),
    "subscription": lambda: Subscription.objects.all(),
}


class PageNumbers(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NewestFirst(pagination.CursorPagination):
    """Jobs and audit entries, newest first: a cursor holds its place however many rows arrive meanwhile.
    A cursor is the client's to send back, so its position (a time) is checked before any query uses it."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = UtcDateTimeField().clean(cursor.position)
        except ValidationError:
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return cursor._replace(position=position.isoformat())


def newest_first(*ordering):
    return type("NewestFirst", (NewestFirst,), {"ordering": ordering})


class ScopedView(generics.GenericAPIView):
    rules = {"GET": Action.VIEW}  # HTTP method -> the action it needs
    on = None  # "vault" or "subscription": what the URL's `pk` names
    audit_action = None  # the page action a command is recorded under in the audit log
    pagination_class = PageNumbers

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication (401 without it)
        if self.audit_action:  # first: a refusal below is recorded under the page action too
            trail.note(request, action=self.audit_action, record=False)
        action = self.rules.get(request.method)
        if action is None:  # a method the route does not list may read, never change anything
            if request.method not in SAFE_METHODS:
                raise exceptions.MethodNotAllowed(request.method)
            action = self.rules.get("GET", Action.VIEW)
        if self.on is not None:
            self.scope = get_allowed(SCOPES[self.on](), request.user, kwargs["pk"], action, request._request)
        if getattr(request.auth, "read_only", False) and action != Action.VIEW:
            raise ReadOnlyToken("This token is read-only: it can read, never change anything.")

    @property
    def vault(self):
        return self.scope


def accepted(request, jobs):
    """202 Accepted with the jobs a command started (each with its URL, to poll); Location names the
    job when there is one. The audit log names what they are about."""
    trail.note(request, target=", ".join(job.entity_name for job in jobs))
    response = Response({"jobs": JobSerializer(jobs, many=True).data}, status=202)
    if len(jobs) == 1:
        response["Location"] = JobSerializer(jobs[0]).data["url"]
    return response


def form_invalid(form):
    """A Django form's errors (the pages' own rules) as a 400 problem with each field's messages."""
    return exceptions.ValidationError({name: [str(error) for error in errors] for name, errors in form.errors.items()})


def refused(refusal, **extra):
    """A vaults.errors.Refused as a 409 problem."""
    return Conflict(str(refusal), **extra)
