"""/api/v1/… and the OpenAPI document (/api/schema/) with its reference page (/api/docs/).

Every route is marked with the action each of its methods needs (`requires`), so the role × route test
walks it. API routes answer 401 problems rather than the sign-in page's redirect."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView

import portal.converters  # noqa: F401 - the "id" path converter
from api.views import commands, policies, reads
from api.views.document import SchemaView
from portal.access import Action, requires

app_name = "api"


def route(pattern, view, name):
    return path(pattern, requires(view.rules, on=view.on)(login_not_required(view.as_view())), name=name)


VAULT = "v1/vaults/<id:pk>/"
urlpatterns = [
    route("v1/subscriptions/", reads.SubscriptionList, "subscriptions"),
    route("v1/subscriptions/<id:pk>/", reads.SubscriptionDetail, "subscription"),
    route("v1/subscriptions/<id:pk>/sources/", reads.SourceList, "sources"),
    route("v1/subscriptions/<id:pk>/audit/", reads.SubscriptionAudit, "subscription-audit"),
    route("v1/vaults/", reads.VaultList, "vaults"),
    route(VAULT, reads.VaultDetail, "vault"),
    route(VAULT + "protectable-vms/", reads.ProtectableVMList, "protectable-vms"),
    route(VAULT + "items/", reads.ItemList, "items"),
    route(VAULT + "items/<id:item_pk>/", reads.ItemDetail, "item"),
    route(VAULT + "recovery-points/", reads.RecoveryPointList, "recovery-points"),
    route(VAULT + "policies/", policies.PolicyList, "policies"),
    route(VAULT + "policies/preview/", policies.PolicyPreview, "policy-preview"),
    route(VAULT + "policies/<id:policy_pk>/", policies.PolicyDetail, "policy"),
    route(VAULT + "jobs/", reads.JobList, "jobs"),
    route(VAULT + "jobs/<id:job_pk>/", reads.JobDetail, "job"),
    route(VAULT + "jobs/<id:job_pk>/cancel/", commands.CancelJob, "job-cancel"),
    route(VAULT + "audit/", reads.VaultAudit, "vault-audit"),
    route(VAULT + "discover/", commands.Discover, "discover"),
    route(VAULT + "register/", commands.Register, "register"),
    route(VAULT + "unregister/", commands.Unregister, "unregister"),
    route(VAULT + "protect/", commands.Protect, "protect"),
    route(VAULT + "backup-now/", commands.BackupNow, "backup-now"),
    route(VAULT + "restore/", commands.Restore, "restore"),
    route(VAULT + "stop-protection/", commands.StopProtection, "stop-protection"),
    route(VAULT + "delete-backup-data/", commands.DeleteBackupData, "delete-backup-data"),
    route(VAULT + "undelete/", commands.Undelete, "undelete"),
    route(VAULT + "verify/", commands.Verify, "verify"),
    route(VAULT + "prune/", commands.Prune, "prune"),
    # The document needs a token or a session; the reference page is a page (sign in first).
    path("schema/", requires(Action.VIEW)(login_not_required(SchemaView.as_view())), name="schema"),
    path("docs/", requires(Action.VIEW)(login_required(SpectacularSwaggerView.as_view(url_name="api:schema"))),
         name="docs"),
]
