"""`make run`'s runportal: a child that dies is started again, and Ctrl-C stops everything, every time."""

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.faults.conftest import free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def portal_env(tmp_path):
    """A fresh var/ with its own SQLite database, lab and (embedded) Redis, migrated."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "VAULTLINE_TEST_RUN", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(VAULTLINE_VAR_DIR=str(tmp_path / "var"), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               BACKUP_SCHEDULER_INTERVAL_SECONDS="3600")  # nothing answers there: the embedded Redis starts
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


class Portal:
    def __init__(self, env, folder):
        self.port = free_port()
        self.output = open(folder / f"runportal-{self.port}.log", "w+")
        # Its own session, as a terminal's foreground job: Ctrl-C is SIGINT to its process group.
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runportal", "--bind", f"127.0.0.1:{self.port}", "--concurrency", "1"],
            cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self):
        self.output.flush()
        with open(self.output.name) as handle:
            return handle.read()

    def pids(self, name):
        return [int(pid) for pid in re.findall(rf"\[runportal\] {name} started \(pid (\d+)\)", self.text())]

    def answers(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/login/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def ctrl_c(self):
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            raise AssertionError("runportal did not stop on Ctrl-C:\n" + self.text()[-3000:]) from None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def port_is_free(port):
    """As gunicorn binds (SO_REUSEADDR): connections left in TIME_WAIT do not count, a listener does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run_once(portal_env, tmp_path, kill=("worker",)):
    portal = Portal(portal_env, tmp_path)
    try:
        wait_until(portal.answers, 60, "the portal did not answer:\n" + portal.text()[-3000:])
        wait_until(lambda: all(portal.pids(name) for name in ("web", "worker", "beat")), 30, "children missing")
        for name in kill:
            (first,) = portal.pids(name)
            os.kill(first, signal.SIGKILL)
            wait_until(lambda name=name: len(portal.pids(name)) == 2, 30, f"{name} was not started again:\n{portal.text()}")
            assert f"{name} (pid {first}) was killed by signal 9; starting it again in 1 s" in portal.text()
        wait_until(portal.answers, 60, "the portal did not answer after the restarts")
        everyone = [pid for name in ("web", "worker", "beat") for pid in portal.pids(name)]
    finally:
        portal.ctrl_c()
    assert "Stopped." in portal.text()
    assert not [pid for pid in everyone if alive(pid)], "every child stopped"
    assert port_is_free(portal.port), "nothing holds the port: the next `make run` can bind it"


def test_a_dead_worker_is_started_again_and_ctrl_c_stops_everything(portal_env, tmp_path):
    for _ in range(2):
        run_once(portal_env, tmp_path)


@pytest.mark.slow
def test_web_worker_and_beat_killed_are_started_again_and_every_stop_is_clean(portal_env, tmp_path):
    run_once(portal_env, tmp_path, kill=("web", "worker", "beat"))
    for _ in range(8):
        run_once(portal_env, tmp_path, kill=())


def test_runportal_killed_takes_its_children_with_it(portal_env, tmp_path):
    portal = Portal(portal_env, tmp_path)
    try:
        wait_until(portal.answers, 60, "the portal did not answer:\n" + portal.text()[-3000:])
        wait_until(lambda: all(portal.pids(name) for name in ("web", "worker", "beat")), 30, "children missing")
        children = [pid for name in ("web", "worker", "beat") for pid in portal.pids(name)]
    finally:
        os.kill(portal.process.pid, signal.SIGKILL)  # no chance to stop anything itself
        portal.process.wait()
    wait_until(lambda: not [pid for pid in children if alive(pid)], 40, "children outlived runportal")
    wait_until(lambda: port_is_free(portal.port), 20, "the port is still held")
    embedded = portal_env["VAULTLINE_VAR_DIR"] + "/redis/"
    wait_until(lambda: not [pid for pid in os.listdir("/proc") if pid.isdigit() and embedded in _cmdline(pid)], 20,
               "its embedded Redis outlived it")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
