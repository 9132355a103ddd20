"""What each recorded action is called. An entry stores the route's name (`vaults:backup_now`);
the apps that own the routes register how a person reads it (`Backup Now`)."""

_LABELS = {}


def register(labels):
    """{route name: label}: the apps call this when they are ready."""
    _LABELS.update(labels)


def label(action):
    found = _LABELS.get(action)
    if found is not None:
        return found
    return action.rpartition(":")[2].replace("_", " ").replace("-", " ").capitalize()


def choices():
    """(action, label) of every registered action, by label: the filter's choices."""
    return sorted(((action, str(text)) for action, text in _LABELS.items()), key=lambda pair: pair[1].lower())
