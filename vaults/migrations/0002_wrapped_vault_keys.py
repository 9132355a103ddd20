"""Vault keys leave the database's clear text: each is wrapped by the key-encryption key."""

from django.db import migrations, models


def wrap_keys(apps, schema_editor):
    from vaults.keys import wrap

    for vault in apps.get_model("vaults", "Vault").objects.all():
        vault.wrapped_key = wrap(vault.uuid, bytes.fromhex(vault.encryption_key))
        vault.save(update_fields=["wrapped_key"])


def unwrap_keys(apps, schema_editor):
    from vaults.keys import unwrap

    for vault in apps.get_model("vaults", "Vault").objects.all():
        vault.encryption_key = unwrap(vault.uuid, vault.wrapped_key).hex()
        vault.save(update_fields=["encryption_key"])


class Migration(migrations.Migration):
    dependencies = [("vaults", "0001_initial")]

    operations = [
        migrations.AddField("vault", "wrapped_key", models.CharField(default="", editable=False, max_length=200),
                            preserve_default=False),
        migrations.RunPython(wrap_keys, unwrap_keys),
        migrations.RemoveField("vault", "encryption_key"),
    ]
