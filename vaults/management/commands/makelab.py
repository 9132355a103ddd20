"""Build the demo lab: real disk images for a dozen VMs over several regions and cloud services."""

import shutil
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sources import SourceUnavailable
from sources.lab_build import MiB, build_lab

# (name, cloud service, region, disks, power state, backup extension)
DEMO_LAB = [
    ("web01", "contoso-web", "East US", [("qcow2", 64 * MiB)], "running", True),
    ("web02", "contoso-web", "East US", [("qcow2", 64 * MiB)], "running", True),
    ("db01", "contoso-data", "East US", [("raw", 48 * MiB), ("qcow2", 64 * MiB)], "running", True),
    ("app01", "contoso-app", "East US", [("raw", 32 * MiB)], "running", True),
    ("app01", "fabrikam-app", "East US", [("raw", 32 * MiB)], "running", True),
    ("batch01", "contoso-app", "East US", [("qcow2", 32 * MiB)], "stopped", True),
    ("legacy01", "contoso-app", "East US", [("raw", 32 * MiB)], "running", False),
    ('<b>odd & "quoted"</b>', "fabrikam-app", "East US", [("raw", 16 * MiB)], "running", True),
    ("web01", "northwind-web", "West Europe", [("qcow2", 64 * MiB)], "running", True),
    ("db01", "northwind-data", "West Europe", [("raw", 48 * MiB)], "running", True),
    ("cache01", "northwind-web", "West Europe", [("raw", 16 * MiB)], "running", True),
    ("mail01", "northwind-mail", "West Europe", [("qcow2", 32 * MiB)], "running", True),
    ("kr-web01", "contoso-kr", "Korea Central", [("qcow2", 32 * MiB)], "running", True),
]


class Command(BaseCommand):
    help = "Create the demo lab of VMs (real raw and qcow2 disk images) in a folder."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(settings.LAB_ROOT), help="Lab folder (default: %(default)s).")
        parser.add_argument("--replace", action="store_true", help="Delete an existing lab folder first.")

    def handle(self, *args, path, replace, **options):
        root = Path(path)
        if root.exists() and any(root.iterdir()):
            if not replace:
                self.stdout.write(f"The lab at {root} already exists; leaving it as it is.")
                return
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        try:
            build_lab(root, DEMO_LAB)
        except (OSError, SourceUnavailable, subprocess.CalledProcessError) as error:
            raise CommandError(f"Could not create the lab: {error}") from error
        used = sum(f.stat().st_blocks * 512 for f in root.rglob("*") if f.is_file())
        self.stdout.write(self.style.SUCCESS(
            f"Created {len(DEMO_LAB)} lab VMs in {root} ({used / MiB:.0f} MiB on disk)."
        ))
