"""Keep writing to lab VMs' disks, like running guests, so backups have changes to find."""

import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sources import LabSource, SourceUnavailable
from sources.lab_workload import LabWorkload


class Command(BaseCommand):
    help = ("Run the lab workload: random 4 KiB writes to running lab VMs (raw disks: logged in the VM's change "
            "log; qcow2 disks: through qemu-io, marked in the disk's dirty bitmaps).")

    def add_arguments(self, parser):
        parser.add_argument("--lab", default=str(settings.LAB_ROOT))
        parser.add_argument("--vm", action="append", default=[], help="VM name (repeatable; default: all running)")
        parser.add_argument("--seconds", type=float, default=60.0)
        parser.add_argument("--rate", type=float, default=20.0, help="writes per second per VM")

    def handle(self, *args, lab, vm, seconds, rate, **options):
        try:
            vms = [found for found in LabSource(lab).inventory().vms if found.power_state == "running"]
        except SourceUnavailable as error:
            raise CommandError(str(error)) from None
        if vm:
            vms = [found for found in vms if found.name in vm]
        workloads = [LabWorkload(LabSource(lab).root / found.id) for found in vms]
        workloads = [workload for workload in workloads if workload.disks]
        if not workloads:
            raise CommandError("No running lab VM matches.")
        threads = [threading.Thread(target=w.run, args=(seconds, rate)) for w in workloads]
        for thread in threads:
            thread.start()
        self.stdout.write(f"Writing to {len(workloads)} lab VMs for {seconds:.0f} s…")
        for thread in threads:
            thread.join()
        self.stdout.write(self.style.SUCCESS("Done."))
