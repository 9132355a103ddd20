"""The records: subscriptions and their VM sources, vaults (and a new one), the VMs a vault may
protect, its items, recovery points, jobs (with their sub-tasks and events) and the audit log.
Lists filter as the pages do; a filter that is not valid is a 400, never read as no filter."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins
from rest_framework.response import Response

from api import serializers
from api.views.base import ScopedView, form_invalid, newest_first, refused
from audit import trail
from audit.filters import AuditFilter
from audit.models import AuditEntry
from jobs.models import Job
from portal.access import Action
from portal.htmx import MAX_ID
from vaults import queries, services
from vaults.choices import ProtectionState, RegistrationState
from vaults.errors import Refused
from vaults.filters import JobFilter
from vaults.forms import VaultForm
from vaults.models import RecoveryPoint, RegisteredItem, Subscription, Vault, VirtualMachine, VMSource


class ListView(mixins.ListModelMixin, ScopedView):
    """A filtered, paged list of `records()`. (While drf-spectacular builds the document there is no
    request, only the model: `queryset`.)"""

    filter_backends = [filters.DjangoFilterBackend]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return self.records()

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


class SubscriptionList(ListView):
    serializer_class = serializers.SubscriptionSerializer
    queryset = Subscription.objects.none()

    def records(self):
        return Subscription.objects.restrict(self.request.user).order_by("name", "pk")


class SubscriptionDetail(ScopedView):
    on = "subscription"
    serializer_class = serializers.SubscriptionSerializer

    def get(self, request, pk):
        return Response(self.get_serializer(self.scope).data)


class SourceList(ListView):
    on = "subscription"
    serializer_class = serializers.SourceSerializer
    queryset = VMSource.objects.none()

    def records(self):
        return self.scope.sources.order_by("name", "pk")


class VaultList(ListView):
    rules = {"GET": Action.VIEW, "POST": Action.CHANGE}
    serializer_class = serializers.VaultSerializer
    queryset = Vault.objects.none()
    audit_action = "vaults:create"

    def records(self):
        return Vault.objects.restrict(self.request.user).select_related("subscription").order_by("name", "pk")

    @extend_schema(responses={201: serializers.VaultSerializer})
    def post(self, request):
        if not Subscription.objects.restrict(request.user, Action.CHANGE).exists():
            raise exceptions.PermissionDenied(_("Your role in your subscriptions does not allow creating a vault."))
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = VaultForm({"name": body.validated_data["name"], "region": body.validated_data["region"],
                          "subscription": body.validated_data["subscription"].pk}, user=request.user)
        if not form.is_valid():
            raise form_invalid(form)
        try:
            vault = services.create_vault(user=request.user, **form.cleaned_data)
        except Refused as refusal:
            raise refused(refusal) from None
        trail.note(request, scope=vault, target=vault.name, changes=trail.changes(
            {}, {"name": vault.name, "region": vault.region, "subscription": vault.subscription}))
        return Response(self.get_serializer(self.records().get(pk=vault.pk)).data, status=201)


class VaultDetail(ScopedView):
    on = "vault"
    serializer_class = serializers.VaultSerializer

    def get(self, request, pk):
        return Response(self.get_serializer(self.vault).data)


class ProtectableVMList(ListView):
    """The VMs the vault's last discovery found that no vault has registered: what Register takes."""

    on = "vault"
    serializer_class = serializers.VirtualMachineSerializer
    queryset = VirtualMachine.objects.none()

    def records(self):
        return queries.registrable_vms(self.vault).order_by("name", "cloud_service", "pk")


class ItemFilter(filters.FilterSet):
    # One state per item: no DISTINCT (it would compare every column of every row).
    protection_state = filters.MultipleChoiceFilter(choices=ProtectionState.choices, distinct=False)
    registration_state = filters.MultipleChoiceFilter(choices=RegistrationState.choices, distinct=False)
    name = filters.CharFilter(field_name="vm__name", max_length=64, help_text="The VM's name, exactly.")

    class Meta:
        model = RegisteredItem
        fields = ["protection_state", "registration_state", "name"]


class ItemList(ListView):
    on = "vault"
    serializer_class = serializers.ItemSerializer
    queryset = RegisteredItem.objects.none()
    filterset_class = ItemFilter

    def records(self):
        return queries.in_name_order(self.vault.items.select_related("vm", "policy"))

    def paginate_queryset(self, queryset):
        """The page's items with their recovery points' count and newest (counted for the page only)."""
        page = super().paginate_queryset(queryset)
        return page if page is None else queries.add_recovery_points(page)


class ItemDetail(ScopedView):
    on = "vault"
    serializer_class = serializers.ItemSerializer

    def get(self, request, pk, item_pk):
        item = get_object_or_404(self.vault.items.select_related("vm", "policy"), pk=item_pk)
        return Response(self.get_serializer(queries.add_recovery_points([item])[0]).data)


class PointFilter(filters.FilterSet):
    item = filters.NumberFilter(method="of_item", min_value=1, max_value=MAX_ID,
                                help_text="Only this item's recovery points.")

    class Meta:
        model = RecoveryPoint
        fields = ["item"]

    def of_item(self, queryset, name, value):
        return queryset.filter(vm__registration__pk=value)


class RecoveryPointList(ListView):
    on = "vault"
    serializer_class = serializers.RecoveryPointSerializer
    queryset = RecoveryPoint.objects.none()
    filterset_class = PointFilter

    def records(self):
        return self.vault.recovery_points.select_related("vm").order_by("-created_at", "-pk")


class JobList(ListView):
    """Newest first, a cursor per page; filtered as the Jobs tab is (status, operation, start, end)."""

    on = "vault"
    serializer_class = serializers.JobSerializer
    queryset = Job.objects.none()
    filterset_class = JobFilter
    pagination_class = newest_first("-created_at", "-pk")

    def records(self):
        return Job.objects.filter(vault=self.vault).select_related("created_by")


class JobDetail(ScopedView):
    on = "vault"
    serializer_class = serializers.JobDetailSerializer

    def get(self, request, pk, job_pk):
        jobs = Job.objects.filter(vault=self.vault).select_related("created_by").prefetch_related("subtasks", "events")
        return Response(self.get_serializer(get_object_or_404(jobs, pk=job_pk)).data)


class AuditList(ListView):
    """The audit log of a vault, or of a subscription (its vaults and its members): newest first."""

    serializer_class = serializers.AuditEntrySerializer
    queryset = AuditEntry.objects.none()
    filterset_class = AuditFilter
    pagination_class = newest_first("-at", "-pk")

    def records(self):
        field = "vault_id" if self.on == "vault" else "subscription_id"
        return AuditEntry.objects.filter(**{field: self.scope.pk})


class VaultAudit(AuditList):
    on = "vault"


class SubscriptionAudit(AuditList):
    on = "subscription"
