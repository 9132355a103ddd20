"""Names a person types, found in the portal: a vault by name (or id), a VM among a vault's items or
its protectable VMs by name (and cloud service where names repeat), a policy by name."""


class UsageError(Exception):
    """What was typed names nothing, or more than one thing."""


def _one(found, what, typed, hint):
    if not found:
        raise UsageError(f"No {what} is called {typed!r}.")
    if len(found) > 1:
        raise UsageError(f"Several {what}s are called {typed!r}: {hint(found)}.")
    return found[0]


def vault(client, typed, subscription=None):
    vaults = client.all_pages("/api/v1/vaults/")
    if typed.isdigit():
        found = [row for row in vaults if str(row["id"]) == typed]
    else:
        found = [row for row in vaults if row["name"].lower() == typed.lower()]
    if subscription:
        found = [row for row in found if row["subscription_name"] == subscription or str(row["subscription"]) == subscription]
    return _one(found, "vault", typed, lambda rows: "add --subscription, one of " + ", ".join(
        repr(row["subscription_name"]) for row in rows))


def _by_vm_name(rows, names, cloud_service, vm_of, what):
    """The row of each name (one list fetched for them all)."""
    def one(name):
        found = [row for row in rows if vm_of(row)["name"] == name
                 and (cloud_service is None or vm_of(row)["cloud_service"] == cloud_service)]
        return _one(found, what, name, lambda rows: "add --cloud-service, one of " + ", ".join(
            repr(vm_of(row)["cloud_service"]) for row in rows))

    return [one(name) for name in names]


def items(client, vault_row, names, cloud_service=None):
    """The vault's registered items of these VM names."""
    query = {"name": names[0]} if len(names) == 1 else {}
    rows = client.all_pages(f"/api/v1/vaults/{vault_row['id']}/items/", **query)
    return _by_vm_name(rows, names, cloud_service, lambda row: row["vm"], "registered VM")


def item(client, vault_row, name, cloud_service=None):
    return items(client, vault_row, [name], cloud_service)[0]


def protectable_vms(client, vault_row, names, cloud_service=None):
    rows = client.all_pages(f"/api/v1/vaults/{vault_row['id']}/protectable-vms/")
    return _by_vm_name(rows, names, cloud_service, lambda row: row, "protectable VM")


def policy(client, vault_row, name):
    policies = client.all_pages(f"/api/v1/vaults/{vault_row['id']}/policies/")
    return _one([row for row in policies if row["name"].lower() == name.lower()], "policy", name,
                lambda rows: ", ".join(str(row["id"]) for row in rows))
