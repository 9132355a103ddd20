from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self):
        from portal import zones  # noqa: F401 - a user's chosen time zone, remembered at sign-in
