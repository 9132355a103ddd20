"""`vaultline`: the command groups, the options every command shares, and how it ends (cli/exits.py)."""

import traceback
from dataclasses import dataclass

import click
import typer

from cli import config, exits
from cli.client import Client, PortalError
from cli.output import say
from cli.resolve import UsageError

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
        code = exits.USAGE
    except PortalError as error:
        say(f"vaultline: {error}", style="red")
        code = exits.PORTAL
    except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C, or click's word for it
        say("vaultline: interrupted; jobs already started go on in the portal.", style="yellow")
        code = exits.INTERRUPTED
    except click.ClickException as error:  # a missing argument, an unknown option…
        error.show()
        code = exits.USAGE
    except Exception:  # noqa: BLE001 - a bug here, not a failed job: told apart from exit status 1
        say(f"vaultline: unexpected error, please report it:\n{traceback.format_exc()}", style="red")
        code = exits.UNEXPECTED
    raise SystemExit(code if isinstance(code, int) else 0)
