"""What a job says (its result, its progress, its events, what it found) is stored as a message: the
English text as a code, and its parameters, and put into words when someone reads it, in their own
language and time zone, with sizes and numbers as their language writes them. A worker writes
English into no one's page.

    note("%(vm)s is registered.", vm=str(item.vm))
    plural_note("Retention removed %(count)d older point.", "… %(count)d older points.", "count", count=2)
    note("%(new)s new of %(size)s read.", new=size(stats.new_bytes), size=size(stats.bytes_read))
    joined(first, second)            # sentences shown one after the other

`note` and `plural_note` are gettext keywords (portal's makemessages knows them), so the texts reach
the catalogue. A message stored before this (plain text) is shown through the catalogue too.
"""

import datetime
import logging

from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext

from portal.formats import duration_text

log = logging.getLogger(__name__)


def note(text, **params):
    return {"m": text, "p": params}


def plural_note(singular, plural, count_key, **params):
    return {"m": singular, "pl": plural, "n": count_key, "p": params}


def joined(*parts):
    """Messages shown one after the other (an empty one is left out)."""
    return {"j": [part for part in parts if part]}


def listed(*parts):
    """Messages shown as a list: "a, b, c"."""
    return {"l": list(parts)}


def size(number_of_bytes):
    """A size, written in the reader's language when shown."""
    return {"size": int(number_of_bytes)}


def seconds(amount):
    """A span of time: '3 min 5 s', in the reader's language."""
    return {"seconds": int(amount)}


def error_of(code):
    """What an error code says (jobs.errors): the job's event when it failed with that code."""
    return {"error": str(code)}


def moment(when, format="SHORT_DATETIME_FORMAT"):
    """A time, shown in the reader's time zone and language (`format`: a Django format name, e.g.
    DATE_FORMAT for the day alone)."""
    return {"time": when.isoformat(), "format": format}


def render(message):
    """The message in the current language."""
    if not message:
        return ""
    if isinstance(message, str):  # stored as text before messages had codes, or what a source or library said
        return gettext(message)
    if "j" in message:
        return " ".join(filter(None, (render(part) for part in message["j"])))
    if "l" in message:
        return ", ".join(filter(None, (render(part) for part in message["l"])))
    if "error" in message:
        from jobs.errors import catalogue_message

        return catalogue_message(message["error"])
    params = {name: _value(value) for name, value in message.get("p", {}).items()}
    if "pl" in message:
        text = ngettext(message["m"], message["pl"], int(message["p"].get(message["n"], 0)))
    else:
        text = gettext(message["m"])
    for words in (text, message["m"]):  # a translation that lost a parameter: the English still reads
        try:
            return words % params if params else words
        except (KeyError, ValueError, TypeError):
            continue
    log.warning("A job message does not fit its parameters: %r", message)
    return message["m"]


def _value(value):
    if isinstance(value, dict):
        if "size" in value:
            return filesizeformat(value["size"])
        if "seconds" in value:
            return duration_text(value["seconds"])
        if "time" in value:
            return formats.date_format(timezone.localtime(datetime.datetime.fromisoformat(value["time"])),
                                       value.get("format", "SHORT_DATETIME_FORMAT"))
        return render(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # %(count)d stays a number
    return value
