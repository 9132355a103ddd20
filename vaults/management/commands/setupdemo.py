"""Create the login, subscription and lab VM source that `make run` starts with."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.access import Role
from portal.env import env_str
from vaults.choices import SourceKind
from vaults.models import Membership, Subscription, VMSource


class Command(BaseCommand):
    help = "Create the demo login (VAULTLINE_ADMIN_USER / VAULTLINE_ADMIN_PASSWORD), subscription and lab."

    def handle(self, *args, **options):
        call_command("makelab", stdout=self.stdout)
        username = env_str("VAULTLINE_ADMIN_USER", "admin")
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = env_str("VAULTLINE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, password=password, email="")
            self.stdout.write(self.style.SUCCESS(
                f"Created the login {username!r} with password {password!r} (shown once)."
            ))
        subscription, _ = Subscription.objects.get_or_create(name="Demo subscription")
        Membership.objects.get_or_create(subscription=subscription, user=user, defaults={"role": Role.OWNER})
        VMSource.objects.get_or_create(
            subscription=subscription, name="Demo lab",
            defaults={"kind": SourceKind.LAB, "location": str(settings.LAB_ROOT)},
        )
        self.stdout.write("The demo subscription has the lab VM source 'Demo lab'.")
