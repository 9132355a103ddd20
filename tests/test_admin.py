"""The Django admin manages every model."""

from django.apps import apps
from django.contrib import admin

from tests.conftest import client_for
from tests.factories import JobFactory, RegisteredItemFactory, UserFactory


def test_every_model_has_a_working_admin(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = RegisteredItemFactory()
    JobFactory(vault=item.vault, vm=item.vm)
    client = client_for(superuser)
    for app_label in ("vaults", "jobs"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), model
            name = model._meta.model_name
            assert client.get(f"/admin/{app_label}/{name}/").status_code == 200, name
            assert client.get(f"/admin/{app_label}/{name}/add/").status_code == 200, name
