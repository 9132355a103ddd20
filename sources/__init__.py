"""VM sources ("fabrics"): where VMs live. No Django in here.

A source lists the VMs of a region with their disks. The portal keeps one row per source
(kind + location) and opens it with `open_source`.
"""

from sources.base import VM, Disk, Inventory, SourceUnavailable, VMSource
from sources.lab import LabSource

SOURCE_KINDS = {"lab": LabSource}


def open_source(kind, location):
    try:
        source_class = SOURCE_KINDS[kind]
    except KeyError:
        raise SourceUnavailable(f"Unknown VM source kind {kind!r}") from None
    return source_class(location)


__all__ = ["VM", "Disk", "Inventory", "SourceUnavailable", "VMSource", "LabSource", "open_source"]
