from django.urls import path

from vaults import views

app_name = "vaults"
urlpatterns = [
    path("", views.vault_list, name="list"),
    path("new/", views.vault_create, name="create"),
    path("<int:pk>/", views.quick_start, name="quick_start"),
    path("<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("<int:pk>/registered/", views.registered_items, name="registered_items"),
    path("<int:pk>/protected/", views.protected_items, name="protected_items"),
    path("<int:pk>/policies/", views.policies, name="policies"),
    path("<int:pk>/discover/", views.discover, name="discover"),
    path("<int:pk>/register/", views.register, name="register"),
    path("<int:pk>/unregister/", views.unregister, name="unregister"),
    path("<int:pk>/protect/", views.protect, name="protect"),
    path("<int:pk>/protect/retention/", views.policy_retention, name="policy_retention"),
    path("<int:pk>/stop-protection/", views.stop_protection, name="stop_protection"),
    path("<int:pk>/backup/", views.backup_now, name="backup_now"),
    path("<int:pk>/verify/", views.verify, name="verify"),
    path("<int:pk>/delete-backup-data/", views.delete_backup_data, name="delete_backup_data"),
    path("<int:pk>/items/<int:item_pk>/", views.item_detail, name="item"),
    path("<int:pk>/restore/", views.restore, name="restore"),
    path("<int:pk>/points/<int:point_pk>/disks/<int:disk_index>/", views.download_disk, name="download_disk"),
    path("<int:pk>/policies/new/", views.policy_create, name="policy_create"),
    path("<int:pk>/policies/delete/", views.policy_delete, name="policy_delete"),
]
