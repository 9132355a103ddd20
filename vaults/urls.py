from django.urls import path

import portal.converters  # noqa: F401 - the "id" path converter

from vaults import views

app_name = "vaults"
urlpatterns = [
    path("", views.vault_list, name="list"),
    path("new/", views.vault_create, name="create"),
    path("<id:pk>/", views.quick_start, name="quick_start"),
    path("<id:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("<id:pk>/key/", views.export_key, name="export_key"),
    path("<id:pk>/registered/", views.registered_items, name="registered_items"),
    path("<id:pk>/protected/", views.protected_items, name="protected_items"),
    path("<id:pk>/policies/", views.policies, name="policies"),
    path("<id:pk>/discover/", views.discover, name="discover"),
    path("<id:pk>/register/", views.register, name="register"),
    path("<id:pk>/unregister/", views.unregister, name="unregister"),
    path("<id:pk>/protect/", views.protect, name="protect"),
    path("<id:pk>/protect/retention/", views.policy_retention, name="policy_retention"),
    path("<id:pk>/stop-protection/", views.stop_protection, name="stop_protection"),
    path("<id:pk>/backup/", views.backup_now, name="backup_now"),
    path("<id:pk>/verify/", views.verify, name="verify"),
    path("<id:pk>/delete-backup-data/", views.delete_backup_data, name="delete_backup_data"),
    path("<id:pk>/items/<id:item_pk>/", views.item_detail, name="item"),
    path("<id:pk>/restore/", views.restore, name="restore"),
    path("<id:pk>/points/<id:point_pk>/disks/<id:disk_index>/", views.download_disk, name="download_disk"),
    path("<id:pk>/policies/new/", views.policy_create, name="policy_create"),
    path("<id:pk>/policies/delete/", views.policy_delete, name="policy_delete"),
]
