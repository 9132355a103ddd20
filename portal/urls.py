from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views
from portal.access import Action, requires

urlpatterns = [
    path("", requires(Action.VIEW)(RedirectView.as_view(pattern_name="vaults:list")), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/", views.preferences, name="preferences"),
    path("vaults/", include("vaults.urls")),
    path("subscriptions/", include("vaults.subscription_urls")),
    path("", include("jobs.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("api.urls")),
    path("tokens/", include("api.token_urls")),
]

# Django's own error pages answer problem details under /api/.
handler400 = "api.problems.handler400"
handler403 = "api.problems.handler403"
handler404 = "api.problems.handler404"
handler500 = "api.problems.handler500"
