"""Admin pieces shared by the apps."""


class ReadOnlyAdmin:
    """For rows the jobs own (jobs, their events and sub-tasks, recovery points, state changes):
    staff may look, never add, change or delete, so the admin cannot make them disagree with the
    repository or the history."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
