"""The `vaultline` command line, as a script runs it: the installed entry point in a subprocess, against
the live portal and a real worker. It protects a VM, backs it up waiting with the progress bar, and
restores it as a new VM through the API; its exit statuses say how things ended."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import tokens
from jobs.models import Job
from tests.conftest import disk_bytes, rewrite_manifest
from vaults.models import RecoveryPoint, VirtualMachine

# `pip install .` (make does `pip install -e .`) puts it beside the interpreter.
VAULTLINE = Path(sys.executable).parent / "vaultline"


@pytest.fixture
def vaultline(live_server, worker, owner, vault, tmp_path):
    assert VAULTLINE.exists(), f"{VAULTLINE} is missing: make installs the project (pip install -e .)"
    _row, token = tokens.issue(owner, "cli", 7)
    settings = {"VAULTLINE_URL": live_server.url, "VAULTLINE_TOKEN": token,
                "VAULTLINE_CONFIG": str(tmp_path / "none.toml"), "COLUMNS": "200"}

    def run(*args, status=0, token_override=None):
        call_env = {**os.environ, **settings, **({"VAULTLINE_TOKEN": token_override} if token_override else {})}
        result = subprocess.run([str(VAULTLINE), *args], env=call_env, capture_output=True, text=True, timeout=180)
        assert result.returncode == status, (args, result.returncode, result.stdout, result.stderr)
        return result

    return run


def test_protect_back_up_wait_and_restore_as_a_new_vm(vaultline, vault):
    vaultline("item", "discover", "--vault", "vault-east", "--wait")
    listed = json.loads(vaultline("--json", "item", "protectable", "--vault", "vault-east").stdout)
    assert {"web01", "app01"} <= {vm["name"] for vm in listed}
    vaultline("item", "register", "web01", "--vault", "vault-east", "--wait")
    vaultline("item", "protect", "web01", "--policy", "DefaultPolicy", "--vault", "vault-east", "--wait")
    backed_up = vaultline("backup", "now", "web01", "--vault", "vault-east", "--wait")
    assert "100%" in backed_up.stderr and "Backup web01 (contoso-web)" in backed_up.stderr  # the progress bar
    assert "completed" in backed_up.stdout
    points = json.loads(vaultline("--json", "rp", "list", "web01", "--vault", "vault-east").stdout)
    assert len(points) == 1 and points[0]["vm_name"] == "web01"
    vaultline("restore", "vm", "web01", "--vault", "vault-east", "--point", str(points[0]["id"]),
              "--as-new", "web01-cli", "--new-cloud-service", "cli-test", "--wait")
    vaultline("item", "discover", "--vault", "vault-east", "--wait")
    copy = VirtualMachine.objects.get(name="web01-cli", cloud_service="cli-test")
    original = RecoveryPoint.objects.get(pk=points[0]["id"]).vm
    assert [disk_bytes(disk) for disk in copy.disks] == [disk_bytes(disk) for disk in original.disks]
    jobs = json.loads(vaultline("--json", "job", "list", "--vault", "vault-east", "--operation", "restore").stdout)
    assert [(job["status"], job["progress"]["percent"]) for job in jobs] == [("completed", 100)]


def test_exit_statuses_say_how_it_ended(vaultline, vault, tmp_path, monkeypatch):
    vaultline("vault", "show", "no-such-vault", status=2)
    # A ~/.netrc entry for the portal's host does not replace the token.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elsewhere\nmachine localhost login a password b\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    vaultline("vault", "show", "vault-east")
    monkeypatch.delenv("NETRC")
    vaultline("vault", "list", status=3, token_override="vl_" + "x" * 43)
    vaultline("item", "discover", "--vault", "vault-east", "--wait")
    vaultline("item", "register", "batch01", "--vault", "vault-east", "--wait")  # a stopped VM
    vaultline("item", "protect", "batch01", "--policy", "DefaultPolicy", "--vault", "vault-east", "--wait")
    failed = vaultline("backup", "now", "batch01", "--vault", "vault-east", "--wait", status=1)
    assert "failed" in failed.stdout and "VMNotRunning" in failed.stdout
    refused = vaultline("item", "register", "batch01", "--vault", "vault-east", status=2)  # registered already
    assert "No protectable VM is called 'batch01'" in refused.stderr
    conflict = vaultline("item", "stop", "batch01", "--vault", "vault-east", "--delete-data", "wrong-name", status=3)
    assert "batch01" in conflict.stderr
    assert not Job.objects.filter(operation="stop_protection").exists()
    ambiguous = vaultline("item", "register", "app01", "--vault", "vault-east", status=2)
    assert "--cloud-service" in ambiguous.stderr and "contoso-app" in ambiguous.stderr


def test_names_are_printed_as_text_never_as_markup(vaultline, vault, lab_path):
    folder = next(path for path in lab_path.iterdir() if json.loads((path / "vm.json").read_text())["name"] == "app01"
                  and json.loads((path / "vm.json").read_text())["cloud_service"] == "fabrikam-app")
    rewrite_manifest(folder, name="[red]evil[/red]")
    vaultline("item", "discover", "--vault", "vault-east", "--wait")
    shown = vaultline("item", "protectable", "--vault", "vault-east").stdout
    assert "[red]evil[/red]" in shown and "\x1b[" not in shown


def test_a_point_of_another_vm_is_refused_before_anything_is_sent(vaultline, vault):
    vaultline("item", "discover", "--vault", "vault-east", "--wait")
    vaultline("item", "register", "web01", "eu-web01", "--vault", "vault-east", status=2)  # another region
    vaultline("item", "register", "web01", "--vault", "vault-east", "--wait")
    vaultline("item", "protect", "web01", "--policy", "DefaultPolicy", "--vault", "vault-east", "--wait")
    before = Job.objects.count()
    refused = vaultline("restore", "vm", "web01", "--vault", "vault-east", "--point", "999999", "--replace", "--yes",
                        status=2)
    assert "not one of web01's" in refused.stderr and Job.objects.count() == before
