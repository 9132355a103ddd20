"""Wrap every vault key anew with the current key-encryption key (vaults/keys.py).

Where the key-encryption key lives in var/ (the default), `--generate` makes a new one: it is added
to the file first (so every wrapped key can still be opened, and every process wraps new vaults with
it from then on), every vault key is wrapped with it, and only once no vault is left on an older key
is the old key dropped from the file. Where it comes from the environment, put the new key in
VAULTLINE_KEY_ENCRYPTION_KEY and the old one in VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS, run this
command, then drop the old one.
"""

import os
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.env import env_str
from vaults.keys import KeyUnavailable, configured, key_id, unwrap, wrap
from vaults.models import Vault

ROUNDS = 5  # passes over vaults made meanwhile (wrapped by a process that had not read the new key yet)


class Command(BaseCommand):
    help = "Wrap every vault key with the current key-encryption key; --generate makes a new one first."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true",
                            help="make a new key-encryption key in var/ and move every vault to it")

    def handle(self, *args, generate, **options):
        path = settings.KEY_ENCRYPTION_KEY_FILE
        if generate:
            if env_str("VAULTLINE_KEY_ENCRYPTION_KEY"):
                raise CommandError(
                    "The key-encryption key comes from VAULTLINE_KEY_ENCRYPTION_KEY: set the new key there and the "
                    "old one in VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS, then run this command without --generate.")
            _write_keys(path, [os.urandom(32), *configured()])  # the new one first; the old ones still open
        keks = configured()
        current = key_id(keks[0])
        moved = 0
        try:
            for _round in range(ROUNDS):
                with transaction.atomic():
                    behind = list(Vault.objects.select_for_update().exclude(wrapped_key__startswith=f"v1:{current}:"))
                    for vault in behind:
                        rewrapped = wrap(vault.uuid, unwrap(vault.uuid, vault.wrapped_key, keks), keks[0])
                        Vault.objects.filter(pk=vault.pk).update(wrapped_key=rewrapped)
                moved += len(behind)
                if not behind:
                    break
            else:
                raise CommandError("Vaults kept being made with an older key; the older keys are kept. Run it again.")
        except KeyUnavailable as error:
            raise CommandError(f"Not every vault could be moved (the older keys are kept): {error}") from None
        if generate:
            _write_keys(path, keks[:1])  # no vault is wrapped with the old one any more
        self.stdout.write(self.style.SUCCESS(
            f"{moved} vault keys wrapped anew; every vault key is wrapped with key-encryption key {current}."
            + (f" It is in {path}: keep a copy of it safe." if generate else " The previous keys can be dropped.")))


def _write_keys(path, keks):
    """Replace the key file atomically and durably (0600), one key per line, the current first."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".key-")
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{kek.hex()}\n" for kek in keks))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
