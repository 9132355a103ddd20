"""Admin pieces shared by the apps."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from portal.keyset import capped_count


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


class CappedPaginator(Paginator):
    """Counts up to COUNT_LIMIT rows (its last page is the one at that row, and the page says "more
    than", templates/admin/pagination.html): a count of a whole table of millions of jobs or events
    would cost more than the page it numbers."""

    @cached_property
    def count(self):
        count, self.capped = capped_count(self.object_list)
        return count


class LargeTableAdmin:
    """For tables that grow with every job or VM (jobs, events, points, VMs, the audit log): no count of
    the whole table on each page, and a capped count of the filtered rows."""

    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50
