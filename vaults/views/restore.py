"""The Restore wizard (1 a recovery point: the newest, or a day on the calendar; 2 where to restore
it; 3 for a replace, a confirmation) and a disk's download."""

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit import trail
from portal.access import Action
from portal.htmx import render_page, selected_ids
from vaults.errors import Refused
from vaults.operations.restore import RESTORE_REPLACE, VM_NAME, check_not_soft_deleted, start_restore, stream_disk
from vaults.queries import BadDate, RecoveryCalendar
from vaults.views.base import BAD_SELECTION, command_response, vault_view, whole_number


@vault_view(Action.OPERATE)
@require_http_methods(["GET", "POST"])
def restore(request, vault):
    ids = selected_ids(request)
    if ids is None:
        return command_response(request, vault, "protected_items", error=str(BAD_SELECTION), status=400)
    item = vault.items.select_related("vm").filter(pk=ids[0] if len(ids) == 1 else None).first()
    if item is None:
        return command_response(request, vault, "protected_items", error=_("Select one protected VM to restore."))
    points = vault.recovery_points.filter(vm=item.vm)
    step = request.POST.get("step") if request.method == "POST" else None
    if request.method == "POST" and request.POST.get("back") in ("1", "2"):  # Back, keeping what was chosen
        point = points.filter(pk=whole_number(request.POST.get("point"))).first()
        return _wizard(request, vault, item, points, request.POST["back"] if point else "1", point)
    if step in ("2", "3"):
        point = points.filter(pk=whole_number(request.POST.get("point"))).first()
        mode = request.POST.get("mode", "")
        if step == "2" and point is not None and mode == RESTORE_REPLACE:
            # Overwriting a VM's disks is never one click: say which VM and which point, and ask.
            return _wizard(request, vault, item, points, "3", point)
        try:
            if point is None:
                raise Refused(_("Choose a recovery point."))
            job = start_restore(
                vault, point, request.user, mode=mode,
                name=request.POST.get("name", "").strip(), cloud_service=request.POST.get("cloud_service", "").strip(),
                confirmed=step == "3" and request.POST.get("confirm") == "yes",
            )
        except Refused as refusal:
            return _wizard(request, vault, item, points, step, point, error=str(refusal), status=400)
        return command_response(request, vault, "protected_items", jobs=[job])
    if step is not None:
        point = points.filter(pk=whole_number(request.POST.get("point"))).first()
        if point is None:
            return _wizard(request, vault, item, points, "1", None, error=_("Choose a recovery point."), status=400)
        return _wizard(request, vault, item, points, "2", point)
    return _wizard(request, vault, item, points, "1", None)


def _wizard(request, vault, item, points, step, point, error=None, status=200):
    # A page of the wizard (the replace's question too) is not a command; input it refuses is.
    if status == 200:
        trail.not_a_command(request)
    elif request.method == "POST":
        trail.refused(request, error, target=str(item))
    month, day = request.GET.get("month"), request.GET.get("day")
    if point is not None and request.method == "POST":  # back to step 1: the chosen point's day
        day = timezone.localtime(point.created_at).date().isoformat()
    try:
        calendar = RecoveryCalendar(points, month, day)
    except BadDate as refusal:
        calendar, error, status = RecoveryCalendar(points), str(refusal), 400
    context = {
        "vault": vault, "item": item, "step": step, "point": point, "error": error, "calendar": calendar,
        "chosen": point if step == "1" else None,
        "suggested_name": f"{item.vm.name}-restored"[:64] if VM_NAME.fullmatch(item.vm.name) else "restored-vm",
        "form": request.POST,
    }
    return render_page(request, "vaults/restore.html", "vaults/partials/restore_wizard.html", context, status)


@vault_view(Action.OPERATE)
@require_GET
def download_disk(request, vault, point_pk, disk_index):
    """A disk of a recovery point as a raw image, streamed from the vault (never built in memory)."""
    point = get_object_or_404(vault.recovery_points.select_related("vm"), pk=point_pk)
    if not 0 <= disk_index < len(point.disks):
        raise Http404(_("That recovery point has no such disk."))
    disk = point.disks[disk_index]
    # Handing out a disk's data is recorded as a command would be.
    trail.note(request, target=f"{point} {disk['name']}")
    try:
        check_not_soft_deleted(vault, point)
    except Refused as refusal:
        trail.refused(request, str(refusal))
        return HttpResponse(str(refusal), status=409, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(stream_disk(vault, point, disk_index), content_type="application/octet-stream")
    response["Content-Length"] = str(disk["size"])
    filename = slugify(f"{point.vm.name}-{disk['name']}-{point.created_at:%Y%m%d-%H%M}") or "disk"
    response["Content-Disposition"] = f'attachment; filename="{filename}.raw"'
    return response
