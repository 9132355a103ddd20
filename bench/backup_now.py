"""The portal's own Backup Now of a lab VM beside the repository's own time on the same disk.

    .venv/bin/python bench/backup_now.py [--size-mib 2048] [--rounds 3]

The VM has one raw disk of day-1 content (zeros, compressible text, random bytes: bench/images.py).
Each round backs it up twice, each time into a new vault or repository, so nothing deduplicates
against an earlier round:
  - Backup Now: the backup job as a worker runs it (snapshot, transfer, point, retention), timed from
    the job's start to its end as the job records them (embedded SQLite, in this process);
  - the repository alone: the same disk file cut, sealed and stored by a BackupWriter, then committed.
Prints each round and the median ratio (Backup Now / repository; the target is 1.3 at most).
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

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from bench.images import MiB, make_day1  # noqa: E402


def repository_alone(disk_path, folder):
    from repository import LocalStorage, Repository, new_key
    from repository.chunking import file_chunks

    repo = Repository.init(LocalStorage(folder / "repo"), new_key(), cache_dir=folder / "cache")
    started = time.perf_counter()
    with repo.writer() as writer:
        disk = writer.store_disk("disk0", os.path.getsize(disk_path), file_chunks(disk_path, repo.chunk_size))
        writer.commit({"vm": {"name": "bench"}, "consistency": "crash", "disks": [disk]})
    return time.perf_counter() - started


def backup_now(subscription, user, number):
    from jobs.models import Job
    from jobs.runner import run_job
    from vaults import services
    from vaults.choices import Operation, ProtectionState, RegistrationState
    from vaults.models import RegisteredItem
    from vaults.operations.backup import backup
    from vaults.operations.discovery import discover

    vault = services.create_vault(subscription=subscription, name=f"bench-{number}", region="East US", user=user)
    run_job(Job.objects.create_queued(vault=vault, entity_name=vault.name, operation=Operation.DISCOVERY).pk,
            discover, atomic=False)
    vm = vault.discovered_vms.get(name="bench")
    RegisteredItem.objects.filter(vm=vm).delete()  # the previous round's vault had it
    RegisteredItem.objects.create(vault=vault, vm=vm, registration_state=RegistrationState.REGISTERED,
                                  protection_state=ProtectionState.PENDING, policy=vault.policies.get())
    job = Job.objects.create_queued(vault=vault, vm=vm, entity_name=vm.name, operation=Operation.BACKUP)
    run_job(job.pk, backup, atomic=False)
    job.refresh_from_db()
    if job.status != "completed":
        raise SystemExit(f"the backup job ended {job.status}: {job.error_message} {job.error_detail}")
    return (job.finished_at - job.started_at).total_seconds()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from sources.lab_build import create_lab_vm
    from vaults.models import Membership, Subscription, VMSource

    work = Path(os.environ["VAULTLINE_VAR_DIR"])
    lab = work / "lab"
    folder = create_lab_vm(lab, name="bench", cloud_service="bench", region="East US", disks=[("raw", MiB)])
    disk_path = next(path for path in folder.iterdir() if path.suffix == ".img")
    make_day1(disk_path, args.size_mib * MiB)
    user = User.objects.create_user("bench", password="x")
    subscription = Subscription.objects.create(name="Bench")
    Membership.objects.create(subscription=subscription, user=user, role="owner")
    VMSource.objects.create(subscription=subscription, name="lab", location=str(lab))

    print(f"Backup Now of a {args.size_mib} MiB raw lab disk beside the repository alone ({args.rounds} rounds)")
    print(f"{'round':>5} {'repository s':>13} {'Backup Now s':>13} {'ratio':>6}")
    ratios = []
    for number in range(args.rounds):
        os.sync()
        alone = repository_alone(disk_path, Path(tempfile.mkdtemp(dir=work)))
        os.sync()
        portal = backup_now(subscription, user, number)
        ratios.append(portal / alone)
        print(f"{number + 1:>5} {alone:>13.2f} {portal:>13.2f} {portal / alone:>6.2f}")
    print(f"median ratio {statistics.median(ratios):.2f} (target: 1.3 at most)")


if __name__ == "__main__":
    main()
