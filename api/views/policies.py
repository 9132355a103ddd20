"""A vault's policies: list, create, change (for every VM it protects; a change that removes recovery
points asks first), delete an unused one, and preview what a policy keeps and what it costs. A body's
shape is checked by its serializer, its rules by the policy dialog's own form and the services, so
a rule means the same here as on the pages."""

from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from api import bodies
from api.problems import Conflict
from api.serializers import PolicySerializer
from api.views.base import ScopedView, form_invalid, refused
from api.views.reads import ListView
from audit import trail
from portal.access import Action
from vaults import preview, queries, services
from vaults.errors import NeedsConfirmation, Refused
from vaults.forms import PolicyForm
from vaults.models import Policy

# What a new policy takes from the dialog's defaults when the body leaves it out: its time zone, which
# backups the long-term rules keep, the hourly window (never a rule's span: that is the caller's choice).
DEFAULTED = ("time_zone", "weekly_days", "monthly_by", "monthly_week", "monthly_weekdays", "yearly_months",
             "yearly_by", "yearly_week", "yearly_weekdays", "hourly_window")


def _form(vault, body, instance=None):
    """The policy dialog's form, filled with the body over the policy's current values (a change) or
    the dialog's defaults (a new policy). A field the body sets to null is left empty: its rule is cleared."""
    if instance is not None:
        current = model_to_dict(instance, fields=PolicyForm.Meta.fields)
    else:
        current = {name: PolicyForm.NEW_POLICY_INITIAL[name] for name in DEFAULTED}
    data = {name: value for name, value in {**current, **body.policy_values()}.items() if value is not None}
    if isinstance(data.get("extra_times"), list):
        data["extra_times"] = ", ".join(data["extra_times"])  # as the dialog's text field holds them
    return PolicyForm(data, vault=vault, instance=instance)


def _valid_body(serializer_class, request):
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body


class PolicyList(ListView):
    on = "vault"
    rules = {"GET": Action.VIEW, "POST": Action.CHANGE}
    serializer_class = PolicySerializer
    queryset = Policy.objects.none()
    audit_action = "vaults:policy_create"

    def records(self):
        return queries.policy_usage(self.vault)

    @extend_schema(request=bodies.PolicyBody, responses={201: PolicySerializer})
    def post(self, request, pk):
        form = _form(self.vault, _valid_body(bodies.PolicyBody, request))
        if not form.is_valid():
            raise form_invalid(form)
        try:
            policy = services.create_policy(self.vault, **form.policy_fields())
        except Refused as refusal:
            raise refused(refusal) from None
        trail.note(request, target=policy.name, changes=trail.changes({}, form.policy_fields()))
        return Response(self.get_serializer(queries.policy_usage(self.vault).get(pk=policy.pk)).data, status=201)


class PolicyDetail(ScopedView):
    on = "vault"
    rules = {"GET": Action.VIEW, "PUT": Action.CHANGE, "DELETE": Action.CHANGE}
    serializer_class = PolicySerializer
    audit_actions = {"PUT": "vaults:policy_edit", "DELETE": "vaults:policy_delete"}

    def initial(self, request, *args, **kwargs):
        self.audit_action = self.audit_actions.get(request.method)
        super().initial(request, *args, **kwargs)

    def policy(self, policy_pk):
        return get_object_or_404(queries.policy_usage(self.vault), pk=policy_pk)

    def get(self, request, pk, policy_pk):
        return Response(self.get_serializer(self.policy(policy_pk)).data)

    @extend_schema(request=bodies.PolicyChangeBody, parameters=[OpenApiParameter(
        "confirm", bool, description="true: make a change that removes recovery points (otherwise a "
                                     "needs_confirmation problem says how many of which VMs).")])
    def put(self, request, pk, policy_pk):
        """Change the policy for every VM it protects. Fields left out keep their current values; null
        clears a rule."""
        policy = self.policy(policy_pk)
        trail.note(request, target=policy.name, record=False)
        form = _form(self.vault, _valid_body(bodies.PolicyChangeBody, request), instance=policy)
        before = {name: form.initial.get(name) for name in PolicyForm.Meta.fields}
        if not form.is_valid():
            raise form_invalid(form)
        try:
            services.update_policy(policy, confirmed=request.query_params.get("confirm") == "true",
                                   **form.policy_fields())
        except NeedsConfirmation as question:
            trail.not_a_command(request)  # a question, not a command: the confirmed request is one
            raise Conflict(str(question), code="needs_confirmation", removals=[
                {"vm": str(vm), "vm_id": vm.pk, "points": count} for vm, count in question.removals]) from None
        except Refused as refusal:
            raise refused(refusal) from None
        trail.note(request, changes=trail.changes(before, form.policy_fields()))
        return Response(self.get_serializer(self.policy(policy_pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, policy_pk):
        """Only a policy that protects no VM."""
        policy = self.policy(policy_pk)
        trail.note(request, target=policy.name, record=False)
        try:
            services.delete_policies(self.vault, [policy.pk])
        except Refused as refusal:
            raise refused(refusal) from None
        return Response(status=204)


class PolicyPreview(ScopedView):
    """What a policy keeps a week, a month, a year and ten years from a start day, the most points a VM
    keeps, and the storage they need: for an existing policy's VMs, for chosen items, or for a VM of the
    vault's average size. Changes nothing."""

    on = "vault"
    rules = {"POST": Action.VIEW}

    @extend_schema(request=bodies.PolicyPreviewBody, responses={200: bodies.PreviewSerializer})
    def post(self, request, pk):
        body = _valid_body(bodies.PolicyPreviewBody, request)
        instance = None
        if body.validated_data.get("policy"):
            instance = get_object_or_404(self.vault.policies, pk=body.validated_data["policy"])
        form = _form(self.vault, body, instance=instance)
        form.is_valid()
        if any(name != "name" for name in form.errors):
            raise form_invalid(form)
        vms = preview.vms_for(self.vault, instance, body.validated_data.get("items"))
        start = preview.start_date(body.validated_data.get("start"), timezone.localdate())
        shown = preview.preview(self.vault, form.instance, vms, start)
        estimate = shown["estimate"]
        return Response({
            "start": start,
            "horizons": [{"name": horizon.name, "at": horizon.at, "points": len(horizon.kept),
                          "oldest": horizon.kept[0] if horizon.kept else None} for horizon in shown["horizons"]],
            "most_points_kept": shown["steady"],
            "estimate": None if estimate is None else {
                "total_bytes": estimate.total_bytes, "measured": estimate.measured, "averaged": estimate.averaged,
                "from_disk_size": estimate.from_disk_size},
        })
