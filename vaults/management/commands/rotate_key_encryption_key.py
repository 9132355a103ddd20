"""Wrap every vault key anew with the current key-encryption key (vaults/keys.py).

Where the key-encryption key lives in var/ (the default), `--generate` makes a new one: it is added
to the file first (so every wrapped key can still be opened), every vault key is wrapped with it in
one transaction, and only then is the old key dropped from the file. Where it comes from the
environment, put the new key in VAULTLINE_KEY_ENCRYPTION_KEY and the old one in
VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS, run this command, then drop the old one.
"""

import os
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.env import env_str
from vaults.keys import KeyUnavailable, key_id, unwrap, wrap
from vaults.models import Vault


class Command(BaseCommand):
    help = "Wrap every vault key with the current key-encryption key; --generate makes a new one first."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true",
                            help="make a new key-encryption key in var/ and move every vault to it")

    def handle(self, *args, generate, **options):
        keks = list(settings.KEY_ENCRYPTION_KEYS)
        path = settings.KEY_ENCRYPTION_KEY_FILE
        if generate:
            if env_str("VAULTLINE_KEY_ENCRYPTION_KEY"):
                raise CommandError(
                    "The key-encryption key comes from VAULTLINE_KEY_ENCRYPTION_KEY: set the new key there and the "
                    "old one in VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS, then run this command without --generate.")
            keks = [os.urandom(32), *keks]
            _write_keys(path, keks)  # the new one first; the old ones still open what they wrapped
        current = keks[0]
        try:
            with transaction.atomic():
                vaults = list(Vault.objects.select_for_update().order_by("pk"))
                for vault in vaults:
                    rewrapped = wrap(vault.uuid, unwrap(vault.uuid, vault.wrapped_key, keks), current)
                    Vault.objects.filter(pk=vault.pk).update(wrapped_key=rewrapped)
        except KeyUnavailable as error:
            raise CommandError(f"Nothing was changed: {error}") from None
        if generate:
            _write_keys(path, [current])  # every vault key is wrapped with the new one now
        settings.KEY_ENCRYPTION_KEYS = [current]
        self.stdout.write(self.style.SUCCESS(
            f"{len(vaults)} vault keys are wrapped with key-encryption key {key_id(current)}."
            + (f" It is in {path}: keep a copy of it safe." if generate else " The previous keys can be dropped.")))


def _write_keys(path, keks):
    """Replace the key file atomically (0600), one key per line, the current first."""
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".key-")
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{kek.hex()}\n" for kek in keks))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
