"""Vault pages: each view parses the request, calls one service, and renders."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from jobs.models import Job
from jobs.tray import tray_context
from portal.htmx import parse_ids, render_page, selected_ids, trigger, wants_partial
from vaults import backups, services
from vaults.choices import PROTECTED_ITEM_STATES, ROLES_FOR_ACTION
from vaults.forms import PolicyForm, VaultForm
from vaults.keys import KeyUnavailable
from vaults.models import Membership, Policy, Vault

ITEMS_PER_PAGE = 50


def get_vault(request, pk, action="view"):
    """The vault, if the user's subscriptions hold it (else 404) and their role allows `action` (else 403)."""
    def may(action):
        return Exists(Membership.objects.filter(subscription=OuterRef("subscription"), user=request.user,
                                                role__in=ROLES_FOR_ACTION[action]))

    vault = get_object_or_404(
        Vault.objects.restrict(request.user).select_related("subscription").annotate(
            can_change=may("change"), can_manage=may("manage")),
        pk=pk,
    )
    if (action == "change" and not vault.can_change) or (action == "manage" and not vault.can_manage):
        raise PermissionDenied(_("Your role in this subscription does not allow this."))
    return vault


def vault_context(request, vault, tab, **extra):
    """What every vault tab shows around its table: the header, the tabs, and the tray."""
    return {
        "vault": vault,
        "tab": tab,
        **tray_context(vault, Job.objects.filter(vault=vault).active().order_by("created_at")),
        "can_change": vault.can_change,
        **extra,
    }


BAD_SELECTION = _lazy("The selection is not valid: choose the rows again.")


def command_response(request, vault, tab, *, jobs=(), error=None, status=None):
    """Answer a command: the notification tray (HTMX) or a redirect back to the tab (plain POST).
    A refusal is a 409 (the state does not allow it), input the page never sends a 400."""
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        return redirect(f"vaults:{tab}", pk=vault.pk)
    status = status or (409 if error else 200)
    response = render(request, "jobs/partials/tray.html", tray_context(vault, jobs, error), status=status)
    response.headers["HX-Retarget"] = "#tray"
    response.headers["HX-Reswap"] = "innerHTML"
    return trigger(response, "vaultChanged", "closeModal")


# --- The vault list and a new vault -------------------------------------------------------


@require_GET
def vault_list(request):
    vaults = (
        Vault.objects.restrict(request.user)
        .select_related("subscription")
        .annotate(item_count=Count("items", distinct=True))
    )
    return render(request, "vaults/list.html", {"vaults": vaults})


@require_http_methods(["GET", "POST"])
def vault_create(request):
    form = VaultForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            vault = services.create_vault(user=request.user, **form.cleaned_data)
        except services.Refused as refusal:
            form.add_error("name", str(refusal))
        else:
            url = reverse("vaults:quick_start", args=[vault.pk])
            if request.htmx:
                response = HttpResponse(status=204)
                response.headers["HX-Redirect"] = url
                return response
            return redirect(url)
    status = 400 if form.errors else 200
    return render_page(request, "vaults/create.html", "vaults/partials/create_dialog.html", {"form": form}, status)


# --- Tabs ---------------------------------------------------------------------------------


@require_GET
def quick_start(request, pk):
    vault = get_vault(request, pk)
    context = vault_context(request, vault, "quick_start", last_export=vault.key_exports.select_related("user").first())
    return render(request, "vaults/quick_start.html", context)


@require_POST
def export_key(request, pk):
    """An Owner downloads the vault's key (recorded): with it and the storage, the backups can be read
    without the portal, and without it by nobody."""
    vault = get_vault(request, pk, "manage")
    try:
        text = services.export_vault_key(vault, request.user, request.META.get("REMOTE_ADDR"))
    except KeyUnavailable as error:
        messages.error(request, _("The vault's key cannot be exported: %(error)s") % {"error": error})
        return redirect("vaults:quick_start", pk=vault.pk)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="vaultline-{slugify(vault.name) or "vault"}-{vault.uuid}.key"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@vary_on_headers("HX-Request")
def dashboard(request, pk):
    vault = get_vault(request, pk)
    since = timezone.now() - timezone.timedelta(hours=24)
    context = vault_context(
        request, vault, "dashboard", **services.dashboard_counts(vault, since),
        # The Jobs tab's filter reads a local date-time, as its form field shows it.
        since_param=timezone.localtime(since).strftime("%Y-%m-%dT%H:%M"),
    )
    return render_page(request, "vaults/dashboard.html", "vaults/partials/dashboard_tiles.html", context)


@require_GET
@vary_on_headers("HX-Request")
def registered_items(request, pk):
    vault = get_vault(request, pk)
    return _items_tab(request, vault, "registered_items", vault.items.select_related("vm"), "registered_table")


@require_GET
@vary_on_headers("HX-Request")
def protected_items(request, pk):
    vault = get_vault(request, pk)
    items = backups.with_recovery_points(
        vault.items.filter(protection_state__in=PROTECTED_ITEM_STATES).select_related("vm", "policy")
    )
    return _items_tab(request, vault, "protected_items", items, "protected_table")


def _items_tab(request, vault, tab, items, table):
    """A page of items; the table polls while any item is between two states."""
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    context = vault_context(
        request, vault, tab, page=page, settling=any(item.is_settling for item in page),
        # A refresh of the table (polling, or after a job) keeps the rows the user ticked.
        selected=set(selected_ids(request) or []),
    )
    return render_page(request, f"vaults/{tab}.html", f"vaults/partials/{table}.html", context)


@require_GET
@vary_on_headers("HX-Request")
def policies(request, pk):
    vault = get_vault(request, pk)
    context = vault_context(request, vault, "policies", policies=services.policy_usage(vault))
    return render_page(request, "vaults/policies.html", "vaults/partials/policies_table.html", context)


# --- Commands -----------------------------------------------------------------------------


@require_POST
def discover(request, pk):
    vault = get_vault(request, pk, "change")
    try:
        job = services.start_discovery(vault, request.user)
    except services.Refused as refusal:
        return command_response(request, vault, "registered_items", error=str(refusal))
    return command_response(request, vault, "registered_items", jobs=[job])


@require_http_methods(["GET", "POST"])
def register(request, pk):
    if request.method == "POST":
        return _item_command(request, pk, services.start_registration, "registered_items")
    vault = get_vault(request, pk, "change")
    candidates = services.registrable_vms(vault).select_related("source")
    return render_page(
        request, "vaults/register.html", "vaults/partials/register_dialog.html",
        {"vault": vault, "candidates": candidates},
    )


def _item_command(request, pk, start, tab):
    vault = get_vault(request, pk, "change")
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, tab, error=str(BAD_SELECTION), status=400)
    try:
        jobs = start(vault, ids, request.user)
    except services.Refused as refusal:
        return command_response(request, vault, tab, error=str(refusal))
    return command_response(request, vault, tab, jobs=jobs)


@require_POST
def unregister(request, pk):
    return _item_command(request, pk, services.start_unregister, "registered_items")


@require_POST
def stop_protection(request, pk):
    return _item_command(request, pk, services.start_stop_protection, "protected_items")


@require_POST
def verify(request, pk):
    vault = get_vault(request, pk, "change")
    return command_response(request, vault, "dashboard", jobs=[backups.start_verify(vault, request.user)])


@require_POST
def delete_backup_data(request, pk):
    return _item_command(request, pk, backups.start_delete_backup_data, "protected_items")


@require_POST
def backup_now(request, pk):
    return _item_command(request, pk, backups.start_backup, "protected_items")


@require_GET
@vary_on_headers("HX-Request")
def item_detail(request, pk, item_pk):
    """One protected item: its state and its recovery points."""
    vault = get_vault(request, pk)
    item = get_object_or_404(backups.with_recovery_points(vault.items.select_related("vm", "policy")), pk=item_pk)
    page = Paginator(vault.recovery_points.filter(vm=item.vm), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    context = vault_context(request, vault, "protected_items", item=item, page=page)
    return render_page(request, "vaults/item.html", "vaults/partials/recovery_points.html", context)


@require_http_methods(["GET", "POST"])
def restore(request, pk):
    """The Restore wizard: 1 a recovery point (newest, or a day on the calendar), 2 where to restore it."""
    vault = get_vault(request, pk, "change")
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    item = vault.items.select_related("vm").filter(pk=ids[0] if len(ids) == 1 else None).first()
    if item is None:
        return command_response(request, vault, "protected_items", error=_("Select one protected VM to restore."))
    points = vault.recovery_points.filter(vm=item.vm)
    step = request.POST.get("step") if request.method == "POST" else None
    if step in ("2", "3"):
        point = points.filter(pk=_whole_number(request.POST.get("point"))).first()
        mode = request.POST.get("mode", "")
        if step == "2" and point is not None and mode == backups.RESTORE_REPLACE:
            # Overwriting a VM's disks is never one click: say which VM and which point, and ask.
            return _restore_wizard(request, vault, item, points, "3", point)
        try:
            if point is None:
                raise services.Refused(_("Choose a recovery point."))
            job = backups.start_restore(
                vault, point, request.user, mode=mode,
                name=request.POST.get("name", "").strip(), cloud_service=request.POST.get("cloud_service", "").strip(),
                confirmed=step == "3" and request.POST.get("confirm") == "yes",
            )
        except services.Refused as refusal:
            return _restore_wizard(request, vault, item, points, step, point, error=str(refusal), status=400)
        return command_response(request, vault, "protected_items", jobs=[job])
    if step is not None:
        point = points.filter(pk=_whole_number(request.POST.get("point"))).first()
        if point is None:
            return _restore_wizard(request, vault, item, points, "1", None, error=_("Choose a recovery point."), status=400)
        return _restore_wizard(request, vault, item, points, "2", point)
    return _restore_wizard(request, vault, item, points, "1", None)


def _restore_wizard(request, vault, item, points, step, point, error=None, status=200):
    try:
        calendar = backups.RecoveryCalendar(points, request.GET.get("month"), request.GET.get("day"))
    except backups.BadDate as refusal:
        calendar, error, status = backups.RecoveryCalendar(points), str(refusal), 400
    context = {
        "vault": vault, "item": item, "step": step, "point": point, "error": error, "calendar": calendar,
        "suggested_name": f"{item.vm.name}-restored"[:64] if backups.VM_NAME.fullmatch(item.vm.name) else "restored-vm",
        "form": request.POST,
    }
    return render_page(request, "vaults/restore.html", "vaults/partials/restore_wizard.html", context, status)


@require_GET
def download_disk(request, pk, point_pk, disk_index):
    """A disk of a recovery point as a raw image, streamed from the vault (never built in memory)."""
    vault = get_vault(request, pk, "change")
    point = get_object_or_404(vault.recovery_points.select_related("vm"), pk=point_pk)
    if not 0 <= disk_index < len(point.disks):
        raise Http404(_("That recovery point has no such disk."))
    disk = point.disks[disk_index]
    response = StreamingHttpResponse(backups.stream_disk(vault, point, disk_index), content_type="application/octet-stream")
    response["Content-Length"] = str(disk["size"])
    filename = slugify(f"{point.vm.name}-{disk['name']}-{point.created_at:%Y%m%d-%H%M}") or "disk"
    response["Content-Disposition"] = f'attachment; filename="{filename}.raw"'
    return response


@require_http_methods(["GET", "POST"])
def protect(request, pk):
    """The Protect wizard: 1 choose VMs, 2 choose a policy or define a schedule, 3 a new policy's retention."""
    vault = get_vault(request, pk, "change")
    chosen = selected_ids(request)
    if chosen is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    if request.method == "GET":
        return _wizard(request, vault, "1", chosen)
    step = request.POST.get("step", "1")
    mode = request.POST.get("policy_mode", "existing")
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
        policy = vault.policies.filter(pk=_whole_number(request.POST.get("policy"))).first()
        if policy is None:
            return _wizard(request, vault, "2", chosen, form, mode, error=_("Choose a policy."), status=400)
        choice = {"policy": policy}
    try:
        jobs = services.start_protection(vault, chosen, request.user, **choice)
    except services.Refused as refusal:
        return command_response(request, vault, "protected_items", error=str(refusal))
    return command_response(request, vault, "protected_items", jobs=jobs)


def _whole_number(value):
    ids = parse_ids([value or ""])
    return ids[0] if ids else None


def _wizard(request, vault, step, chosen, form=None, policy_mode="existing", schedule=None, error=None, status=200):
    context = {
        "vault": vault,
        "step": step,
        "candidates": services.registered_unprotected_items(vault),
        "policies": vault.policies.all(),
        "chosen": chosen,
        "form": form or PolicyForm(vault=vault),
        "policy_mode": policy_mode,
        "schedule": schedule,
        "error": error,
    }
    return render_page(request, "vaults/protect.html", "vaults/partials/protect_wizard.html", context, status)


@require_GET
def policy_retention(request, pk):
    """The read-only retention of an existing policy, shown when the wizard picks it."""
    vault = get_vault(request, pk)
    policy = Policy.objects.filter(vault=vault, pk=_whole_number(request.GET.get("policy"))).first()
    return render(request, "vaults/partials/policy_summary.html", {"policy": policy})


@require_http_methods(["GET", "POST"])
def policy_create(request, pk):
    vault = get_vault(request, pk, "change")
    form = PolicyForm(request.POST or None, vault=vault)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_policy(vault, **form.policy_fields())
        except services.Refused as refusal:
            form.add_error("name", str(refusal))
        else:
            if request.htmx:
                return trigger(HttpResponse(status=204), "vaultChanged", "closeModal")
            return redirect("vaults:policies", pk=vault.pk)
    return render_page(
        request, "vaults/policy_create.html", "vaults/partials/policy_dialog.html",
        {"vault": vault, "form": form}, status=400 if form.errors else 200,
    )


@require_POST
def policy_delete(request, pk):
    vault = get_vault(request, pk, "change")
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "policies", error=str(BAD_SELECTION), status=400)
    try:
        services.delete_policies(vault, ids)
    except services.Refused as refusal:
        return command_response(request, vault, "policies", error=str(refusal))
    return command_response(request, vault, "policies")
