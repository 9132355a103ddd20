"""1,000 Register jobs through two real Celery workers: seconds from the command to the last job ended.

    .venv/bin/python bench/register.py [--vms 1000] [--workers 2]

Runs on a database of its own (a fresh PostgreSQL database where 127.0.0.1:5432 answers, else SQLite)
and Redis database 13 (or an embedded Redis), with a lab of small VMs in a temporary folder: Discover,
then Register every VM in one command, as the Register dialog sends it.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRATCH = Path(tempfile.mkdtemp(prefix="vaultline-bench-register-"))
os.environ["VAULTLINE_VAR_DIR"] = str(SCRATCH)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from portal.embedded import answers, redis_answers, start_embedded_redis  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432/vaultline_bench_register"
REDIS = "redis://127.0.0.1:6379/13"


def servers():
    """(database URL or None for SQLite, broker URL, embedded Redis to stop or None)."""
    database = None
    if answers("postgres://postgres@127.0.0.1:5432/postgres"):
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as server:
            server.execute('DROP DATABASE IF EXISTS "vaultline_bench_register" WITH (FORCE)')
            server.execute('CREATE DATABASE "vaultline_bench_register"')
        database = POSTGRES
    if redis_answers(REDIS):
        import redis

        redis.Redis.from_url(REDIS).flushdb()
        return database, REDIS, None
    embedded, url = start_embedded_redis(SCRATCH / "redis")
    return database, url, embedded


def start_workers(count, env):
    log = open(SCRATCH / "workers.log", "wb")
    return [subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency", "1",
                              "-n", f"bench{index}@%h", "--loglevel", "WARNING", "--without-mingle",
                              "--without-gossip"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True) for index in range(count)]


def wait_for_workers(count, timeout=60):
    from portal.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1)) >= count:
            return
    sys.exit(f"The workers did not answer within {timeout} s: see {SCRATCH / 'workers.log'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    database, broker, embedded = servers()
    if database:
        os.environ["DATABASE_URL"] = database
    os.environ["REDIS_URL"] = broker
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from jobs.choices import JobStatus
    from jobs.models import Job
    from jobs.runner import run_job
    from sources.lab_build import create_lab_vm
    from vaults import services
    from vaults.models import Membership, Subscription, VMSource
    from vaults.operations.discovery import discover
    from vaults.operations.registration import start_registration

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="x")
    subscription = Subscription.objects.create(name="Bench")
    Membership.objects.create(subscription=subscription, user=user, role="owner")
    lab = SCRATCH / "lab"
    for index in range(args.vms):
        create_lab_vm(lab, name=f"vm{index:05}", cloud_service="bench", region="East US", disks=[("raw", 4096)],
                      seed=index)
    VMSource.objects.create(subscription=subscription, name="lab", location=str(lab))
    vault = services.create_vault(subscription=subscription, name="bench", region="East US", user=user)
    discovery = Job.objects.create_queued(vault=vault, entity_name=vault.name, operation="discovery")
    run_job(discovery.pk, discover, atomic=False)

    workers = start_workers(args.workers, os.environ.copy())
    try:
        wait_for_workers(args.workers)
        started = time.perf_counter()
        jobs = start_registration(vault, list(vault.discovered_vms.values_list("pk", flat=True)), user)
        command = time.perf_counter() - started
        ids = [job.pk for job in jobs]
        while Job.objects.filter(pk__in=ids, status__in=JobStatus.active()).exists():
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        if embedded is not None:
            embedded.shutdown()
    completed = Job.objects.filter(pk__in=ids, status=JobStatus.COMPLETED).count()
    print(f"{len(ids)} Register jobs through {args.workers} workers: {seconds:.1f} s "
          f"({len(ids) / seconds:.0f} jobs/s; the command itself {command:.1f} s), {completed} completed "
          f"(database: {'PostgreSQL' if database else 'SQLite'}; broker {broker})")
    if completed != len(ids):
        sys.exit("Not every job completed")


if __name__ == "__main__":
    main()
