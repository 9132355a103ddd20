"""A fleet-sized portal database for bench/portal.py: 20 vaults, 10,000 VMs (all registered, most
protected), 240,000 recovery points, 1,000,000 jobs over 180 days with 3,000,000 events.

    .venv/bin/python bench/fleet.py [--rebuild]

PostgreSQL only (the budgets are PostgreSQL's): the database named by FLEET_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/vaultline_fleet) is made once and kept, then brought up to date
with the migrations on later runs; --rebuild drops it first. Rows are made by INSERT … SELECT over
generate_series: minutes, not hours.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLEET_URL = os.environ.get("FLEET_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vaultline_fleet")
VAULTS, VMS, POINTS_PER_VM, JOBS, EVENTS_PER_JOB, DAYS = 20, 10_000, 24, 1_000_000, 3, 180
USER, PASSWORD = "fleet", "fleet-bench-password"


def use_fleet_database():
    """Point Django at the fleet database (and a var folder of its own), before django.setup()."""
    os.environ["DATABASE_URL"] = FLEET_URL
    os.environ.setdefault("VAULTLINE_VAR_DIR", str(ROOT / "var" / "bench-fleet"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    Path(os.environ["VAULTLINE_VAR_DIR"]).mkdir(parents=True, exist_ok=True)


def _server_and_name():
    import psycopg

    base, _, name = FLEET_URL.rpartition("/")
    try:
        return psycopg.connect(f"{base}/postgres", autocommit=True), name
    except psycopg.OperationalError as error:
        sys.exit(f"The fleet benchmark needs PostgreSQL ({base}: {error}); set FLEET_DATABASE_URL.")


def drop_database():
    server, name = _server_and_name()
    with server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_database():
    """True if the database was made now (empty)."""
    server, name = _server_and_name()
    with server:
        if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        server.execute(f'CREATE DATABASE "{name}"')
        return True


def built():
    from vaults.models import Vault

    return Vault.objects.filter(name__startswith="fleet-").count() == VAULTS


def build():
    """The fleet's rows; VMs, points and jobs are spread evenly over the vaults."""
    from django.contrib.auth.models import User
    from django.db import connection

    from vaults import services
    from vaults.models import Membership, Subscription, VMSource

    user = User.objects.create_user(USER, password=PASSWORD)
    subscription = Subscription.objects.create(name="Fleet")
    Membership.objects.create(subscription=subscription, user=user, role="owner")
    source = VMSource.objects.create(subscription=subscription, name="fleet", location="/nonexistent")
    vaults = [services.create_vault(subscription=subscription, name=f"fleet-{index:02}", region="East US", user=user)
              for index in range(VAULTS)]
    first_vault = vaults[0].pk
    # VM k (0-based, named vm-{k+1}) has id first_vm + k and lives in vault first_vault + k % VAULTS.
    first_vm = "(SELECT min(id) FROM vaults_virtualmachine)"
    steps = [
        ("VMs", f"""
            INSERT INTO vaults_virtualmachine (source_id, external_id, name, cloud_service, region, power_state,
                has_backup_extension, disks, last_seen_at)
            SELECT {source.pk}, 'vm-' || n, 'vm-' || lpad(n::text, 5, '0'), 'svc-' || (n % 400), 'East US',
                'running', true, '[{{"name": "disk0.raw", "format": "raw", "virtual_size": 4294967296}}]', now()
            FROM generate_series(1, {VMS}) AS n"""),
        ("discovered", f"""
            INSERT INTO vaults_vault_discovered_vms (vault_id, virtualmachine_id)
            SELECT {first_vault} + (vm.id - {first_vm}) % {VAULTS}, vm.id FROM vaults_virtualmachine vm"""),
        ("items", f"""
            INSERT INTO vaults_registereditem (vault_id, vm_id, registration_state, protection_state, policy_id,
                registered_at, protected_at, deletion_reason)
            SELECT {first_vault} + (vm.id - {first_vm}) % {VAULTS}, vm.id, 'registered',
                CASE WHEN vm.id % 10 = 0 THEN 'not_protected' ELSE 'protected' END,
                CASE WHEN vm.id % 10 = 0 THEN NULL ELSE policy.id END,
                now() - interval '{DAYS} days', now() - interval '{DAYS} days', ''
            FROM vaults_virtualmachine vm
            JOIN vaults_policy policy ON policy.vault_id = {first_vault} + (vm.id - {first_vm}) % {VAULTS}"""),
        ("recovery points", f"""
            INSERT INTO vaults_recoverypoint (vault_id, vm_id, point_id, created_at, consistency, disks, size,
                bytes_read, new_bytes, stored_bytes, change_position, slot, retain_until)
            SELECT item.vault_id, item.vm_id, md5(item.vm_id || '-' || p),
                date_trunc('day', now()) - (p || ' days')::interval + interval '22 hours', 'crash',
                '[{{"name": "disk0.raw", "format": "raw", "size": 4294967296}}]', 4294967296,
                4294967296, 1048576 * (p % 7), 1048576 * (p % 7), '{{}}',
                date_trunc('day', now()) - (p || ' days')::interval + interval '22 hours',
                date_trunc('day', now()) + interval '30 days'
            FROM vaults_registereditem item, generate_series(1, {POINTS_PER_VM}) AS p
            """),
        ("jobs", f"""
            INSERT INTO jobs_job (vault_id, vm_id, entity_name, operation, status, parameters, created_by_id,
                created_at, started_at, finished_at, resends, progress_done, progress_total, progress_note,
                result, error_code, detail, traceback)
            SELECT {first_vault} + k % {VAULTS}, {first_vm} + k, 'vm-' || lpad((k + 1)::text, 5, '0'),
                CASE WHEN op < 16 THEN 'backup' WHEN op < 18 THEN 'restore'
                     WHEN op = 18 THEN 'register' ELSE 'configure_protection' END,
                CASE WHEN outcome < 90 THEN 'completed' WHEN outcome < 95 THEN 'failed'
                     WHEN outcome < 99 THEN 'completed_with_warnings' ELSE 'cancelled' END,
                '{{}}', {user.pk}, at, at + interval '2 seconds', at + interval '3 minutes', 0,
                100, 100, '{{}}', '{{}}',
                CASE WHEN outcome BETWEEN 90 AND 94 THEN 'SnapshotFailed' ELSE '' END, '{{}}', ''
            -- n picks the VM (and so the vault, n mod 20); n / 20 the operation and the outcome, so that
            -- every vault has every mix.
            FROM (SELECT n, (n::bigint * 7919) % {VMS} AS k, (n / 20) % 20 AS op, ((n / 20) * 37) % 100 AS outcome,
                         now() - ({JOBS} - n) * interval '{DAYS * 86400 / JOBS} seconds' AS at
                  FROM generate_series(1, {JOBS}) AS n) AS spread"""),
        ("events", """
            INSERT INTO jobs_jobevent (job_id, at, old_status, new_status, note)
            SELECT job.id, job.created_at, '', 'queued', '{}'::jsonb FROM jobs_job job
            UNION ALL
            SELECT job.id, job.started_at, 'queued', 'in_progress', '{}'::jsonb FROM jobs_job job
            UNION ALL
            SELECT job.id, job.finished_at, 'in_progress', job.status, '{}'::jsonb FROM jobs_job job"""),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql)
            print(f"  {name}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute("""
            UPDATE vaults_vault vault SET stored_bytes = totals.stored, point_count = totals.points,
                protected_bytes = totals.protected
            FROM (SELECT vault_id, sum(stored_bytes) AS stored, count(*) AS points, sum(size) AS protected
                  FROM vaults_recoverypoint GROUP BY vault_id) AS totals
            WHERE totals.vault_id = vault.id""")


def vacuum():
    """Fresh statistics and a visibility map, as autovacuum would leave them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def prepare(rebuild=False):
    """The fleet database, built if it is not there yet, migrated to this checkout's schema."""
    import django
    from django.core.management import call_command

    if rebuild:
        drop_database()
    ensure_database()
    django.setup()
    call_command("migrate", verbosity=0)
    if not built():
        started = time.perf_counter()
        print(f"Building the fleet in {FLEET_URL} …", flush=True)
        from django.db import transaction

        with transaction.atomic():
            build()
        print(f"Built in {time.perf_counter() - started:.0f} s", flush=True)
    vacuum()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="drop the fleet database and build it again")
    use_fleet_database()
    prepare(parser.parse_args().rebuild)


if __name__ == "__main__":
    main()
