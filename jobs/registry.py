"""The operations the job core runs, as the apps that own them register them: each with its label
and the Celery task that runs its jobs (the task receives only the job's id). The core knows no
operation by name."""

from dataclasses import dataclass


class UnknownOperation(LookupError):
    """A job of an operation no app registered: it could never run."""


@dataclass(frozen=True)
class JobType:
    operation: str
    label: str
    task: str  # the Celery task's name


_TYPES = {}


def register_operation(operation, label, task):
    _TYPES[str(operation)] = JobType(str(operation), label, task)


def job_type(operation):
    try:
        return _TYPES[str(operation)]
    except KeyError:
        raise UnknownOperation(f"No app registered the operation {operation!r}") from None


def operation_choices():
    """The Job.operation field's choices (a callable, so the apps register theirs first)."""
    return [(kind.operation, kind.label) for kind in _TYPES.values()]
