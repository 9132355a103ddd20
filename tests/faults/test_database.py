"""PostgreSQL restarted while a backup runs: the job ends with a reason, the worker carries on, the
next backup works, and what is listed restores. Everything here runs against a private cluster, in
processes of its own (the suite's own database cannot be restarted under it)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jobs.choices import JobStatus
from jobs.errors import CoreCode
from tests.faults.conftest import MiB, PrivateRedis, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql")


def pg_tool(name):
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is missing: install Debian's postgresql package")
    return str(found[-1])


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, run by the postgres user (it refuses root)."""

    def __init__(self):
        # Outside pytest's private (0700) temporary folders, which the postgres user cannot enter.
        self.folder, self.port = Path(tempfile.mkdtemp(prefix="vaultline-faults-pg-")), free_port()
        shutil.chown(self.folder, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.as_postgres([pg_tool("initdb"), "-D", str(self.folder), "-A", "trust", "-U", "postgres", "--no-sync"])

    def as_postgres(self, command):
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)

    def ctl(self, action):
        # -l: the server's output goes to a file, never to our pipes (which would then never close).
        self.as_postgres([pg_tool("pg_ctl"), "-D", str(self.folder), "-w", "-t", "60", "-l", str(self.folder / "log"),
                          "-m", "fast",
                          "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", action])


@pytest.fixture
def cluster(tmp_path):
    pg = PrivatePostgres()
    pg.ctl("start")
    try:
        yield pg
    finally:
        pg.ctl("stop")
        shutil.rmtree(pg.folder, ignore_errors=True)


@pytest.mark.slow
def test_postgresql_restarted_mid_backup(cluster, tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    env = {key: value for key, value in os.environ.items() if key not in ("VAULTLINE_TEST_RUN",)}
    env.update(DATABASE_URL=cluster.url, REDIS_URL=redis.url, VAULTLINE_VAR_DIR=str(tmp_path / "var"),
               VAULTLINE_LAB_ROOT=str(tmp_path / "lab"), VAULTLINE_WORK_ROOT=str(tmp_path / "work"),
               PYTHONPATH=str(ROOT))
    (tmp_path / "lab").mkdir()

    def step(name):
        result = subprocess.run([sys.executable, "-m", "tests.faults.database_scenario", name], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=400)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency", "1",
                               "--loglevel", "INFO"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        step("start")
        wait_until(lambda: step("progress")["done"] > 32 * MiB, 120, "the backup did not get going")
        cluster.ctl("restart")  # every connection dropped mid-backup
        outcome = step("settle")
        assert worker.poll() is None, "the worker carries on"
    finally:
        os.killpg(worker.pid, 9)
        worker.wait()
        redis.stop()
    backup, after = outcome["jobs"][-2:]  # the backup under the restart, then the one after
    assert backup["status"] == JobStatus.FAILED and backup["code"] in (CoreCode.DATABASE_UNAVAILABLE,
                                                                       CoreCode.WORKER_LOST), backup
    assert backup["message"]
    assert after["status"] == JobStatus.COMPLETED, after
    assert outcome["restored"] and all(outcome["restored"].values())
    assert outcome["verified"] and outcome["work_files"] == []
