"""Errors as RFC 9457 problem details (`application/problem+json`): a status, a title, what went wrong
(`detail`), a `code` a script can test, and the fields' own messages (`errors`) for invalid input.
The audit log learns why a command was refused."""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from audit import trail

PROBLEM_JSON = "application/problem+json"

CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
    exceptions.Throttled: "throttled",
}


class Conflict(exceptions.APIException):
    """The state of things refuses the command (a vaults.errors.Refused)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "refused"

    def __init__(self, detail, code="refused", **extra):
        super().__init__(detail, code)
        self.problem_code = code
        self.extra = extra


class ReadOnlyToken(exceptions.PermissionDenied):
    problem_code = "read_only_token"


def problem_body(status_code, detail, code, **extra):
    return {"type": "about:blank", "title": HTTPStatus(status_code).phrase, "status": status_code,
            "detail": str(detail), "code": code, **extra}


def exception_handler(exc, context):
    # As DRF's own handler does, but first, so the code and detail come from the API's exception.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's 500 (problem_500 below for /api/)
    code = getattr(exc, "problem_code", None) or next(
        (name for kind, name in CODES.items() if isinstance(exc, kind)), "error")
    extra = dict(getattr(exc, "extra", {}))
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail = trail.describe_errors(errors) or _("The request is not valid.")
        extra["errors"] = errors
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    request = context.get("request")
    if request is not None:
        if response.status_code == status.HTTP_403_FORBIDDEN:
            request._request.audit_refusal = str(detail)
        elif response.status_code >= 400:
            trail.refused(request, detail)
    body = problem_body(response.status_code, detail, code, **extra)
    return Response(body, status=response.status_code, headers=_kept_headers(response), content_type=PROBLEM_JSON)


def _kept_headers(response):
    return {name: value for name, value in response.items() if name in ("WWW-Authenticate", "Allow", "Retry-After")}


# Django's own error pages (a URL no route matches, a crash): problems under /api/, pages elsewhere.
def _django_problem(request, status_code, code, detail, page, *args):
    if not request.path.startswith("/api/"):
        return page(request, *args)
    response = JsonResponse(problem_body(status_code, detail, code), status=status_code)
    response["Content-Type"] = PROBLEM_JSON
    return response


def handler400(request, exception):
    return _django_problem(request, 400, "bad_request", _("The request is not valid."), defaults.bad_request,
                           exception)


def handler403(request, exception):
    return _django_problem(request, 403, "permission_denied", str(exception) or _("You are not allowed to do this."),
                           defaults.permission_denied, exception)


def handler404(request, exception):
    return _django_problem(request, 404, "not_found", _("Nothing is at this address."), defaults.page_not_found,
                           exception)


def handler500(request):
    return _django_problem(request, 500, "server_error", _("The server failed; the error was logged."),
                           defaults.server_error)
