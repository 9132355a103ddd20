"""Fifty people at once: browsing the fleet's pages and pressing Backup Now, for five minutes, against
the web server `make run` starts (gunicorn, two processes per CPU plus one, four threads each).

    .venv/bin/python bench/crowd.py [--users 50] [--seconds 300]

On bench/fleet.py's database. First one person for 30 s (the single-user figure), then the crowd.
Each person signs in, then opens a page about every second (a page, or the poll a page makes) and now
and then presses Backup Now on a protected item (refused with a 409 while its job waits: no worker
runs here, so the jobs stay queued, and are cancelled at the end). Prints requests, errors (a 5xx or
no answer), the server's time (its Server-Timing header) and the time seen by the client, p50/p95.
"""

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fleet

ROOT = Path(__file__).resolve().parent.parent
BROKER = "redis://127.0.0.1:6379/12"  # the Backup Now messages go here, and are dropped at the end


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port, env, workers, threads):
    """`make run`'s web server, on its own port."""
    log = open(Path(env["VAULTLINE_VAR_DIR"]) / "crowd-web.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", str(workers), "--threads", str(threads)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/login/", timeout=10).status_code == 200:
                return server
        except requests.RequestException:  # not listening yet, or still importing Django
            time.sleep(0.3)
    server.kill()
    sys.exit("The web server did not answer within 60 s")


class Person(threading.Thread):
    def __init__(self, base, pages, items, vault, until, record):
        super().__init__(daemon=True)
        self.base, self.pages, self.items, self.vault, self.until, self.record = base, pages, items, vault, until, record
        self.session = requests.Session()

    def sign_in(self):
        self.session.get(f"{self.base}/login/", timeout=30)
        self.session.post(f"{self.base}/login/", timeout=30, data={
            "username": fleet.USER, "password": fleet.PASSWORD,
            "csrfmiddlewaretoken": self.session.cookies["csrftoken"]})

    def run(self):
        self.sign_in()
        while time.monotonic() < self.until:
            if random.random() < 0.05:
                self.send("post", f"/vaults/{self.vault}/backup/", data={"selected": random.choice(self.items)},
                          headers={"HX-Request": "true", "X-CSRFToken": self.session.cookies["csrftoken"]})
            else:
                url, headers = random.choice(self.pages)
                self.send("get", url, headers=headers)
            time.sleep(random.uniform(0.5, 1.5))  # a person reads; a poll waits its second

    def send(self, method, url, **options):
        started = time.perf_counter()
        try:
            response = getattr(self.session, method)(self.base + url, timeout=30, allow_redirects=False, **options)
        except requests.RequestException:
            self.record(None, None, url)
            return
        client = (time.perf_counter() - started) * 1000
        timing = re.search(r"dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
        failed = response.status_code >= 500 or response.status_code not in (200, 204, 286, 302, 409)
        self.record(None if failed else client, float(timing[1]) if timing else None, url)


def crowd(base, users, seconds, pages, items, vault):
    results, lock = {"client": [], "server": [], "errors": []}, threading.Lock()

    def record(client, server, url):
        with lock:
            if client is None:
                results["errors"].append(url)
            else:
                results["client"].append(client)
                results["server"].append(server)

    until = time.monotonic() + seconds
    people = [Person(base, pages, items, vault, until, record) for _ in range(users)]
    for person in people:
        person.start()
    for person in people:
        person.join()
    return results


def p95(values):
    values = sorted(values)
    return values[max(0, int(len(values) * 0.95) - 1)] if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=0, help="web processes (default: runportal's)")
    parser.add_argument("--web-threads", type=int, default=0, help="threads a process (default: runportal's)")
    args = parser.parse_args()
    from portal.management.commands.runportal import default_web_threads, default_web_workers

    workers, threads = args.web_workers or default_web_workers(), args.web_threads or default_web_threads()
    fleet.use_fleet_database()
    os.environ["REDIS_URL"] = BROKER
    fleet.prepare()

    from jobs.choices import JobStatus
    from jobs.models import Job
    from vaults.models import Vault

    vault = Vault.objects.get(name="fleet-00")
    item = vault.items.filter(protection_state="protected").order_by("vm__name").first()
    job = Job.objects.filter(vault=vault).order_by("-created_at")[100]
    items = list(vault.items.filter(protection_state="protected").values_list("pk", flat=True)[:200])
    since = Job.objects.filter(vault=vault).order_by("-pk").values_list("pk", flat=True).first()
    base_path, htmx = f"/vaults/{vault.pk}", {"HX-Request": "true"}
    pages = [("/vaults/", {}), (f"{base_path}/dashboard/", {}), (f"{base_path}/dashboard/", htmx),
             (f"{base_path}/dashboard/", htmx), (f"{base_path}/jobs/", {}), (f"{base_path}/jobs/", htmx),
             (f"{base_path}/jobs/?status=failed", {}), (f"{base_path}/protected/", {}), (f"{base_path}/protected/", htmx),
             (f"{base_path}/registered/", {}), (f"{base_path}/items/{item.pk}/", {}), (f"{base_path}/jobs/{job.pk}/", {}),
             (f"{base_path}/tray/?job={job.pk}", htmx)]
    port = free_port()
    server = start_server(port, os.environ.copy(), workers, threads)
    try:
        base = f"http://127.0.0.1:{port}"
        warm = Person(base, pages, items, vault.pk, 0, lambda *result: None)
        warm.sign_in()
        for url, headers in pages * 2 * workers:  # every process has served every page once before timing
            warm.send("get", url, headers=headers)
        alone = crowd(base, 1, 30, pages, items, vault.pk)
        many = crowd(base, args.users, args.seconds, pages, items, vault.pk)
    finally:
        server.terminate()
        server.wait(timeout=60)
        # What the crowd started goes: its queued Backup Now jobs are cancelled (their items settle back).
        for started in Job.objects.filter(vault=vault, pk__gt=since or 0, status=JobStatus.QUEUED):
            started.cancel()
        import redis

        redis.Redis.from_url(BROKER).flushdb()
    print(f"\n{'':<24} {'requests':>9} {'errors':>7} {'server p50':>11} {'server p95':>11} {'client p50':>11} "
          f"{'client p95':>11}  (ms)")
    for name, run in (("1 person, 30 s", alone), (f"{args.users} people, {args.seconds} s", many)):
        print(f"{name:<24} {len(run['client']) + len(run['errors']):>9} {len(run['errors']):>7} "
              f"{statistics.median(run['server']):>11.1f} {p95(run['server']):>11.1f} "
              f"{statistics.median(run['client']):>11.1f} {p95(run['client']):>11.1f}")
    print(f"server p95 with the crowd / alone: {p95(many['server']) / p95(alone['server']):.2f} "
          f"(budget 3); web server: {workers} processes x {threads} threads on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
