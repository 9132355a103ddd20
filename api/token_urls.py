from django.urls import path

import portal.converters  # noqa: F401 - the "id" path converter
from api import pages

app_name = "tokens"
urlpatterns = [
    path("", pages.token_list, name="list"),
    path("new/", pages.token_create, name="create"),
    path("<id:pk>/revoke/", pages.token_revoke, name="revoke"),
]
