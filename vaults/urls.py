from django.urls import path

import portal.converters  # noqa: F401 - the "id" path converter
from vaults.views import audit, commands, jobs, policies, protect, restore, tabs

app_name = "vaults"
urlpatterns = [
    path("", tabs.vault_list, name="list"),
    path("new/", tabs.vault_create, name="create"),
    path("<id:pk>/", tabs.quick_start, name="quick_start"),
    path("<id:pk>/dashboard/", tabs.dashboard, name="dashboard"),
    path("<id:pk>/key/", tabs.export_key, name="export_key"),
    path("<id:pk>/settings/", tabs.vault_settings, name="settings"),
    path("<id:pk>/delete/", tabs.vault_delete, name="delete"),
    path("<id:pk>/registered/", tabs.registered_items, name="registered_items"),
    path("<id:pk>/protected/", tabs.protected_items, name="protected_items"),
    path("<id:pk>/items/<id:item_pk>/", tabs.item_detail, name="item"),
    path("<id:pk>/discover/", commands.discover, name="discover"),
    path("<id:pk>/register/", commands.register, name="register"),
    path("<id:pk>/unregister/", commands.unregister, name="unregister"),
    path("<id:pk>/stop-protection/", commands.stop_protection, name="stop_protection"),
    path("<id:pk>/backup/", commands.backup_now, name="backup_now"),
    path("<id:pk>/verify/", commands.verify, name="verify"),
    path("<id:pk>/prune/", commands.prune, name="prune"),
    path("<id:pk>/delete-backup-data/", commands.delete_backup_data, name="delete_backup_data"),
    path("<id:pk>/undelete/", commands.undelete, name="undelete"),
    path("<id:pk>/protect/", protect.protect, name="protect"),
    path("<id:pk>/protect/retention/", protect.policy_retention, name="policy_retention"),
    path("<id:pk>/restore/", restore.restore, name="restore"),
    path("<id:pk>/points/<id:point_pk>/disks/<id:disk_index>/", restore.download_disk, name="download_disk"),
    path("<id:pk>/policies/", policies.policies, name="policies"),
    path("<id:pk>/policies/new/", policies.policy_create, name="policy_create"),
    path("<id:pk>/policies/edit/", policies.policy_edit, name="policy_edit"),
    path("<id:pk>/policies/delete/", policies.policy_delete, name="policy_delete"),
    path("<id:pk>/policies/preview/", policies.policy_preview, name="policy_preview"),
    path("<id:pk>/jobs/", jobs.job_list, name="jobs"),
    path("<id:pk>/jobs/<id:job_pk>/", jobs.job_detail, name="job"),
    path("<id:pk>/jobs/older/", jobs.archived_job_list, name="archived_jobs"),
    path("<id:pk>/jobs/older/<id:archived_pk>/", jobs.archived_job_detail, name="archived_job"),
    path("<id:pk>/jobs/<id:job_pk>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("<id:pk>/jobs/<id:job_pk>/retry/", jobs.job_retry, name="job_retry"),
    path("<id:pk>/tray/", jobs.tray, name="tray"),
    path("<id:pk>/audit/", audit.vault_audit, name="audit"),
]
