"""The PostgreSQL-restart scenario's steps, run in their own processes against a private cluster
(the test process's own database cannot be restarted under it). Each step prints one JSON line.

    python -m tests.faults.database_scenario start    # a vault, a big VM, its backup sent
    python -m tests.faults.database_scenario progress # bytes the backup has moved
    python -m tests.faults.database_scenario settle   # beat's part until every job ended; then the checks
"""

import datetime
import json
import os
import sys
import tempfile
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.choices import JobStatus  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.reaper import reap_stale_jobs  # noqa: E402
from jobs.runner import run_job  # noqa: E402
from vaults import services  # noqa: E402
from vaults.choices import Operation, ProtectionState, RegistrationState  # noqa: E402
from vaults.models import RecoveryPoint, RegisteredItem, Subscription, Vault, VMSource  # noqa: E402
from vaults.operations.backup import start_backup  # noqa: E402
from vaults.operations.discovery import discover as discover_job  # noqa: E402

MiB = 1024 * 1024


def start():
    from sources.lab_build import create_lab_vm

    user = get_user_model().objects.create_user("faults")
    subscription = Subscription.objects.create(name="Faults")
    subscription.memberships.create(user=user, role="owner")
    source = VMSource.objects.create(subscription=subscription, name="Lab", location=os.environ["VAULTLINE_LAB_ROOT"])
    folder = create_lab_vm(source.location, name="big", cloud_service="svc", region="East US", disks=[("raw", MiB)])
    with open(folder / "disk0.img", "wb") as image:
        for _ in range(256):
            image.write(os.urandom(MiB))
    vault = services.create_vault(subscription=subscription, name="faults", region="East US", user=user)
    # Discovered here, never sent: the scenario's worker must not race this process for it.
    discovery = Job.objects.create_queued(vault=vault, operation=Operation.DISCOVERY, entity_name=vault.name)
    run_job(discovery.pk, discover_job, atomic=False)
    item = RegisteredItem.objects.create(vault=vault, vm=vault.discovered_vms.get(), registration_state=RegistrationState.REGISTERED,
                                         protection_state=ProtectionState.PENDING, policy=vault.policies.get(),
                                         protected_at=timezone.now() - datetime.timedelta(days=1))
    jobs = start_backup(vault, [item.pk], user)
    return {"jobs": [job.pk for job in jobs]}


def progress():
    job = Job.objects.get(operation=Operation.BACKUP)
    return {"status": job.status, "done": job.progress_done}


def settle():
    deadline = time.monotonic() + 240
    while Job.objects.filter(status__in=JobStatus.active()).exists():
        if time.monotonic() > deadline:
            break
        # Beat's part: the reaper, as a minute passes each time.
        reap_stale_jobs(timezone.now() + datetime.timedelta(minutes=2))
        time.sleep(1)
    vault = Vault.objects.get()
    user = get_user_model().objects.get(username="faults")
    item = RegisteredItem.objects.get()
    again = start_backup(vault, [item.pk], user)[0]  # after the fault, a backup just works
    while Job.objects.filter(pk=again.pk, status__in=JobStatus.active()).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    repo = vault.repository()
    restored = {}
    for point in RecoveryPoint.objects.all():
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "disk.raw")
            repo.restore_disk(point.point_id, 0, out)
            restored[point.point_id] = repo.matches(point.point_id, 0, out)
    from jobs.work import sweep

    sweep()
    work = os.environ["VAULTLINE_WORK_ROOT"]
    return {
        "jobs": [{"pk": job.pk, "status": job.status, "code": job.error_code, "message": job.error_message}
                 for job in Job.objects.order_by("pk")],
        "restored": restored, "verified": repo.verify().ok,
        "work_files": os.listdir(work) if os.path.isdir(work) else [],
    }


if __name__ == "__main__":
    print(json.dumps({"start": start, "progress": progress, "settle": settle}[sys.argv[1]]()), flush=True)
