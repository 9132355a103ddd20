"""The commands that start jobs, as the command bar's buttons do: each checks its body's shape, calls
the same `start_…` operation the page calls, and answers 202 Accepted with the jobs (or a 409 problem
with the operation's refusal). Each is recorded in the audit log under the page action it matches."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions

from api import bodies
from api.problems import Conflict
from api.views.base import ScopedView, accepted, refused
from audit import trail
from jobs.models import Job
from portal.access import Action
from vaults.errors import NeedsConfirmation, Refused
from vaults.operations.backup import check_retain_until, start_backup
from vaults.operations.delete_data import start_delete_backup_data, start_undelete
from vaults.operations.discovery import start_discovery
from vaults.operations.protection import start_protection, start_stop_protection
from vaults.operations.prune import start_prune
from vaults.operations.registration import start_registration, start_unregister
from vaults.operations.restore import start_restore
from vaults.operations.verify import start_verify


class Command(ScopedView):
    """POST a body of `body`'s shape; `start(body)` returns the jobs it started or raises Refused."""

    on = "vault"
    rules = {"POST": Action.OPERATE}
    body = None
    serializer_class = bodies.AcceptedSerializer

    def post(self, request, pk, **kwargs):
        data = {}
        if self.body is not None:
            serializer = self.body(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        try:
            jobs = self.start(data, **kwargs)
        except NeedsConfirmation as question:
            trail.not_a_command(request)  # a question; the confirmed request is the command
            raise Conflict(str(question), code="needs_confirmation") from None
        except Refused as refusal:
            raise refused(refusal) from None
        return accepted(request, jobs)


def command(body=None):
    """Marks a command with the body it takes (and the OpenAPI document with it)."""
    def decorate(view):
        view.body = body
        return extend_schema_view(post=extend_schema(request=body, responses={202: bodies.AcceptedSerializer}))(view)

    return decorate


@command()
class Discover(Command):
    audit_action = "vaults:discover"

    def start(self, data):
        return [start_discovery(self.vault, self.request.user)]


@command(bodies.RegisterBody)
class Register(Command):
    audit_action = "vaults:register"

    def start(self, data):
        return start_registration(self.vault, data["vms"], self.request.user)


@command(bodies.ItemsBody)
class Unregister(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:unregister"

    def start(self, data):
        return start_unregister(self.vault, data["items"], self.request.user)


@command(bodies.ProtectBody)
class Protect(Command):
    """Protect with an existing policy of the vault (a new policy is made with POST …/policies/ first)."""

    audit_action = "vaults:protect"

    def start(self, data):
        policy = self.vault.policies.filter(pk=data["policy"]).first()
        if policy is None:
            raise exceptions.ValidationError({"policy": [_("Choose a policy of this vault.")]})
        return start_protection(self.vault, data["items"], self.request.user, policy=policy)


@command(bodies.BackupNowBody)
class BackupNow(Command):
    audit_action = "vaults:backup_now"

    def start(self, data):
        retain_until = data.get("retain_until")
        if retain_until is not None:
            try:
                check_retain_until(retain_until)
            except Refused as refusal:
                raise exceptions.ValidationError({"retain_until": [str(refusal)]}) from None
        return start_backup(self.vault, data["items"], self.request.user, retain_until=retain_until)


@command(bodies.RestoreBody)
class Restore(Command):
    """As a new VM, or over the existing VM's disks (with `confirm`: otherwise a needs_confirmation
    problem names the VM and the point)."""

    audit_action = "vaults:restore"

    def start(self, data):
        point = self.vault.recovery_points.select_related("vm").filter(pk=data["point"]).first()
        if point is None:
            raise exceptions.ValidationError({"point": [_("Choose a recovery point of this vault.")]})
        trail.note(self.request, target=str(point.vm), record=False)
        return [start_restore(self.vault, point, self.request.user, mode=data["mode"], name=data["name"].strip(),
                              cloud_service=data["cloud_service"].strip(), confirmed=data["confirm"])]


@command(bodies.StopProtectionBody)
class StopProtection(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:stop_protection"

    def start(self, data):
        return start_stop_protection(self.vault, data["items"], self.request.user, delete_data=data["delete_data"],
                                     typed_name=data["confirm_name"], reason=data["reason"])


@command(bodies.DeleteDataBody)
class DeleteBackupData(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:delete_backup_data"

    def start(self, data):
        return start_delete_backup_data(self.vault, data["items"], self.request.user, typed_name=data["confirm_name"],
                                        reason=data["reason"])


@command(bodies.ItemsBody)
class Undelete(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:undelete"

    def start(self, data):
        return start_undelete(self.vault, data["items"], self.request.user)


@command()
class Verify(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:verify"

    def start(self, data):
        return [start_verify(self.vault, self.request.user)]


@command()
class Prune(Command):
    rules = {"POST": Action.CHANGE}
    audit_action = "vaults:prune"

    def start(self, data):
        return [start_prune(self.vault, self.request.user)]


@command()
class CancelJob(Command):
    """A queued job ends Cancelled at once; a running one becomes Cancelling and stops at its next step."""

    audit_action = "vaults:job_cancel"

    def start(self, data, job_pk):
        job = get_object_or_404(Job.objects.filter(vault=self.vault), pk=job_pk)
        trail.note(self.request, target=str(job), record=False)
        if job.cancel() is None:
            raise Refused(_("The job had already ended."))
        return [job]
