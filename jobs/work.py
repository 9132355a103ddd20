"""A job's work files: snapshot copies and restored images, which hold a customer's disk data in the
clear. Each job gets a private folder (0700, its files 0600) under WORK_ROOT, made afresh and removed
whatever happens; what a killed worker left behind is swept at worker start and by the reaper.
"""

import contextlib
import logging
import os
import re
import shutil
from pathlib import Path

from django.conf import settings

from jobs.choices import JobStatus

log = logging.getLogger(__name__)
FOLDER = re.compile(r"job-([0-9]{1,19})")


def folder_of(job_id):
    return Path(settings.WORK_ROOT) / f"job-{job_id}"


@contextlib.contextmanager
def work_folder(job):
    """The job's own private folder for the block, removed afterwards whatever happened."""
    path = folder_of(job.pk)
    _remove(path)  # left by an earlier attempt at this job
    root = Path(settings.WORK_ROOT)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    root.chmod(0o700)
    path.mkdir(mode=0o700)  # never one that is there: a planted folder or symlink makes this fail
    try:
        yield path
    finally:
        _remove(path)


def _remove(path):
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)
    except OSError:
        log.warning("Could not remove the work folder %s", path, exc_info=True)


def _folders():
    """{job id: folder} of every job folder under WORK_ROOT."""
    root = Path(settings.WORK_ROOT)
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return {}
    return {int(match[1]): root / entry.name for entry in entries if (match := FOLDER.fullmatch(entry.name))}


def sweep():
    """Remove the work folders of jobs that are no longer running (a worker killed mid-job leaves
    its copies behind). Returns how many went."""
    from jobs.models import Job

    folders = _folders()
    running = set(Job.objects.filter(pk__in=folders, status__in=JobStatus.active()).values_list("pk", flat=True))
    swept = 0
    for job_id, path in folders.items():
        if job_id not in running:
            _remove(path)
            swept += 1
    if swept:
        log.info("Swept the work files of %d ended jobs", swept)
    return swept


def space_held(jobs):
    """Bytes the work folders of these jobs (a queryset) take on the disk now."""
    folders = _folders()
    held = 0
    for job_id in jobs.filter(pk__in=folders).values_list("pk", flat=True):
        for parent, _dirs, files in os.walk(folders[job_id]):
            for name in files:
                with contextlib.suppress(OSError):
                    held += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return held
