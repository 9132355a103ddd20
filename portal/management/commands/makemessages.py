"""Django's makemessages, also extracting what jobs say (jobs/messages.py: `note` and `plural_note`
store the English text and show it translated when it is read) and the `_lazy` alias of gettext_lazy
the forms use. Tests, benchmarks and scripts hold no text for people."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=note", "--keyword=plural_note:1,2",
                        "--keyword=_lazy"]

    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), "tests/*", "bench/*", "scripts/*", "var/*"]
        return super().handle(*args, **options)
