from django.contrib import admin

from jobs.models import ArchivedJob, Job, JobEvent, JobSubtask
from portal.admin_mixins import LargeTableAdmin, ReadOnlyAdmin


class JobEventInline(ReadOnlyAdmin, admin.TabularInline):
    model = JobEvent
    extra = 0
    readonly_fields = ["at", "old_status", "new_status", "message"]


@admin.register(Job)
class JobAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["pk", "operation", "entity_name", "status", "vault", "created_at", "finished_at"]
    list_filter = ["status", "operation"]
    search_fields = ["entity_name"]
    list_select_related = ["vault"]
    inlines = [JobEventInline]


@admin.register(JobSubtask)
class JobSubtaskAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["job", "name", "status", "started_at", "finished_at"]
    list_select_related = ["job"]
    ordering = ["-pk"]  # newest first, along the primary key's index (no sort of the whole table)


@admin.register(JobEvent)
class JobEventAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["at", "job", "old_status", "new_status", "message"]
    list_filter = ["new_status"]
    list_select_related = ["job"]
    ordering = ["-pk"]  # newest first, along the primary key's index (no sort of the whole table)


@admin.register(ArchivedJob)
class ArchivedJobAdmin(LargeTableAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["pk", "operation", "entity_name", "status", "vault", "created_at", "finished_at"]
    list_filter = ["status", "operation"]
    list_select_related = ["vault"]
