"""Secrets at rest: vault keys wrapped by a key-encryption key, a private var/, key rotation, an
Owner's recorded export that the repository command line reads, and a clean `check --deploy`."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from jobs.choices import JobStatus
from jobs.runner import run_job
from tests.conftest import client_for, protect
from vaults.errors import ErrorCode
from vaults.keys import KeyUnavailable, configured, key_id, unwrap
from vaults.models import KeyExport, RecoveryPoint, Vault
from vaults.operations.backup import backup as backup_job
from vaults.operations.backup import start_backup


def raw_vault_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM vaults_vault")
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


def test_the_database_never_holds_a_vault_key_in_the_clear(vault):
    key = vault.key()
    assert len(key) == 32
    rows = raw_vault_rows()
    assert key.hex() not in rows and key.hex().upper() not in rows
    assert vault.wrapped_key.startswith(f"v1:{key_id(configured()[0])}:")


def test_var_and_the_key_files_are_private():
    assert oct(settings.VAR_DIR.stat().st_mode & 0o777) == "0o700"
    for name in ("secret_key", "key_encryption_key"):
        path = settings.VAR_DIR / name
        if path.exists():  # the key file is absent where the environment gives the key
            assert oct(path.stat().st_mode & 0o777) == "0o600", name


def test_a_key_wrapped_for_one_vault_does_not_open_as_another(vault, subscription, owner):
    from vaults.services import create_vault

    other = create_vault(subscription=subscription, name="vault-two", region="East US", user=owner)
    with pytest.raises(KeyUnavailable, match="damaged"):
        unwrap(other.uuid, vault.wrapped_key)


def test_without_its_key_encryption_key_a_backup_fails_with_a_clear_code(db, vault, owner, monkeypatch):
    item = protect(vault, owner, "app01", "contoso-app")
    monkeypatch.setenv("VAULTLINE_KEY_ENCRYPTION_KEY", os.urandom(32).hex())  # another key than the one that wrapped it
    job = start_backup(vault, [item.pk], owner)[0]
    run_job(job.pk, backup_job, atomic=False)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.KEY_UNAVAILABLE
    assert "VAULTLINE_KEY_ENCRYPTION_KEY" in job.error_detail


@pytest.fixture
def key_file(settings, tmp_path, monkeypatch):
    """A key-encryption key of this test's own, in a file, as var/ holds it by default."""
    monkeypatch.delenv("VAULTLINE_KEY_ENCRYPTION_KEY", raising=False)
    path = tmp_path / "key_encryption_key"
    first = os.urandom(32)
    path.write_text(first.hex() + "\n")
    path.chmod(0o600)
    settings.KEY_ENCRYPTION_KEY_FILE = path
    return path


def test_rotating_the_key_encryption_key_rewraps_every_vault(key_file, vault, owner, worker):
    item = protect(vault, owner, "app01", "contoso-app")
    (job,) = backups_done(vault, owner, item)
    before = vault.key()
    old = configured()[0]
    call_command("rotate_key_encryption_key", "--generate", stdout=open(os.devnull, "w"))
    (new,) = [bytes.fromhex(line) for line in key_file.read_text().split()]
    assert new != old and oct(key_file.stat().st_mode & 0o777) == "0o600"
    vault.refresh_from_db()
    assert vault.key() == before, "the vault key itself is the same: its backups still open"
    assert key_id(new) in vault.wrapped_key
    with pytest.raises(KeyUnavailable):
        unwrap(vault.uuid, vault.wrapped_key, keks=[old])
    (again,) = backups_done(vault, owner, item)
    assert again.status == JobStatus.COMPLETED, again.error_detail
    assert RecoveryPoint.objects.filter(vm=item.vm).exists()


def backups_done(vault, owner, item):
    from tests.conftest import wait_for_jobs

    return wait_for_jobs(start_backup(vault, [item.pk], owner), timeout=60)


def test_rotating_from_the_environment_uses_the_previous_key_to_unwrap(vault, settings, monkeypatch):
    before = vault.key()
    old, new = configured()[0], os.urandom(32)
    monkeypatch.setenv("VAULTLINE_KEY_ENCRYPTION_KEY", new.hex())
    monkeypatch.setenv("VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS", old.hex())
    with pytest.raises(CommandError, match="VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS"):
        call_command("rotate_key_encryption_key", "--generate")
    call_command("rotate_key_encryption_key", stdout=open(os.devnull, "w"))
    vault.refresh_from_db()
    assert unwrap(vault.uuid, vault.wrapped_key, keks=[new]) == before


def test_a_process_that_started_before_a_rotation_wraps_with_the_new_key(key_file, subscription, owner):
    from vaults.services import create_vault

    configured()  # as a web process that read the key file before
    call_command("rotate_key_encryption_key", "--generate", stdout=open(os.devnull, "w"))
    (new,) = [bytes.fromhex(line) for line in key_file.read_text().split()]
    vault = create_vault(subscription=subscription, name="made-after", region="East US", user=owner)
    assert key_id(new) in vault.wrapped_key and len(vault.key()) == 32


def test_the_admin_does_not_show_keys(vault):
    from tests.factories import UserFactory

    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = client_for(staff).get(f"/admin/vaults/vault/{vault.pk}/change/").content.decode()
    assert vault.key().hex() not in page and vault.wrapped_key not in page


def test_an_owner_exports_the_key_and_the_command_line_reads_it(worker, vault, owner, owner_client, tmp_path):
    item = protect(vault, owner, "app01", "contoso-app")
    backups_done(vault, owner, item)
    page = owner_client.get(f"/vaults/{vault.pk}/").content.decode()
    assert "Export key" in page and "never been exported" in page
    response = owner_client.post(f"/vaults/{vault.pk}/key/", htmx=False)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith('attachment; filename="vaultline-vault-east-')
    text = response.content.decode()
    assert vault.key().hex() in text and "Keep it safe" in text
    (export,) = KeyExport.objects.filter(vault=vault)
    assert export.user == owner and export.address == "127.0.0.1"
    assert "Last exported by owner" in owner_client.get(f"/vaults/{vault.pk}/").content.decode()

    key_file = tmp_path / "exported.key"
    key_file.write_text(text)
    listed = subprocess.run([sys.executable, "-m", "repository", "--repo", vault.storage_location,
                             "--key-file", str(key_file), "list"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert RecoveryPoint.objects.get(vm=item.vm).point_id in listed.stdout


def test_only_an_owner_exports_the_key(vault, member, reader, outsider):
    for user, status in ((member, 403), (reader, 403), (outsider, 404)):
        response = client_for(user).post(f"/vaults/{vault.pk}/key/", htmx=False)
        assert response.status_code == status, user
        assert "Export key" not in client_for(user).get(f"/vaults/{vault.pk}/").content.decode()
    # The role is checked before the method: a GET is refused like a POST, and only an Owner hears 405.
    assert client_for(member).get(f"/vaults/{vault.pk}/key/").status_code == 403
    assert client_for(vault.created_by).get(f"/vaults/{vault.pk}/key/").status_code == 405
    assert not KeyExport.objects.exists()


def test_the_migration_wraps_keys_kept_in_the_clear(transactional_db):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("vaults", "0001_initial")])
    old_apps = executor.loader.project_state([("vaults", "0001_initial")]).apps
    subscription = old_apps.get_model("vaults", "Subscription").objects.create(name="Old")
    clear = os.urandom(32).hex()
    old_vault = old_apps.get_model("vaults", "Vault").objects.create(
        subscription=subscription, name="old-vault", region="East US", encryption_key=clear)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    vault = Vault.objects.get(pk=old_vault.pk)
    assert vault.key().hex() == clear and clear not in raw_vault_rows()


def test_check_deploy_is_clean_over_https(tmp_path):
    env = {**os.environ, "VAULTLINE_HTTPS": "true", "DEBUG": "false", "ALLOWED_HOSTS": "vault.example.com",
           "SECRET_KEY": os.urandom(40).hex(), "VAULTLINE_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the test runner's, for Playwright
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_key_that_cannot_be_unwrapped_is_not_exported_nor_recorded(vault, owner_client, monkeypatch):
    monkeypatch.setenv("VAULTLINE_KEY_ENCRYPTION_KEY", os.urandom(32).hex())  # not the one that wrapped it
    response = owner_client.post(f"/vaults/{vault.pk}/key/", htmx=False, follow=True)
    assert "cannot be exported" in response.content.decode()
    assert not KeyExport.objects.exists()
