from django.urls import path

import portal.converters  # noqa: F401 - the "id" path converter
from vaults.views import audit, members

app_name = "subscriptions"
urlpatterns = [
    path("", members.subscription_list, name="list"),
    path("<id:pk>/members/", members.member_list, name="members"),
    path("<id:pk>/members/add/", members.member_add, name="member_add"),
    path("<id:pk>/members/<id:member_pk>/role/", members.member_role, name="member_role"),
    path("<id:pk>/members/<id:member_pk>/remove/", members.member_remove, name="member_remove"),
    path("<id:pk>/audit/", audit.subscription_audit, name="audit"),
]
