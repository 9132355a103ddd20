"""Django's makemessages, also extracting what jobs say (jobs/messages.py: `note` and `plural_note`
store the English text and show it translated when it is read) and the `_lazy` alias of gettext_lazy
the forms use."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=note", "--keyword=plural_note:1,2",
                        "--keyword=_lazy"]
