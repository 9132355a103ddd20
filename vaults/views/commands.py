"""The command bar's commands that start jobs straight away (the wizards are in protect.py and restore.py)."""

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from audit import trail
from portal.access import Action
from portal.htmx import render_page, selected_ids
from vaults import queries, states
from vaults.choices import BACKUP_NOW_RETAIN_DAYS, Operation
from vaults.errors import Refused
from vaults.operations.backup import check_retain_until, start_backup
from vaults.operations.delete_data import start_delete_backup_data, start_undelete
from vaults.operations.discovery import start_discovery
from vaults.operations.protection import start_stop_protection
from vaults.operations.prune import start_prune
from vaults.operations.registration import start_registration, start_unregister
from vaults.operations.verify import start_verify
from vaults.views.base import BAD_SELECTION, command_response, vault_view


def _vault_command(request, vault, start, tab):
    """A command on the whole vault (Discover, Verify): one job, or the refusal in the tray."""
    try:
        job = start(vault, request.user)
    except Refused as refusal:
        return command_response(request, vault, tab, error=str(refusal))
    return command_response(request, vault, tab, jobs=[job])


@vault_view(Action.OPERATE)
@require_POST
def discover(request, vault):
    return _vault_command(request, vault, start_discovery, "registered_items")


@vault_view(Action.OPERATE)
@require_http_methods(["GET", "POST"])
def register(request, vault):
    if request.method == "POST":
        return _item_command(request, vault, start_registration, "registered_items")
    candidates = queries.registrable_vms(vault).select_related("source")
    return render_page(
        request, "vaults/register.html", "vaults/partials/register_dialog.html",
        {"vault": vault, "candidates": candidates},
    )


def _item_command(request, vault, start, tab):
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, tab, error=str(BAD_SELECTION), status=400)
    try:
        jobs = start(vault, ids, request.user)
    except Refused as refusal:
        return command_response(request, vault, tab, error=str(refusal))
    return command_response(request, vault, tab, jobs=jobs)


@vault_view(Action.CHANGE)
@require_POST
def unregister(request, vault):
    return _item_command(request, vault, start_unregister, "registered_items")


@vault_view(Action.CHANGE)
@require_http_methods(["GET", "POST"])
def stop_protection(request, vault):
    """Stop Protection: a dialog that asks whether to retain the backup data or delete it (one VM, its
    name typed, an optional reason); then one job per chosen item."""
    return _end_of_data_command(request, vault, Operation.STOP_PROTECTION, start_stop_protection,
                                _("Only protected VMs can have their protection stopped."))


@vault_view(Action.CHANGE)
@require_http_methods(["GET", "POST"])
def delete_backup_data(request, vault):
    """Delete Backup Data of a stopped VM: the same dialog, with deleting chosen (soft deleted)."""
    def start(vault, ids, user, *, delete_data, **confirmation):
        return start_delete_backup_data(vault, ids, user, **confirmation)

    return _end_of_data_command(request, vault, Operation.DELETE_BACKUP_DATA, start,
                                _("Backup data can be deleted only for VMs whose protection is stopped."))


def _end_of_data_command(request, vault, operation, start, refusal):
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    items = list(states.startable(vault.items.select_related("vm"), operation).filter(pk__in=ids))
    if not items or len(items) != len(set(ids)):
        return command_response(request, vault, "protected_items", error=refusal)
    deleting = operation == Operation.DELETE_BACKUP_DATA or request.POST.get("data") == "delete"
    if request.method == "GET":
        return _end_of_data_dialog(request, vault, items, operation, deleting)
    try:
        jobs = start(vault, ids, request.user, delete_data=deleting,
                     typed_name=request.POST.get("confirm_name", ""), reason=request.POST.get("reason", ""))
    except Refused as refusal:
        return _end_of_data_dialog(request, vault, items, operation, deleting, error=str(refusal), status=400)
    return command_response(request, vault, "protected_items", jobs=jobs)


def _end_of_data_dialog(request, vault, items, operation, deleting, error=None, status=200):
    if error:
        trail.refused(request, error, target=", ".join(str(item) for item in items))
    context = {"vault": vault, "items": items, "operation": operation, "deleting": deleting, "error": error,
               "form": request.POST, "soft_delete_days": vault.soft_delete_days,
               "action": "vaults:stop_protection" if operation == Operation.STOP_PROTECTION else
               "vaults:delete_backup_data"}
    return render_page(request, "vaults/end_of_data.html", "vaults/partials/end_of_data_dialog.html", context, status)


@vault_view(Action.CHANGE)
@require_POST
def undelete(request, vault):
    return _item_command(request, vault, start_undelete, "protected_items")


@vault_view(Action.OPERATE)
@require_http_methods(["GET", "POST"])
def backup_now(request, vault):
    """Backup Now: a dialog that asks how long to retain the point, then one Backup job per chosen item.
    A POST without a date keeps the point the default 30 days."""
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    default = timezone.localdate() + datetime.timedelta(days=BACKUP_NOW_RETAIN_DAYS)
    if request.method == "GET":
        items = list(states.startable(vault.items.select_related("vm"), Operation.BACKUP).filter(pk__in=ids))
        if not items or len(items) != len(set(ids)):
            return command_response(request, vault, "protected_items", error=_("Only protected VMs can be backed up."))
        return _backup_dialog(request, vault, items, default)
    chosen = request.POST.get("retain_until", "")
    try:
        retain_until = check_retain_until(chosen) if chosen else None
    except Refused as refusal:
        items = list(vault.items.select_related("vm").filter(pk__in=ids))
        return _backup_dialog(request, vault, items, default, error=str(refusal), status=400)
    try:
        jobs = start_backup(vault, ids, request.user, retain_until=retain_until)
    except Refused as refusal:
        return command_response(request, vault, "protected_items", error=str(refusal))
    return command_response(request, vault, "protected_items", jobs=jobs)


def _backup_dialog(request, vault, items, retain_until, error=None, status=200):
    if error:
        trail.refused(request, error, target=", ".join(str(item) for item in items))
    context = {"vault": vault, "items": items, "retain_until": retain_until, "error": error}
    return render_page(request, "vaults/backup_now.html", "vaults/partials/backup_now_dialog.html", context, status)


@vault_view(Action.CHANGE)
@require_POST
def verify(request, vault):
    return _vault_command(request, vault, start_verify, "dashboard")


@vault_view(Action.CHANGE)
@require_POST
def prune(request, vault):
    return _vault_command(request, vault, start_prune, "dashboard")
