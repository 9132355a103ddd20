from django.contrib import admin

from jobs.models import Job, JobEvent, JobSubtask
from portal.admin_mixins import ReadOnlyAdmin


class JobEventInline(ReadOnlyAdmin, admin.TabularInline):
    model = JobEvent
    extra = 0
    readonly_fields = ["at", "old_status", "new_status", "message"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["pk", "operation", "entity_name", "status", "vault", "created_at", "finished_at"]
    list_filter = ["status", "operation"]
    search_fields = ["entity_name"]
    list_select_related = ["vault"]
    inlines = [JobEventInline]


@admin.register(JobSubtask)
class JobSubtaskAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["job", "name", "status", "started_at", "finished_at"]
    list_select_related = ["job"]


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["at", "job", "old_status", "new_status", "message"]
    list_filter = ["new_status"]
    list_select_related = ["job"]
