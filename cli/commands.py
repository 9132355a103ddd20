"""Commands that start jobs: discover, register, protect, stop protection, Backup Now, restore, and
waiting for or cancelling jobs. Each prints the jobs it started; with --wait, a progress bar each
until they end (exit status 1 if any failed or was cancelled)."""

import sys

import typer

from cli import exits, resolve
from cli.output import emit, say, when
from cli.records import JOB_COLUMNS, SUBSCRIPTION, VAULT, job
from cli.waiting import SUCCEEDED, wait

item = typer.Typer(help="A vault's VMs: discover, register, protect, stop protection.", no_args_is_help=True)
backup = typer.Typer(help="Backup Now.", no_args_is_help=True)
restore = typer.Typer(help="Restore a recovery point.", no_args_is_help=True)
GROUPS = {"item": item, "backup": backup, "restore": restore}

WAIT = typer.Option(False, "--wait", "-w", help="Wait for the jobs, with a progress bar each.")
CLOUD_SERVICE = typer.Option(None, "--cloud-service", help="Where VM names repeat across cloud services.")
ITEM_COLUMNS = [("VM", lambda row: row["vm"]["name"]), ("Cloud service", lambda row: row["vm"]["cloud_service"]),
                ("Registration", "registration_state"), ("Protection", "protection_state"), ("Policy", "policy_name"),
                ("Points", "point_count"), ("Newest point", lambda row: when(row["newest_point"]))]


def started(ctx, response, should_wait):
    """Print (or wait for) the jobs a command started; the exit status says how they ended."""
    jobs = response["jobs"]
    if should_wait:
        try:
            jobs = wait(ctx.obj.client, jobs, show=not ctx.obj.json)
        except KeyboardInterrupt:
            say(f"Stopped waiting; the jobs go on in the portal: vaultline job wait {' '.join(str(job['id']) for job in jobs)}"
                f" --vault {jobs[0]['vault']}.")
            raise typer.Exit(exits.INTERRUPTED) from None
    emit(jobs, ctx.obj.json, JOB_COLUMNS)
    if should_wait and any(found["status"] not in SUCCEEDED for found in jobs):
        raise typer.Exit(exits.JOB_FAILED)


def _vault(ctx, name, subscription):
    return resolve.vault(ctx.obj.client, name, subscription)


@item.command("list")
def item_list(ctx: typer.Context, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """The vault's registered VMs, their protection and their newest recovery point."""
    found = _vault(ctx, vault_name, subscription)
    emit(ctx.obj.client.all_pages(f"/api/v1/vaults/{found['id']}/items/"), ctx.obj.json, ITEM_COLUMNS)


@item.command("discover")
def item_discover(ctx: typer.Context, vault_name: str = VAULT, subscription: str = SUBSCRIPTION, should_wait: bool = WAIT):
    """Ask the subscription's VM sources for VMs in the vault's region."""
    found = _vault(ctx, vault_name, subscription)
    started(ctx, ctx.obj.client.post(f"/api/v1/vaults/{found['id']}/discover/"), should_wait)


@item.command("protectable")
def item_protectable(ctx: typer.Context, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """VMs the last discovery found that no vault has registered."""
    found = _vault(ctx, vault_name, subscription)
    emit(ctx.obj.client.all_pages(f"/api/v1/vaults/{found['id']}/protectable-vms/"), ctx.obj.json,
         [("Name", "name"), ("Cloud service", "cloud_service"), ("Region", "region"), ("Power", "power_state"),
          ("Extension", "has_backup_extension")])


@item.command("register")
def item_register(ctx: typer.Context, names: list[str], vault_name: str = VAULT, cloud_service: str = CLOUD_SERVICE,
                  subscription: str = SUBSCRIPTION, should_wait: bool = WAIT):
    """Register protectable VMs with the vault (one Register job each)."""
    client = ctx.obj.client
    found = _vault(ctx, vault_name, subscription)
    vms = [vm["id"] for vm in resolve.protectable_vms(client, found, names, cloud_service)]
    started(ctx, client.post(f"/api/v1/vaults/{found['id']}/register/", {"vms": vms}), should_wait)


@item.command("protect")
def item_protect(ctx: typer.Context, names: list[str], policy: str = typer.Option(..., "--policy"),
                 vault_name: str = VAULT, cloud_service: str = CLOUD_SERVICE, subscription: str = SUBSCRIPTION,
                 should_wait: bool = WAIT):
    """Protect registered VMs with an existing policy of the vault."""
    client = ctx.obj.client
    found = _vault(ctx, vault_name, subscription)
    items = [row["id"] for row in resolve.items(client, found, names, cloud_service)]
    chosen = resolve.policy(client, found, policy)
    started(ctx, client.post(f"/api/v1/vaults/{found['id']}/protect/", {"items": items, "policy": chosen["id"]}),
            should_wait)


@item.command("stop")
def item_stop(ctx: typer.Context, name: str, vault_name: str = VAULT, cloud_service: str = CLOUD_SERVICE,
              delete_data: str = typer.Option(None, "--delete-data", metavar="NAME",
                                              help="Delete the backup data too: type the VM's name again."),
              reason: str = typer.Option("", "--reason"), subscription: str = SUBSCRIPTION, should_wait: bool = WAIT):
    """Stop protection, keeping the backup data (or deleting it, soft deleted, with --delete-data)."""
    client = ctx.obj.client
    found = _vault(ctx, vault_name, subscription)
    chosen = resolve.item(client, found, name, cloud_service)
    body = {"items": [chosen["id"]], "delete_data": delete_data is not None, "confirm_name": delete_data or "",
            "reason": reason}
    started(ctx, client.post(f"/api/v1/vaults/{found['id']}/stop-protection/", body), should_wait)


@backup.command("now")
def backup_now(ctx: typer.Context, names: list[str], vault_name: str = VAULT, cloud_service: str = CLOUD_SERVICE,
               retain_until: str = typer.Option(None, "--retain-until", metavar="YYYY-MM-DD",
                                                help="Keep the point until this day (default: 30 days)."),
               subscription: str = SUBSCRIPTION, should_wait: bool = WAIT):
    """Back up protected VMs now (one Backup job each)."""
    client = ctx.obj.client
    found = _vault(ctx, vault_name, subscription)
    items = [row["id"] for row in resolve.items(client, found, names, cloud_service)]
    body = {"items": items, **({"retain_until": retain_until} if retain_until else {})}
    started(ctx, client.post(f"/api/v1/vaults/{found['id']}/backup-now/", body), should_wait)


@restore.command("vm")
def restore_vm(ctx: typer.Context, name: str, vault_name: str = VAULT, cloud_service: str = CLOUD_SERVICE,
               point: int = typer.Option(None, "--point", help="A recovery point's id (rp list); the newest if left out."),
               as_new: str = typer.Option(None, "--as-new", metavar="NEW_NAME", help="Restore as a new VM."),
               new_cloud_service: str = typer.Option(None, "--new-cloud-service", help="The new VM's cloud service."),
               replace: bool = typer.Option(False, "--replace", help="Overwrite the VM's own disks."),
               yes: bool = typer.Option(False, "--yes", help="With --replace: do not ask first."),
               subscription: str = SUBSCRIPTION, should_wait: bool = WAIT):
    """Restore a VM's recovery point as a new VM, or over the VM's own disks (asks first)."""
    if bool(as_new) == replace:
        raise resolve.UsageError("Choose one: --as-new NEW_NAME (with --new-cloud-service), or --replace.")
    client = ctx.obj.client
    found = _vault(ctx, vault_name, subscription)
    chosen = resolve.item(client, found, name, cloud_service)
    points = [row["id"] for row in client.all_pages(f"/api/v1/vaults/{found['id']}/recovery-points/",
                                                    item=chosen["id"])]  # newest first
    if point is None:
        if not points:
            raise resolve.UsageError(f"{name} has no recovery point in {found['name']}.")
        point = points[0]
    elif point not in points:
        raise resolve.UsageError(f"Recovery point {point} is not one of {name}'s in {found['name']}.")
    if as_new:
        body = {"point": point, "mode": "new_vm", "name": as_new,
                "cloud_service": new_cloud_service or chosen["vm"]["cloud_service"]}
    else:
        if not yes:
            if not sys.stdin.isatty():
                raise resolve.UsageError("Replacing a VM's disks asks first: add --yes where nobody can answer.")
            if not typer.confirm(f"Overwrite the disks of {chosen['vm']['name']} with recovery point {point}?",
                                 err=True):
                raise resolve.UsageError("Nothing was restored.")
        body = {"point": point, "mode": "replace", "confirm": True}
    started(ctx, client.post(f"/api/v1/vaults/{found['id']}/restore/", body), should_wait)


@job.command("wait")
def job_wait(ctx: typer.Context, job_ids: list[int], vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """Wait for jobs to end, with a progress bar each."""
    found = _vault(ctx, vault_name, subscription)
    jobs = [ctx.obj.client.get(f"/api/v1/vaults/{found['id']}/jobs/{job_id}/") for job_id in job_ids]
    started(ctx, {"jobs": jobs}, True)


@job.command("cancel")
def job_cancel(ctx: typer.Context, job_id: int, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """A queued job ends at once; a running one stops at its next step, keeping nothing."""
    found = _vault(ctx, vault_name, subscription)
    response = ctx.obj.client.post(f"/api/v1/vaults/{found['id']}/jobs/{job_id}/cancel/")
    say(f"Job {job_id}: {response['jobs'][0]['status']}.")
    emit(response["jobs"], ctx.obj.json, JOB_COLUMNS)
