"""`make screenshots`: every page, in English and Korean, at 1280×800 and 1920×1080, into
var/screenshots/ (kept out of git), to be looked at before a change to the pages is called done.

It runs a portal of its own (its own var folder, SQLite, a Redis database of its own or an embedded
one, a free port), fills it as a person would through the API (a vault, VMs discovered, registered
and protected, backups, a failed backup, a restore, a policy), then walks the pages in Chromium."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "screenshots"
RUN = ROOT / "var" / "screenshots-portal"
PASSWORD = "screens-pass-1"
SIZES = [(1280, 800), (1920, 1080)]
LANGUAGES = ["en", "ko"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


@contextlib.contextmanager
def portal():
    shutil.rmtree(RUN, ignore_errors=True)
    env = {**os.environ, "VAULTLINE_VAR_DIR": str(RUN), "VAULTLINE_ADMIN_PASSWORD": PASSWORD,
           "VAULTLINE_LAB_ROOT": str(RUN / "lab"), "REDIS_URL": "redis://127.0.0.1:6379/12",
           "BACKUP_SCHEDULER_INTERVAL_SECONDS": "3600"}
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput")
    manage(env, "setupdemo")
    token = manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; from api import tokens; "
                                       "print(tokens.issue(get_user_model().objects.get(username='admin'), "
                                       "'screenshots', 7)[1])").strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen([sys.executable, "manage.py", "runportal", "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the portal did not answer within 60 s") from None
                time.sleep(0.5)
        yield base, token
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Api:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None, **params):
        query = "&".join(f"{key}={value}" for key, value in params.items())
        request = urllib.request.Request(self.base + path + (f"?{query}" if query else ""), method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return json.loads(error.read() or b"null")

    def run(self, path, body=None):
        """A command, waited for; its jobs."""
        jobs = self.call("POST", path, body).get("jobs", [])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = [self.call("GET", job["url"]) for job in jobs]
            if all(job["status"] in ("completed", "completed_with_warnings", "failed", "cancelled") for job in jobs):
                return jobs
            time.sleep(0.5)
        raise RuntimeError(f"jobs still running: {jobs}")


def fill(api):
    """A vault as an afternoon's work leaves it. Returns the ids the pages need."""
    subscription = api.call("GET", "/api/v1/subscriptions/")["results"][0]["id"]
    vault = api.call("POST", "/api/v1/vaults/", {"name": "prod-east", "region": "East US",
                                                   "subscription": subscription})["id"]
    base = f"/api/v1/vaults/{vault}/"
    api.run(base + "discover/")
    vms = {vm["name"] + "/" + vm["cloud_service"]: vm["id"] for vm in api.call("GET", base + "protectable-vms/")["results"]}
    protected = [vms[name] for name in ("web01/contoso-web", "app01/contoso-app", "db01/contoso-data",
                                        "batch01/contoso-app")]
    api.run(base + "register/", {"vms": protected})
    items = {item["vm"]["name"]: item["id"] for item in api.call("GET", base + "items/")["results"]}
    api.run(base + "register/", {"vms": [vms["legacy01/contoso-app"]]})  # registered, left unprotected
    policy = api.call("GET", base + "policies/")["results"][0]["id"]
    api.call("POST", base + "policies/", {"name": "Weekly-long-term", "frequency": "weekly", "weekdays": [6],
                                          "time_of_day": "23:00", "retain_weekly": 104, "retain_monthly": 120,
                                          "retain_yearly": 10})
    api.run(base + "protect/", {"items": list(items.values()), "policy": policy})
    api.run(base + "backup-now/", {"items": [items["web01"], items["app01"]]})
    api.run(base + "backup-now/", {"items": [items["web01"]]})
    failed = api.run(base + "backup-now/", {"items": [items["batch01"]]})[0]  # a stopped VM: it fails
    point = api.call("GET", base + "recovery-points/", item=items["web01"])["results"][0]["id"]
    api.run(base + "restore/", {"point": point, "mode": "new_vm", "name": "web01-copy", "cloud_service": "restored"})
    jobs = api.call("GET", base + "jobs/")["results"]
    return {"vault": vault, "subscription": subscription, "item": items["web01"], "failed": failed["id"],
            "job": next(job["id"] for job in jobs if job["operation"] == "backup" and job["status"] == "completed")}


def pages(ids):
    vault, item = ids["vault"], ids["item"]
    return [
        ("vaults", "/vaults/", None), ("quick-start", f"/vaults/{vault}/", None),
        ("dashboard", f"/vaults/{vault}/dashboard/", None), ("registered", f"/vaults/{vault}/registered/", None),
        ("protected", f"/vaults/{vault}/protected/", None), ("item", f"/vaults/{vault}/items/{item}/", None),
        ("policies", f"/vaults/{vault}/policies/", None), ("jobs", f"/vaults/{vault}/jobs/", None),
        ("job", f"/vaults/{vault}/jobs/{ids['job']}/", None), ("job-failed", f"/vaults/{vault}/jobs/{ids['failed']}/", None),
        ("audit", f"/vaults/{vault}/audit/", None), ("subscriptions", "/subscriptions/", None),
        ("members", f"/subscriptions/{ids['subscription']}/members/", None), ("tokens", "/tokens/", None),
        ("troubleshooting", "/troubleshooting/", None),
        # Dialogs, opened as a person opens them: (the row to tick first, the button).
        ("new-vault", "/vaults/", (None, "a.new-button")),
        ("policy-dialog", f"/vaults/{vault}/policies/", (None, "button[hx-get$='/policies/new/']")),
        ("protect-wizard", f"/vaults/{vault}/protected/", (None, "button.cmd[hx-get$='/protect/']")),
        ("backup-now", f"/vaults/{vault}/protected/", ("tr[data-points=yes] input[type=checkbox]",
                                                      "button.cmd[hx-get$='/backup/']")),
        ("restore-wizard", f"/vaults/{vault}/protected/", ("tr[data-points=yes] input[type=checkbox]",
                                                          "button.cmd[hx-get$='/restore/']")),
    ]


def shoot(base, ids):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        for language in LANGUAGES:
            for width, height in SIZES:
                folder = OUT / f"{language}-{width}x{height}"
                folder.mkdir(parents=True, exist_ok=True)
                context = browser.new_context(viewport={"width": width, "height": height}, locale=language)
                context.add_cookies([{"name": "django_language", "value": language, "url": base}])
                page = context.new_page()
                page.goto(base + "/login/")
                page.fill("#id_username", "admin")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("load")
                for name, path, click in pages(ids):
                    page.goto(base + path)
                    page.wait_for_load_state("load")
                    page.wait_for_function("!document.querySelector('[aria-busy=true]')")  # the Dashboard's charts
                    if click:
                        row, button = click
                        page.wait_for_function("window.htmx !== undefined")
                        if row:
                            page.locator(row).first.check()
                        page.locator(button).first.click()
                        page.wait_for_selector("#modal[open]", timeout=10000)
                        page.wait_for_timeout(300)
                    page.screenshot(path=str(folder / f"{name}.png"))
                    if not click:  # the page scrolls inside its frame: a tall window shows all of it
                        tall = page.evaluate("document.getElementById('content').scrollHeight") + 260
                        if tall > height:
                            page.set_viewport_size({"width": width, "height": tall})
                            page.screenshot(path=str(folder / f"{name}-whole.png"))
                            page.set_viewport_size({"width": width, "height": height})
                context.close()
        browser.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with portal() as (base, token):
        ids = fill(Api(base, token))
        shoot(base, ids)
    print(f"Screenshots in {OUT}: " + ", ".join(sorted(path.name for path in OUT.iterdir())))


if __name__ == "__main__":
    main()
