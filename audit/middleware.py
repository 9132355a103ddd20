"""Writes one audit entry per recorded request, once its response is known:
- every request that changes something: an unsafe method on a route whose rule needs more than *view*;
- every 403, whatever produced it (a role, CSRF, a read-only token); an anonymous one once a minute
  per address, so nobody can fill the log from outside;
- a request a view asked to record (`trail.note`), such as a disk's download.
A wizard's intermediate step or a question asking to confirm says it is not a command (`trail.not_a_command`).
What staff change in Django's admin is recorded from the admin's own log (admin_log.py), one entry per
object, only when it was done."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit import admin_log, trail
from audit.models import Outcome
from audit.record import write
from audit.signals import repeated
from portal.access import Action, rule_for

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# Sign-in and sign-out are recorded from Django's signals.
NOT_COMMANDS = {"login", "logout", "admin:login", "admin:logout", "set_language"}


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        staff_change = request.method not in SAFE_METHODS and request.user.is_staff
        admin_log_before = admin_log.last_logged() if staff_change else None
        response = self.get_response(request)
        if staff_change and request.resolver_match and request.resolver_match.view_name.startswith("admin:"):
            admin_log.record_since(request, admin_log_before)
        note = trail.noted(request)
        if self._records(request, response, note):
            write(request, action=self._action(request, note), outcome=self._outcome(response, note),
                  status_code=response.status_code, target=note.get("target", ""),
                  message=self._message(request, response, note), changes=note.get("changes"),
                  scope=note.get("scope") or getattr(request, "scoped_object", None))
        return response

    def process_exception(self, request, exception):
        """Keep the reason a view was refused (PermissionDenied, Http404) for the entry."""
        if isinstance(exception, (PermissionDenied, Http404)):
            request.audit_refusal = str(exception)

    @staticmethod
    def _records(request, response, note):
        if response.status_code == 403:
            return request.user.is_authenticated or not repeated(request, "")
        if note.get("skip") or not request.user.is_authenticated:  # sign-in failures come from signals
            return False
        if note.get("record"):
            return True
        match = request.resolver_match
        if request.method in SAFE_METHODS or match is None or match.view_name in NOT_COMMANDS:
            return False
        if match.view_name.startswith("admin:"):
            return False  # admin_log: one entry per object, once it is done
        action = rule_for(match.func, request.method)
        return action is not None and action != Action.VIEW

    @staticmethod
    def _action(request, note):
        if note.get("action"):
            return note["action"]
        match = request.resolver_match
        return match.view_name if match is not None else "request"

    @staticmethod
    def _outcome(response, note):
        if response.status_code == 403:
            return Outcome.DENIED
        if note.get("outcome"):
            return note["outcome"]
        if response.status_code >= 500:
            return Outcome.FAILED
        if response.status_code >= 400:
            return Outcome.REFUSED
        return Outcome.SUCCEEDED

    @staticmethod
    def _message(request, response, note):
        if note.get("message"):
            return note["message"]
        refusal = getattr(request, "audit_refusal", "")
        if refusal:
            return refusal
        if response.status_code >= 400:
            return response.reason_phrase
        return ""
