"""`vaultline`: the command groups, the options every command shares, and how it ends:
0 when everything (and every job waited for) succeeded, 1 when a job failed or was cancelled,
2 for a usage error, 3 when the portal refused or could not be reached, 130 on Ctrl-C."""

from dataclasses import dataclass

import click
import typer

from cli import config
from cli.client import Client, PortalError
from cli.output import say
from cli.resolve import UsageError

EXIT_JOB_FAILED, EXIT_USAGE, EXIT_PORTAL, EXIT_INTERRUPTED = 1, 2, 3, 130

app = typer.Typer(help="Vaultline's command line: back up and restore VMs through the portal's REST API.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)


@dataclass
class Context:
    url: str | None
    token: str | None
    json: bool
    _client: Client | None = None

    @property
    def client(self):
        if self._client is None:
            self._client = Client(config.load(self.url, self.token))
        return self._client


@app.callback()
def options(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="The portal (else VAULTLINE_URL, or the config file)."),
    token: str = typer.Option(None, "--token", help="An API token (else VAULTLINE_TOKEN, or the config file)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
):
    ctx.obj = Context(url=url, token=token, json=as_json)


def _groups():
    from cli import commands, records

    for name, group in {**records.GROUPS, **commands.GROUPS}.items():
        app.add_typer(group, name=name)


_groups()


def main():
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n
    except (UsageError, config.ConfigError) as error:
        say(f"vaultline: {error}", style="red")
        raise SystemExit(EXIT_USAGE) from None
    except PortalError as error:
        say(f"vaultline: {error}", style="red")
        raise SystemExit(EXIT_PORTAL) from None
    except KeyboardInterrupt:
        say("vaultline: interrupted; jobs already started go on in the portal.", style="yellow")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except click.exceptions.Abort:  # Ctrl-C, as click reports it
        raise SystemExit(EXIT_INTERRUPTED) from None
    except click.ClickException as error:  # a missing argument, an unknown option…
        error.show()
        raise SystemExit(EXIT_USAGE) from None
    raise SystemExit(code if isinstance(code, int) else 0)
