"""The Policies tab, a new policy, and deleting unused ones."""


from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from audit import trail
from portal.access import Action
from portal.htmx import render_page, selected_ids, trigger
from vaults import preview, queries, services
from vaults.errors import NeedsConfirmation, Refused
from vaults.forms import PolicyForm
from vaults.views.base import BAD_SELECTION, command_response, vault_context, vault_view, whole_number


@vault_view(Action.VIEW)
@require_GET
@vary_on_headers("HX-Request")
def policies(request, vault):
    context = vault_context(request, vault, "policies", policies=queries.policy_usage(vault))
    return render_page(request, "vaults/policies.html", "vaults/partials/policies_table.html", context)


@vault_view(Action.CHANGE)
@require_http_methods(["GET", "POST"])
def policy_create(request, vault):
    form = PolicyForm(request.POST or None, vault=vault)
    if request.method == "POST" and form.is_valid():
        try:
            policy = services.create_policy(vault, **form.policy_fields())
        except Refused as refusal:
            form.add_error("name", str(refusal))
        else:
            trail.note(request, target=policy.name, changes=trail.changes({}, form.policy_fields()))
            if request.htmx:
                return trigger(HttpResponse(status=204), "vaultChanged", "closeModal")
            return redirect("vaults:policies", pk=vault.pk)
    if form.errors:
        trail.refused(request, trail.describe_errors(form.errors))
    return render_page(
        request, "vaults/policy_create.html", "vaults/partials/policy_dialog.html",
        {"vault": vault, "form": form}, status=400 if form.errors else 200,
    )


@vault_view(Action.CHANGE)
@require_http_methods(["GET", "POST"])
def policy_edit(request, vault):
    """Change a policy (the one selected) for every VM it protects; asks first when points would go."""
    ids = selected_ids(request)
    policy = vault.policies.filter(pk=ids[0]).first() if ids and len(ids) == 1 else None
    if policy is None:
        return command_response(request, vault, "policies", error=_("Select one policy to edit."),
                                status=400 if ids is None else None)
    form = PolicyForm(request.POST or None, vault=vault, instance=policy)
    removals = None
    before = {name: form.initial.get(name) for name in PolicyForm.Meta.fields}
    trail.note(request, target=policy.name, record=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_policy(policy, confirmed=request.POST.get("confirm") == "yes", **form.policy_fields())
        except NeedsConfirmation as question:
            form.add_error(None, str(question))
            removals = question.removals
            trail.not_a_command(request)  # the dialog asks first; the confirmed POST is the command
        except Refused as refusal:
            form.add_error(None, str(refusal))
        else:
            trail.note(request, changes=trail.changes(before, form.policy_fields()))
            if request.htmx:
                return trigger(HttpResponse(status=204), "vaultChanged", "closeModal")
            return redirect("vaults:policies", pk=vault.pk)
    if form.errors and removals is None:
        trail.refused(request, trail.describe_errors(form.errors))
    context = {"vault": vault, "form": form, "policy": policy, "removals": removals}
    return render_page(request, "vaults/policy_create.html", "vaults/partials/policy_dialog.html", context,
                       status=400 if form.errors else 200)


@vault_view(Action.CHANGE)
@require_POST
def policy_delete(request, vault):
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "policies", error=str(BAD_SELECTION), status=400)
    trail.note(request, target=", ".join(vault.policies.filter(pk__in=ids).values_list("name", flat=True)))
    try:
        services.delete_policies(vault, ids)
    except Refused as refusal:
        return command_response(request, vault, "policies", error=str(refusal))
    return command_response(request, vault, "policies")


@vault_view(Action.VIEW)
@require_GET
def policy_preview(request, vault):
    """What the rules being typed keep one week, one month, one year and ten years from a start date,
    and the storage they need: the policy dialog and the Protect wizard ask as the user types."""
    policy_pk = whole_number(request.GET.get("policy_pk"))
    instance = vault.policies.filter(pk=policy_pk).first() if policy_pk else None
    form = PolicyForm(request.GET, vault=vault, instance=instance)
    form.is_valid()
    problems = [error for name, errors in form.errors.items() if name != "name" for error in errors]
    start = preview.start_date(request.GET.get("start", ""), timezone.localdate())
    context = {"problems": problems, "start": start}
    if not problems:
        policy = form.instance
        item_ids = selected_ids(request) if request.GET.get("preview_for") == "items" else None
        vms = preview.vms_for(vault, instance, item_ids)
        context.update(vms=vms, **preview.preview(vault, policy, vms, start))
    return render(request, "vaults/partials/policy_preview.html", context)
