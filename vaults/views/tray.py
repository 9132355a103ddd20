"""What the notification tray shows for a set of jobs started by one command."""

from urllib.parse import urlencode


def tray_context(vault, jobs, error=None):
    jobs = list(jobs)
    return {
        "tray": {
            "vault": vault,
            "jobs": jobs,
            "single": jobs[0] if len(jobs) == 1 else None,
            "operation": jobs[0].get_operation_display() if jobs else "",
            "operation_code": jobs[0].operation if jobs else "",
            "active": sum(job.is_active for job in jobs),
            "completed": sum(job.succeeded for job in jobs),
            "failed": sum(job.failed for job in jobs),
            "warnings": sum(job.has_warnings for job in jobs),
            "error": error,
            "poll_query": urlencode([("job", job.pk) for job in jobs]),
        }
    }
