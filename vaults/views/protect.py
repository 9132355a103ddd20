"""The Protect wizard: 1 choose VMs, 2 choose a policy or define a schedule, 3 a new policy's retention."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit import trail
from portal.access import Action, allows
from portal.htmx import render_page, selected_ids
from vaults import queries
from vaults.errors import Refused
from vaults.forms import PolicyForm
from vaults.models import Policy
from vaults.operations.protection import start_protection
from vaults.views.base import BAD_SELECTION, command_response, vault_view, whole_number


@vault_view(Action.OPERATE)
@require_http_methods(["GET", "POST"])
def protect(request, vault):
    chosen = selected_ids(request)
    if chosen is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    if request.method == "GET":
        return _wizard(request, vault, "1", chosen)
    step = request.POST.get("step", "1")
    mode = request.POST.get("policy_mode", "existing")
    back = request.POST.get("back")
    if back == "1":  # Back: the step before, with what was chosen kept
        return _wizard(request, vault, "1", chosen)
    if back == "2":
        return _wizard(request, vault, "2", chosen, PolicyForm(request.POST, vault=vault) if mode == "new" else None,
                       mode)
    if mode == "new" and not allows(vault.role, Action.CHANGE):
        raise PermissionDenied(_("Your role in this subscription does not allow creating policies."))
    form = PolicyForm(request.POST if mode == "new" else None, vault=vault)
    if not chosen:
        return _wizard(request, vault, "1", chosen, error=_("Select at least one VM."), status=400)
    if step == "1":
        return _wizard(request, vault, "2", chosen, policy_mode=mode)
    if mode == "new":
        if not form.schedule_is_valid():
            return _wizard(request, vault, "2", chosen, form, mode, status=400)
        schedule = form.schedule()
        if step == "2":
            # Arriving at the retention step: suggest a retention that fits the schedule, flag nothing yet.
            return _wizard(request, vault, "3", chosen, PolicyForm(vault=vault, initial=form.suggested_retention()),
                           mode, schedule=schedule)
        if not form.is_valid():
            return _wizard(request, vault, "3", chosen, form, mode, schedule=schedule, status=400)
        choice = {"new_policy": form.policy_fields()}
    else:
        policy = vault.policies.filter(pk=whole_number(request.POST.get("policy"))).first()
        if policy is None:
            return _wizard(request, vault, "2", chosen, form, mode, error=_("Choose a policy."), status=400)
        choice = {"policy": policy}
    try:
        jobs = start_protection(vault, chosen, request.user, **choice)
    except Refused as refusal:
        return command_response(request, vault, "protected_items", error=str(refusal))
    if mode == "new":  # the wizard made a policy too: what it holds is on record with the protection
        fields = choice["new_policy"]
        trail.note(request, changes=trail.changes({}, {"new policy": fields["name"], **{
            name: value for name, value in fields.items() if name != "name"}}))
    return command_response(request, vault, "protected_items", jobs=jobs)


def _wizard(request, vault, step, chosen, form=None, policy_mode="existing", schedule=None, error=None, status=200):
    # A page of the wizard is not a command; input it refuses is (the audit log says why).
    if status == 200:
        trail.not_a_command(request)
    elif request.method == "POST":
        trail.refused(request, error or trail.describe_errors(form.errors if form else {}))
    context = {
        "vault": vault,
        "step": step,
        "candidates": queries.protectable_items(vault),
        "policies": vault.policies.all(),
        "chosen": chosen,
        "form": form or PolicyForm(vault=vault),
        "policy_mode": policy_mode,
        "schedule": schedule,
        "error": error,
    }
    return render_page(request, "vaults/protect.html", "vaults/partials/protect_wizard.html", context, status)


@vault_view(Action.VIEW)
@require_GET
def policy_retention(request, vault):
    """The read-only retention of an existing policy, shown when the wizard picks it."""
    policy = Policy.objects.filter(vault=vault, pk=whole_number(request.GET.get("policy"))).first()
    return render(request, "vaults/partials/policy_summary.html", {"policy": policy})
