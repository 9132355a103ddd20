import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.crypto import get_random_string

from jobs.archive import archive_old_jobs
from jobs.choices import JobStatus
from jobs.models import Job
from jobs.runner import run_job
from portal.access import Role
from sources.lab_build import MiB, build_lab
from sources.lab_folder import MANIFEST
from tests.factories import (
    JobFactory,
    MembershipFactory,
    RegisteredItemFactory,
    SubscriptionFactory,
    UserFactory,
    VaultFactory,
    VMSourceFactory,
)
from vaults import services
from vaults.choices import Operation, ProtectionState, RegistrationState
from vaults.models import RecoveryPoint, RegisteredItem
from vaults.operations.backup import backup as backup_job
from vaults.operations.backup import start_backup
from vaults.operations.discovery import discover as discover_job

# A small lab: enough to tell VMs apart by cloud service and region, small enough to build in a blink.
SMALL_LAB = [
    ("web01", "contoso-web", "East US", [("qcow2", 2 * MiB)], "running", True),
    ("app01", "contoso-app", "East US", [("raw", 2 * MiB)], "running", True),
    ("app01", "fabrikam-app", "East US", [("raw", 1 * MiB)], "running", True),
    ("batch01", "contoso-app", "East US", [("raw", 1 * MiB)], "stopped", True),
    ("legacy01", "contoso-app", "East US", [("raw", 1 * MiB)], "running", False),
    ('<b>odd & "quoted"</b>', "fabrikam-app", "East US", [("raw", 1 * MiB)], "running", True),
    ("eu-web01", "northwind-web", "West Europe", [("qcow2", 2 * MiB)], "running", True),
]


class PortalClient(Client):
    """A test client that enforces CSRF like a browser would, and sends the token like our pages do."""

    def __init__(self, **kwargs):
        super().__init__(enforce_csrf_checks=True, **kwargs)

    def post(self, path, data=None, *, htmx=True, csrf=True, **extra):
        if htmx:
            extra.setdefault("HTTP_HX_REQUEST", "true")
        return super().post(path, data, **self._csrf(csrf, extra))

    def put(self, path, data="", *, csrf=True, **extra):
        return super().put(path, data, **self._csrf(csrf, extra))

    def delete(self, path, data="", *, csrf=True, **extra):
        return super().delete(path, data, **self._csrf(csrf, extra))

    def _csrf(self, csrf, extra):
        if csrf:
            if "csrftoken" not in self.cookies:
                self.cookies["csrftoken"] = get_random_string(32)  # as the browser holds it after a page load
            extra.setdefault("HTTP_X_CSRFTOKEN", self.cookies["csrftoken"].value)
        return extra


@pytest.fixture(autouse=True)
def english_to_begin_with():
    """Each test starts in the default language: a request in Korean leaves its thread in Korean."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def vault_storage(settings, tmp_path):
    """Every test's vault repositories, their index caches and work folders live in its own temporary folder."""
    settings.VAULT_STORAGE_ROOT = tmp_path / "vaults"
    settings.VAULTLINE_CACHE_DIR = tmp_path / "cache"
    settings.WORK_ROOT = tmp_path / "work"


@pytest.fixture
def subscription(db):
    return SubscriptionFactory(name="Contoso")


def _member(subscription, username, role):
    user = UserFactory(username=username)
    MembershipFactory(subscription=subscription, user=user, role=role)
    return user


@pytest.fixture
def owner(subscription):
    return _member(subscription, "owner", Role.OWNER)


@pytest.fixture
def member(subscription):
    return _member(subscription, "member", Role.CONTRIBUTOR)


@pytest.fixture
def reader(subscription):
    return _member(subscription, "reader", Role.READER)


@pytest.fixture
def outsider(db):
    return _member(SubscriptionFactory(name="Elsewhere"), "outsider", Role.OWNER)


def client_for(user):
    client = PortalClient()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def lab_path(tmp_path):
    root = tmp_path / "lab"
    build_lab(root, SMALL_LAB)
    return root


@pytest.fixture
def source(subscription, lab_path):
    return VMSourceFactory(subscription=subscription, name="Lab", location=str(lab_path))


@pytest.fixture
def vault(subscription, owner, source):
    return services.create_vault(subscription=subscription, name="vault-east", region="East US", user=owner)


# --- A repository of its own, and a real S3-compatible server -------------------------------------


@pytest.fixture
def key():
    from repository import new_key

    return new_key()


@pytest.fixture
def repo(tmp_path, key):
    from repository import LocalStorage, Repository

    return Repository.init(LocalStorage(tmp_path / "repo"), key)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# --- A real Celery worker on the real broker -------------------------------------------------


@pytest.fixture(scope="session")
def celery_session_worker():
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    app.control.purge()  # messages left by an earlier, interrupted run
    # Job state lives in the database and there is no result backend, so the ready check is
    # a broadcast ping over the broker instead of start_worker's result-based ping task.
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError("The test Celery worker did not answer a ping within 30 s")
        yield app


@pytest.fixture
def worker(transactional_db, celery_session_worker):
    """Tests that use this run their jobs on a real worker, so their rows must be committed.
    A test may end while a job it sent still runs: the tables are only emptied once the worker is idle,
    or that job's transaction would meet the flush, and its rows the next test."""
    yield celery_session_worker
    wait_until_idle(celery_session_worker)


def wait_until_idle(app, timeout=60):
    """Wait until no message waits in the queue and the worker (in this process) holds none."""
    from celery.worker import state

    def busy():
        with app.connection_for_read() as connection:
            waiting = connection.default_channel.queue_declare("celery").message_count
        return waiting or state.active_requests or state.reserved_requests

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:  # three looks in a row: a message just taken from the queue is not yet reserved
        quiet = 0 if busy() else quiet + 1
        if time.monotonic() > deadline:
            raise AssertionError(f"The worker was still busy {timeout}s after the test: {state.active_requests}")
        time.sleep(0.05)


def database_url():
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(redis_url, read_limit_mb_s=0):
    """The environment of a worker process of a test: this test's database, storage, work and cache
    folders, the broker at `redis_url`, and a backup read limit (0: none)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "VAULTLINE_STORAGE_ROOT": str(django_settings.VAULT_STORAGE_ROOT),
        "VAULTLINE_WORK_ROOT": str(django_settings.WORK_ROOT),
        "VAULTLINE_CACHE_DIR": str(django_settings.VAULTLINE_CACHE_DIR),
        "VAULTLINE_BACKUP_READ_LIMIT_MB_S": str(read_limit_mb_s),
    }


def start_worker_process(queue, name, read_limit_mb_s=0):
    """A real worker in its own process, on its own queue, sharing the test database and storage;
    its backups read no faster than `read_limit_mb_s` (0: as fast as they can)."""
    from portal.celery import app

    node = f"{name}-{os.getpid()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "-Q", queue,
         "-n", f"{node}@%h", "--loglevel", "WARNING"],
        env=worker_env(django_settings.REDIS_URL, read_limit_mb_s), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not any(f"{node}@" in replied for reply in app.control.ping(timeout=0.5) for replied in reply):
        assert time.monotonic() < deadline, f"the {name} worker did not start"
    return process


@contextlib.contextmanager
def held_queue(worker):
    """Keep the worker from taking jobs inside the block (to see them queued), then let it go."""
    worker.control.cancel_consumer("celery", reply=True)
    try:
        yield
    finally:
        worker.control.add_consumer("celery", reply=True)


def snapshot_bytes(disk, chunk_size=1024 * 1024):
    """The whole of a snapshot's disk as it was at the snapshot (SnapshotDisk.chunks, holes as zeros)."""
    data = bytearray()
    for index, chunk in disk.chunks(chunk_size):
        data += chunk if chunk is not None else bytes(min(chunk_size, disk.size - index * chunk_size))
    return bytes(data)


def wait_for_jobs(jobs, timeout=30):
    """Wait until the worker has ended every job; returns them fresh from the database."""
    ids = [job.pk for job in jobs]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = list(Job.objects.filter(pk__in=ids).order_by("pk"))
        if all(job.status in JobStatus.terminal() for job in fresh):
            return fresh
        time.sleep(0.1)
    raise AssertionError(f"Jobs still running after {timeout}s: {[(j.pk, j.status) for j in fresh]}")


# --- Headless Chromium for browser tests --------------------------------------------------------


def sign_in(page, live_server, user, language=None):
    """Sign `user` in through the login page, in `language` if given (the language switch's cookie)."""
    user.set_password("pass-word-123")
    user.save()
    if language:
        page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "pass-word-123")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return page


def open_page(page, url):
    """Go to `url` and wait until what the page asks for once it is shown (the Dashboard's charts,
    aria-busy until then) has come."""
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function("!document.querySelector('[aria-busy=true]')")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        # Browser tests are never skipped silently: `make test` installs Debian's chromium as root.
        pytest.fail(f"{CHROMIUM} is missing: install Debian's 'chromium' package (make test does as root)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


# --- Lab VMs and their backups ----------------------------------------------------------------


def rewrite_manifest(folder, **changes):
    """Change fields of a lab VM's manifest, as a person editing the lab would."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def flip_a_bit(path, at=None):
    """Damage a stored file as a failing disk would: one bit flipped (in its middle by default)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


def raw_bytes(path, disk_format):
    """A disk image's bytes as the guest sees them (qcow2 converted by qemu-img, outside the lab)."""
    if disk_format == "raw":
        return open(path, "rb").read()
    with tempfile.TemporaryDirectory() as folder:
        converted = os.path.join(folder, "disk.raw")
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), converted], check=True)
        return open(converted, "rb").read()


def disk_bytes(disk):
    """The bytes of a disk as the portal records it ({"path", "format"})."""
    return raw_bytes(disk["path"], disk["format"])


def discover_here(vault, owner):
    """Run a Discovery job in this process. Its job is never sent to a worker, so none can race it."""
    job = Job.objects.create_queued(vault=vault, operation=Operation.DISCOVERY, entity_name=vault.name, created_by=owner)
    run_job(job.pk, discover_job, atomic=False)  # as vaults.tasks.discover runs it
    job.refresh_from_db()
    assert job.status in (JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_WARNINGS), (job.status, job.error_message, job.result_message)
    return job


def protect(vault, owner, name, cloud_service=None):
    """Discover (in this process) and register and protect one VM with DefaultPolicy, without a worker."""
    if not vault.discovered_vms.exists():
        discover_here(vault, owner)
    vms = vault.discovered_vms.filter(name=name)
    if cloud_service:
        vms = vms.filter(cloud_service=cloud_service)
    vm = vms.get()
    return RegisteredItem.objects.create(
        vault=vault, vm=vm, registration_state=RegistrationState.REGISTERED, protection_state=ProtectionState.PENDING,
        policy=vault.policies.get(), protected_at=timezone.now() - datetime.timedelta(days=2),
    )


def backup(vault, owner, *items):
    """Backup Now for the items, on the worker; the ended jobs."""
    return wait_for_jobs(start_backup(vault, [item.pk for item in items], owner), timeout=60)


@pytest.fixture
def world(db, vault, owner, lab_path):
    """A vault with a protected item, a real recovery point and a job; another subscription's vault."""
    item = protect(vault, owner, "app01", "contoso-app")
    # Made as Backup Now makes it, but never sent: with a committing (transactional) database a worker
    # running beside the test would take it too.
    job = Job.objects.create_queued(vault=vault, operation=Operation.BACKUP, vm=item.vm, entity_name=str(item.vm),
                                    created_by=owner, parameters={"trigger": "manual"})
    run_job(job.pk, backup_job, atomic=False)
    point = RecoveryPoint.objects.get(vm=item.vm)
    elsewhere = VaultFactory()
    foreign_item = RegisteredItemFactory(vault=elsewhere)
    foreign_job = JobFactory(vault=elsewhere)
    long_ago = timezone.now() - datetime.timedelta(days=django_settings.JOB_ARCHIVE_DAYS + 1)
    archived, foreign_archived = (JobFactory(vault=of, created_at=long_ago) for of in (vault, elsewhere))
    archive_old_jobs()
    valid = {"pk": vault.pk, "item_pk": item.pk, "point_pk": point.pk, "job_pk": job.pk, "disk_index": 0,
             "archived_pk": archived.pk,
             "member_pk": vault.subscription.memberships.get(user=owner).pk,
             "policy_pk": vault.policies.get().pk,
             "object_id": item.pk,
             "content_type_id": 1, "app_label": "vaults", "uidb64": "x", "token": "x", "url": "x"}
    # Another subscription's row of the argument's own kind: a vault's id as a job's could be a real job here.
    foreign = {"pk": [str(elsewhere.pk)], "item_pk": [str(foreign_item.pk)], "job_pk": [str(foreign_job.pk)],
               "archived_pk": [str(foreign_archived.pk)]}
    return {"valid": valid, "job": job, "foreign": foreign, "item": item, "subscription_pk": vault.subscription_id}


def pytest_configure(config):
    # Users are made by the hundred here: a fast hasher instead of PBKDF2's 0.3 s per password.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
