"""Waiting for jobs: a progress bar each (the job's own percent and message), polled until every job
has ended. Returns the ended jobs."""

import time

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from cli.output import err, safe

TERMINAL = {"completed", "completed_with_warnings", "failed", "cancelled"}
SUCCEEDED = {"completed", "completed_with_warnings"}
POLL_SECONDS = 1.0


def wait(client, jobs, poll=POLL_SECONDS, show=True):
    urls = {job["id"]: job["url"] for job in jobs}
    current = {job["id"]: job for job in jobs}
    # Names from the portal are never read as markup.
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[state]}", markup=False), TimeElapsedColumn(), console=err,
                  disable=not show) as progress:
        bars = {job_id: progress.add_task(_label(job), total=100, state="") for job_id, job in current.items()}
        while True:
            for job_id, url in urls.items():
                if current[job_id]["status"] in TERMINAL and "events" in current[job_id]:
                    continue
                current[job_id] = job = client.get(url)
                progress.update(bars[job_id], completed=job["progress"]["percent"], state=_state(job))
            if all(job["status"] in TERMINAL for job in current.values()):
                return [current[job["id"]] for job in jobs]
            time.sleep(poll)


def _label(job):
    return safe(f"{job['operation_display']} {job['entity_name']}").plain


def _state(job):
    text = job["status"].replace("_", " ")
    if job["status"] not in TERMINAL and job["progress"]["message"]:
        text += f" · {job['progress']['message']}"
    return safe(text).plain
