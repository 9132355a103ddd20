from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("vaults/<int:pk>/jobs/", views.job_list, name="list"),
    path("vaults/<int:pk>/tray/", views.tray, name="tray"),
    path("jobs/<int:pk>/", views.job_detail, name="detail"),
]
