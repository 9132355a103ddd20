"""URL converters. An id in a URL is ASCII digits that fit a database key: anything else is a 404,
never a 500 from a number the database cannot hold."""

from django.urls import register_converter

from portal.htmx import MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value):
        number = int(value)
        if number > MAX_ID:
            raise ValueError("too large for an id")
        return number

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")
