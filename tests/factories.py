import datetime

import factory
from django.contrib.auth import get_user_model

from jobs.choices import JobStatus
from jobs.models import Job
from portal.access import Role
from vaults.choices import Frequency, Operation, PowerState, RegistrationState
from vaults.models import (
    Membership,
    Policy,
    RecoveryPoint,
    RegisteredItem,
    Subscription,
    Vault,
    VirtualMachine,
    VMSource,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-word-123")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    name = factory.Sequence(lambda n: f"Subscription {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    subscription = factory.SubFactory(SubscriptionFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.CONTRIBUTOR


class VMSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VMSource

    subscription = factory.SubFactory(SubscriptionFactory)
    name = factory.Sequence(lambda n: f"Lab {n}")
    kind = "lab"
    location = "/nonexistent"


class VaultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vault

    subscription = factory.SubFactory(SubscriptionFactory)
    name = factory.Sequence(lambda n: f"vault-{n}")
    region = "East US"


class VirtualMachineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VirtualMachine

    source = factory.SubFactory(VMSourceFactory)
    external_id = factory.Sequence(lambda n: f"vm-{n:04d}")
    name = factory.Sequence(lambda n: f"vm{n}")
    cloud_service = "svc"
    region = "East US"
    power_state = PowerState.RUNNING
    has_backup_extension = True
    disks = factory.LazyFunction(lambda: [{"name": "OS disk", "path": "/x", "format": "raw", "virtual_size": 1024}])


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Policy

    vault = factory.SubFactory(VaultFactory)
    name = factory.Sequence(lambda n: f"Policy{n}")
    frequency = Frequency.DAILY
    time_of_day = datetime.time(22, 0)
    retain_daily = 30


class RegisteredItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredItem

    vault = factory.SubFactory(VaultFactory)
    vm = factory.SubFactory(
        VirtualMachineFactory, source__subscription=factory.SelfAttribute("...vault.subscription")
    )
    registration_state = RegistrationState.REGISTERED


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    vault = factory.SubFactory(VaultFactory)
    entity_name = factory.LazyAttribute(lambda job: job.vault.name)
    operation = Operation.DISCOVERY
    status = JobStatus.COMPLETED


class RecoveryPointFactory(factory.django.DjangoModelFactory):
    """A point's row only (no data in a repository): for pages and counts."""

    class Meta:
        model = RecoveryPoint

    vault = factory.SubFactory(VaultFactory)
    vm = factory.SubFactory(VirtualMachineFactory)
    point_id = factory.Sequence(lambda n: f"{n:064x}")
    consistency = "crash"
    size = 1024
