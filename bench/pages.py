"""Print how the list pages and a discovery scale with the number of rows.

    .venv/bin/python bench/pages.py [--sizes 10,100,1000]

Runs on a throwaway SQLite database and lab in a temporary folder (or DATABASE_URL if set).
Figures: median milliseconds of 5 renders, and the number of SQL queries per render.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("VAULTLINE_VAR_DIR", tempfile.mkdtemp(prefix="vaultline-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["ALLOWED_HOSTS"] = "testserver"

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def timed_get(client, url, repeats=5):
    times = []
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), len(queries)


def timed_discovery(vault):
    """Seconds a Discovery job of the vault takes, run as its worker runs it."""
    from jobs.models import Job
    from jobs.runner import run_job
    from vaults.operations.discovery import discover

    job = Job.objects.create(vault=vault, entity_name=vault.name, operation="discovery")
    started = time.perf_counter()
    run_job(job.pk, discover, atomic=False)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == "completed", (job.status, job.result_message, job.error_message)
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from jobs.choices import JobStatus
    from jobs.models import Job
    from sources.lab_build import create_lab_vm
    from vaults import services
    from vaults.models import Membership, RegisteredItem, Subscription, VirtualMachine, VMSource

    user = User.objects.create_user("bench", password="x")
    subscription = Subscription.objects.create(name="Bench")
    Membership.objects.create(subscription=subscription, user=user, role="owner")
    client = Client()
    client.force_login(user)
    lab = Path(os.environ["VAULTLINE_VAR_DIR"]) / "lab"
    source = VMSource.objects.create(subscription=subscription, name="lab", location=str(lab))

    print(f"{'rows':>6} {'registered ms':>14} {'queries':>8} {'jobs ms':>8} {'queries':>8} {'discover s':>11} {'rediscover s':>13}")
    made = 0
    for size in sizes:
        vault = services.create_vault(subscription=subscription, name=f"bench-{size}", region="East US", user=user)
        for index in range(made, size):
            create_lab_vm(lab, name=f"vm{index}", cloud_service="bench", region="East US",
                          disks=[("raw", 4096)], seed=index)
        made = max(made, size)
        discover_seconds = timed_discovery(vault)
        rediscover_seconds = timed_discovery(vault)  # the same VMs again: every row is brought up to date
        vms = list(VirtualMachine.objects.filter(registration__isnull=True)[:size])
        RegisteredItem.objects.bulk_create(RegisteredItem(vault=vault, vm=vm, registration_state="registered") for vm in vms)
        Job.objects.bulk_create(
            Job(vault=vault, entity_name=vm.name, operation="register", status=JobStatus.COMPLETED) for vm in vms
        )
        registered = timed_get(client, f"/vaults/{vault.pk}/registered/")
        jobs = timed_get(client, f"/vaults/{vault.pk}/jobs/")
        print(f"{size:>6} {registered[0]:>14.1f} {registered[1]:>8} {jobs[0]:>8.1f} {jobs[1]:>8} {discover_seconds:>11.2f}"
              f" {rediscover_seconds:>13.2f}")
        RegisteredItem.objects.filter(vault=vault).delete()
    print(f"(database: {connection.vendor}; lab VMs have one 4 KiB raw disk; source {source.name})")


if __name__ == "__main__":
    main()
