"""The vaults app's models, a room per concern; everything is importable from vaults.models."""

from vaults.models.items import ItemStateChange, RecoveryPoint, RegisteredItem, VirtualMachine
from vaults.models.policies import Policy, _january, _sunday
from vaults.models.tenancy import (
    KeyExport,
    Membership,
    StorageSample,
    Subscription,
    Vault,
    VMSource,
    vault_name_validator,
)

__all__ = [
    "ItemStateChange", "KeyExport", "Membership", "Policy", "RecoveryPoint", "RegisteredItem", "StorageSample",
    "Subscription",
    "VMSource", "Vault", "VirtualMachine", "_january", "_sunday", "vault_name_validator",
]
