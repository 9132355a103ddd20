"""Reading: vaults, VM sources, policies, recovery points and jobs."""

import typer

from cli import resolve
from cli.output import emit, size, when

vault = typer.Typer(help="Backup vaults.", no_args_is_help=True)
source = typer.Typer(help="VM sources (where VMs live).", no_args_is_help=True)
policy = typer.Typer(help="A vault's backup policies.", no_args_is_help=True)
rp = typer.Typer(help="Recovery points.", no_args_is_help=True)
job = typer.Typer(help="Jobs: list, show, wait for, cancel.", no_args_is_help=True)
GROUPS = {"vault": vault, "source": source, "policy": policy, "rp": rp, "job": job}

VAULT = typer.Option(..., "--vault", "-v", help="The vault's name (or id).")
SUBSCRIPTION = typer.Option(None, "--subscription", help="Where vault names repeat across subscriptions.")
VAULT_COLUMNS = [("Name", "name"), ("Region", "region"), ("Subscription", "subscription_name"), ("Role", "role"),
                 ("Storage used", lambda row: size(row["stored_bytes"])), ("Immutable", "immutable")]
JOB_COLUMNS = [("Id", "id"), ("Item", "entity_name"), ("Operation", "operation_display"), ("Status", "status"),
               ("Started", lambda row: when(row["started_at"] or row["created_at"])), ("Progress", lambda row: f"{row['progress']['percent']}%"),
               ("Error", "error_code")]


@vault.command("list")
def vault_list(ctx: typer.Context):
    """The vaults of your subscriptions."""
    emit(ctx.obj.client.all_pages("/api/v1/vaults/"), ctx.obj.json, VAULT_COLUMNS)


@vault.command("show")
def vault_show(ctx: typer.Context, name: str, subscription: str = SUBSCRIPTION):
    """One vault."""
    emit(resolve.vault(ctx.obj.client, name, subscription), ctx.obj.json, VAULT_COLUMNS)


@vault.command("create")
def vault_create(ctx: typer.Context, name: str, region: str = typer.Option(..., "--region"),
                 subscription: int = typer.Option(..., "--subscription", help="The subscription's id (source list shows it).")):
    """A new vault, with its DefaultPolicy."""
    created = ctx.obj.client.post("/api/v1/vaults/", {"name": name, "region": region, "subscription": subscription})
    emit(created, ctx.obj.json, VAULT_COLUMNS)


@source.command("list")
def source_list(ctx: typer.Context):
    """Your subscriptions' VM sources."""
    client = ctx.obj.client
    rows = []
    for subscription in client.all_pages("/api/v1/subscriptions/"):
        for found in client.all_pages(f"/api/v1/subscriptions/{subscription['id']}/sources/"):
            rows.append({**found, "subscription": subscription["name"], "subscription_id": subscription["id"]})
    emit(rows, ctx.obj.json, [("Name", "name"), ("Kind", "kind"),
                              ("Subscription", "subscription"), ("Subscription id", "subscription_id")])


@policy.command("list")
def policy_list(ctx: typer.Context, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """The vault's policies: schedule, retention, and how many VMs each protects."""
    found = resolve.vault(ctx.obj.client, vault_name, subscription)
    rows = ctx.obj.client.all_pages(f"/api/v1/vaults/{found['id']}/policies/")
    emit(rows, ctx.obj.json, [("Name", "name"), ("Frequency", "frequency"), ("Time", "time_of_day"),
                              ("Time zone", "time_zone"), ("Daily", "retain_daily"), ("Weekly", "retain_weekly"),
                              ("Monthly", "retain_monthly"), ("Yearly", "retain_yearly"), ("VMs", "item_count")])


@policy.command("preview")
def policy_preview(ctx: typer.Context, name: str, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """What a policy keeps a week, a month, a year and ten years from today, and the storage it needs."""
    client = ctx.obj.client
    found = resolve.vault(client, vault_name, subscription)
    chosen = resolve.policy(client, found, name)
    body = {key: value for key, value in chosen.items() if key not in ("id", "item_count") and value is not None}
    shown = client.post(f"/api/v1/vaults/{found['id']}/policies/preview/", {**body, "policy": chosen["id"]})
    if ctx.obj.json:
        emit(shown, True)
        return
    emit(shown["horizons"], False, [("After", "name"), ("Points kept", "points"),
                                    ("Oldest", lambda row: when(row["oldest"]))],
         title=f"{chosen['name']}: at most {shown['most_points_kept']} points per VM")
    if shown["estimate"]:
        emit(shown["estimate"], False, [("Storage needed", lambda row: size(row["total_bytes"]))])


@rp.command("list")
def rp_list(ctx: typer.Context, name: str = typer.Argument(..., help="The VM's name."), vault_name: str = VAULT,
            cloud_service: str = typer.Option(None, "--cloud-service"), subscription: str = SUBSCRIPTION):
    """A VM's recovery points, newest first."""
    client = ctx.obj.client
    found = resolve.vault(client, vault_name, subscription)
    item = resolve.item(client, found, name, cloud_service)
    points = client.all_pages(f"/api/v1/vaults/{found['id']}/recovery-points/", item=item["id"])
    emit(points, ctx.obj.json, [("Id", "id"), ("Time", lambda row: when(row["created_at"])), ("Consistency", "consistency"),
                                ("Size", lambda row: size(row["size"])), ("New data", lambda row: size(row["new_bytes"])),
                                ("Retain until", lambda row: when(row["retain_until"])), ("Verified", "verified_ok")])


@job.command("list")
def job_list(ctx: typer.Context, vault_name: str = VAULT, subscription: str = SUBSCRIPTION,
             status: list[str] = typer.Option(None, "--status", help="queued, in_progress, completed, failed…"),
             operation: str = typer.Option(None, "--operation"),
             limit: int = typer.Option(50, "--limit", min=1, max=200)):
    """The vault's newest jobs."""
    found = resolve.vault(ctx.obj.client, vault_name, subscription)
    page = ctx.obj.client.get(f"/api/v1/vaults/{found['id']}/jobs/", status=status or None, operation=operation,
                              page_size=limit)
    emit(page["results"], ctx.obj.json, JOB_COLUMNS)


@job.command("show")
def job_show(ctx: typer.Context, job_id: int, vault_name: str = VAULT, subscription: str = SUBSCRIPTION):
    """A job, its result or error, and its sub-tasks."""
    found = resolve.vault(ctx.obj.client, vault_name, subscription)
    shown = ctx.obj.client.get(f"/api/v1/vaults/{found['id']}/jobs/{job_id}/")
    if ctx.obj.json:
        emit(shown, True)
        return
    emit(shown, False, JOB_COLUMNS + [("Result", "result_message"), ("Error message", "error_message"),
                                      ("Recommended action", "recommended_action")])
    emit(shown["subtasks"], False, [("Sub-task", "name"), ("Status", "status"),
                                    ("Started", lambda row: when(row["started_at"])),
                                    ("Ended", lambda row: when(row["finished_at"]))])
