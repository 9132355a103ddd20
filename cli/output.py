"""What the command line prints: tables for people, JSON for scripts (--json). Everything that came
from the portal (names a VM source chose, above all) is printed as text: never read as Rich markup,
with control characters shown escaped."""

import datetime
import json
import sys
import unicodedata

from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


def safe(value):
    """A value as plain text: spaces as spaces, control, bidi and other invisible characters escaped."""
    text = "" if value is None else str(value)
    return Text("".join(_shown(ch) for ch in text))


def _shown(ch):
    if ch.isprintable():
        return ch
    if unicodedata.category(ch) == "Zs":  # a no-break or other width of space
        return " "
    return ch.encode("unicode_escape").decode()


def table(columns, rows, title=None):
    """columns: [(heading, key or function of a row)]."""
    shown = Table(title=safe(title) if title else None, header_style="bold", show_lines=False)
    for heading, _value in columns:
        shown.add_column(heading)
    for row in rows:
        shown.add_row(*[safe(value(row) if callable(value) else row.get(value)) for _heading, value in columns])
    out.print(shown)


def emit(data, as_json, columns=None, title=None):
    """A list of records as a table, one record as a field per line, or either as JSON."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    if isinstance(data, dict) and columns is not None:
        table([("Field", 0), ("Value", 1)], [{0: heading, 1: value(data) if callable(value) else data.get(value)}
                                           for heading, value in columns], title)
        return
    rows = data if isinstance(data, list) else [data]
    if columns is None:
        columns = [(key, key) for key in rows[0]] if rows else []
    if not rows:
        out.print(Text("Nothing to show.", style="dim"))
        return
    table(columns, rows, title)


def say(message, style=None):
    err.print(safe(message) if style is None else Text(str(message), style=style))


def when(value):
    """An API time (ISO 8601, UTC) in this machine's time zone, to the second."""
    if not value:
        return ""
    try:
        return datetime.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return str(value)


def size(value):
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)
