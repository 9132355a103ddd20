"""JSON request bodies, read safely: UTF-8 only, no larger than Django lets any request body be
(DATA_UPLOAD_MAX_MEMORY_SIZE), and a body nested too deep for the parser is a 400 like any other
that cannot be read."""

import codecs
import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            if codecs.lookup(encoding).name != "utf-8":
                raise ParseError(_("A JSON body must be UTF-8."))
        except LookupError:
            raise ParseError(_("A JSON body must be UTF-8.")) from None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None:
            body = b""
        else:
            body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise ParseError(_("The body is larger than %(limit)d bytes.") % {"limit": limit})
        try:
            return json.loads(body.decode("utf-8"), parse_constant=json_constant_refused)
        except (ValueError, RecursionError) as error:
            raise ParseError(_("The body is not valid JSON: %(error)s") % {"error": str(error)[:200]}) from None


def json_constant_refused(name):
    """NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON value")
