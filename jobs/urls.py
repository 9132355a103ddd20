from django.urls import path

import portal.converters  # noqa: F401 - the "id" path converter

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("vaults/<id:pk>/jobs/", views.job_list, name="list"),
    path("vaults/<id:pk>/tray/", views.tray, name="tray"),
    path("jobs/<id:pk>/", views.job_detail, name="detail"),
]
