"""The portal's pages at fleet size (bench/fleet.py's database): p50/p95 server time over N requests
and SQL queries per request, each beside its budget.

    .venv/bin/python bench/portal.py [--requests 200] [--only jobs] [--explain]

Server time is the time Django takes to answer in this process (the test client: no network, no
second web worker), as the issue's budgets count it. --explain prints the plan of the Jobs tab's
queries.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fleet

LIST, JOBS, DASHBOARD, JOB_PAGE, OTHER = 50, 50, 20, 30, 50  # ms, p95 (issue 14)


def pages(vault, item, job, older_cursor):
    """(name, url, budget ms, extra headers)."""
    base = f"/vaults/{vault.pk}"
    htmx = {"HTTP_HX_REQUEST": "true"}
    rows = [
        ("vault list", "/vaults/", LIST, {}),
        ("quick start", f"{base}/", OTHER, {}),
        ("dashboard", f"{base}/dashboard/", DASHBOARD, {}),
        ("dashboard poll", f"{base}/dashboard/", DASHBOARD, htmx),
        ("dashboard charts", f"{base}/dashboard/?part=charts", OTHER, htmx),
        ("registered items", f"{base}/registered/", LIST, {}),
        ("protected items", f"{base}/protected/", LIST, {}),
        ("protected items, page 10", f"{base}/protected/?page=10", LIST, {}),
        ("policies", f"{base}/policies/", LIST, {}),
        ("item page", f"{base}/items/{item.pk}/", LIST, {}),
        ("jobs", f"{base}/jobs/", JOBS, {}),
        ("jobs poll", f"{base}/jobs/", JOBS, htmx),
        ("jobs: backup", f"{base}/jobs/?operation=backup", JOBS, {}),
        ("jobs: restore", f"{base}/jobs/?operation=restore", JOBS, {}),
        ("jobs: failed", f"{base}/jobs/?status=failed", JOBS, {}),
        ("jobs: completed + warnings", f"{base}/jobs/?status=completed&status=completed_with_warnings", JOBS, {}),
        ("jobs: failed backups", f"{base}/jobs/?status=failed&operation=backup", JOBS, {}),
        ("jobs: last 7 days", f"{base}/jobs/?start={time.strftime('%Y-%m-%dT%H:%M', time.gmtime(time.time() - 7 * 86400))}", JOBS, {}),
        ("jobs: page 500", f"{base}/jobs/?{older_cursor}", JOBS, {}),
        ("jobs: older (archive)", f"{base}/jobs/older/", JOBS, {}),
        ("job page", f"{base}/jobs/{job.pk}/", JOB_PAGE, {}),
        ("tray", f"{base}/tray/?job={job.pk}", JOB_PAGE, htmx),
        ("audit", f"{base}/audit/", LIST, {}),
        ("admin: jobs", "/admin/jobs/job/", LIST, {}),
        ("admin: jobs, failed", "/admin/jobs/job/?status__exact=failed", LIST, {}),
        ("admin: job events", "/admin/jobs/jobevent/", LIST, {}),
        ("admin: recovery points", "/admin/vaults/recoverypoint/", LIST, {}),
        ("admin: virtual machines", "/admin/vaults/virtualmachine/", LIST, {}),
        ("admin: registered items", "/admin/vaults/registereditem/", LIST, {}),
        ("api: vaults", "/api/v1/vaults/", LIST, {}),
        ("api: items", f"/api/v1/vaults/{vault.pk}/items/", LIST, {}),
        ("api: recovery points", f"/api/v1/vaults/{vault.pk}/recovery-points/", LIST, {}),
        ("api: jobs", f"/api/v1/vaults/{vault.pk}/jobs/", LIST, {}),
        ("api: jobs, failed", f"/api/v1/vaults/{vault.pk}/jobs/?status=failed", LIST, {}),
        ("api: protectable vms", f"/api/v1/vaults/{vault.pk}/protectable-vms/", LIST, {}),
    ]
    return rows


def measure(client, url, headers, requests):
    """(p50 ms, p95 ms, queries of one request) over `requests` requests after a few to warm up."""
    from django.db import connection

    for _ in range(3):
        response = client.get(url, **headers)
        assert response.status_code in (200, 286), (url, response.status_code)  # 286: a poll that may stop
    executed = []
    with connection.execute_wrapper(lambda execute, *args: executed.append(1) or execute(*args)):
        client.get(url, **headers)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], len(executed)


def explain(vault):
    """The plans of the Jobs tab's queries (first page, a filter, the count)."""
    from django.db import connection

    from jobs.models import Job

    jobs = Job.objects.filter(vault=vault)
    for name, queryset in (("first page", jobs[:25]), ("backup filter", jobs.filter(operation="backup")[:25]),
                           ("failed filter", jobs.filter(status__in=["failed"])[:25])):
        print(f"\nEXPLAIN {name}:")
        print(queryset.explain(analyze=True))
    with connection.cursor() as cursor:
        sql, params = jobs.filter(operation="backup").values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM ({sql}) AS counted", params)
        print("\nEXPLAIN backup count:")
        print("\n".join(row[0] for row in cursor.fetchall()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", default="", help="measure only the pages whose name contains this")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    fleet.use_fleet_database()
    fleet.prepare()

    from django.contrib.auth.models import User
    from django.test import Client

    from jobs.models import Job
    from vaults.models import Vault

    user = User.objects.get(username=fleet.USER)
    admin, _ = User.objects.get_or_create(username="fleet-admin", defaults={"is_staff": True, "is_superuser": True})
    vault = Vault.objects.get(name="fleet-00")
    item = vault.items.filter(protection_state="protected").order_by("vm__name").first()
    job = Job.objects.filter(vault=vault).order_by("-created_at")[1000]
    client, admin_client = Client(), Client()
    client.force_login(user)
    admin_client.force_login(admin)
    older = older_query(vault, pages_deep=500)

    if args.explain:
        explain(vault)
    print(f"\n{'page':<30} {'p50 ms':>8} {'p95 ms':>8} {'budget':>7} {'queries':>8}")
    over = 0
    for name, url, budget, headers in pages(vault, item, job, older):
        if args.only not in name:
            continue
        p50, p95, queries = measure(admin_client if name.startswith("admin") else client, url, headers, args.requests)
        mark = "" if p95 <= budget else "  over"
        over += bool(mark)
        print(f"{name:<30} {p50:>8.1f} {p95:>8.1f} {budget:>7} {queries:>8}{mark}", flush=True)
    print(f"\n{fleet.VAULTS} vaults, {fleet.VMS:,} VMs, {fleet.VMS * fleet.POINTS_PER_VM:,} recovery points, "
          f"{fleet.JOBS:,} jobs, {fleet.JOBS * fleet.EVENTS_PER_JOB:,} events; {args.requests} requests a page; "
          f"{over} over budget")


def older_query(vault, pages_deep):
    """The query string of the Jobs tab `pages_deep` pages from the first, as its Older links reach it."""
    from jobs.models import Job
    from portal.keyset import make_cursor
    from vaults.views.jobs import JOBS_PER_PAGE

    row = Job.objects.filter(vault=vault).order_by("-created_at", "-pk")[pages_deep * JOBS_PER_PAGE - 1]
    return f"cursor={make_cursor('older', row, 'created_at')}"


if __name__ == "__main__":
    main()
