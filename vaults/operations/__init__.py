"""The vault's operations, one module each: its `start_…` (run in the web request: checks the
request against the current state, moves the items as vaults/states.py says and creates one job per
item, in one transaction, or raises Refused and changes nothing) and its job body (run on a worker
through jobs.runner.run_job from vaults/tasks.py; returns (status, message[, warning code])).

register() hands the operations, their tasks and the vault's error codes to the job core, which
knows none of them by name.
"""

from jobs.errors import register_error_codes
from jobs.registry import register_operation
from vaults.choices import Operation
from vaults.errors import CATALOGUE

# operation -> the Celery task (vaults/tasks.py) that runs its jobs
TASKS = {
    Operation.DISCOVERY: "vaults.tasks.discover",
    Operation.REGISTER: "vaults.tasks.register",
    Operation.UNREGISTER: "vaults.tasks.unregister",
    Operation.CONFIGURE_PROTECTION: "vaults.tasks.configure_protection",
    Operation.STOP_PROTECTION: "vaults.tasks.stop_protection",
    Operation.BACKUP: "vaults.tasks.backup",
    Operation.RESTORE: "vaults.tasks.restore",
    Operation.VERIFY: "vaults.tasks.verify",
    Operation.PRUNE: "vaults.tasks.prune",
    Operation.DELETE_BACKUP_DATA: "vaults.tasks.delete_backup_data",
    Operation.UNDELETE: "vaults.tasks.undelete",
    Operation.PURGE: "vaults.tasks.purge",
}


def register():
    for operation in Operation:
        register_operation(operation, operation.label, TASKS[operation])
    register_error_codes(CATALOGUE)
