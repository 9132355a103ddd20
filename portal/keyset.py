"""Pages of a list shown newest first, reached by "newer" and "older" links that hold the place of a
row (its time and id) instead of a page number: the ten-thousandth page costs what the first does,
where OFFSET would walk every row before it. The total is counted up to COUNT_LIMIT rows; beyond that
the page says "more than", never a number it did not count."""

import datetime
import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

COUNT_LIMIT = 10_000
CURSOR = re.compile(r"(older|newer)-([0-9]{1,18})-([0-9]{1,18})")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class BadCursor(ValueError):
    """A cursor the page never makes: its message is for the user."""

    def __init__(self):
        super().__init__(_("That page link is not valid: open the list again from its first page."))


@dataclass
class KeysetPage:
    object_list: list
    newer: str | None  # the cursor of the page before (newer rows), None on the first page
    older: str | None  # the cursor of the page after, None on the last
    total: int  # rows in all, counted up to COUNT_LIMIT
    total_is_lower_bound: bool  # more rows than COUNT_LIMIT: `total` is the limit

    @property
    def is_first(self):
        return self.newer is None


def capped_count(queryset):
    """(rows, more): the queryset's rows counted up to COUNT_LIMIT, and whether there are more."""
    counted = queryset.order_by()[:COUNT_LIMIT + 1].count()
    return min(counted, COUNT_LIMIT), counted > COUNT_LIMIT


def make_cursor(direction, row, time_field):
    moment = getattr(row, time_field) - EPOCH
    micros = (moment.days * 86400 + moment.seconds) * 1_000_000 + moment.microseconds
    return f"{direction}-{micros}-{row.pk}"


def read_cursor(cursor):
    """(direction, time, pk) of a cursor; BadCursor if the page never made it."""
    match = CURSOR.fullmatch(cursor)
    if not match:
        raise BadCursor()
    try:
        moment = EPOCH + datetime.timedelta(microseconds=int(match[2]))
    except OverflowError:
        raise BadCursor() from None
    return match[1], moment, int(match[3])


def keyset_page(queryset, cursor, *, time_field, per_page):
    """The page `cursor` names of `queryset`, newest first by (time_field, pk); the first page for None.
    BadCursor for a cursor the page never made."""
    total, more = capped_count(queryset)
    counted = {"total": total, "total_is_lower_bound": more}
    newest_first = queryset.order_by(f"-{time_field}", "-pk")
    if cursor:
        direction, moment, pk = read_cursor(cursor)
        # The `lte`/`gte` bound lets the index on (…, time, id) start at the row; the OR settles ties.
        if direction == "older":
            rows = list(newest_first.filter(Q(**{f"{time_field}__lt": moment}) | Q(**{time_field: moment, "pk__lt": pk}),
                                            **{f"{time_field}__lte": moment})[:per_page + 1])
            return _page(rows, per_page, time_field, has_newer=True, **counted)
        rows = list(queryset.order_by(time_field, "pk").filter(
            Q(**{f"{time_field}__gt": moment}) | Q(**{time_field: moment, "pk__gt": pk}),
            **{f"{time_field}__gte": moment})[:per_page + 1])
        if len(rows) > per_page:  # there are newer rows still: this is not the first page
            rows = rows[:per_page][::-1]
            return KeysetPage(rows, make_cursor("newer", rows[0], time_field),
                              make_cursor("older", rows[-1], time_field), **counted)
    return _page(list(newest_first[:per_page + 1]), per_page, time_field, has_newer=False, **counted)


def _page(rows, per_page, time_field, *, has_newer, **counted):
    shown = rows[:per_page]
    return KeysetPage(
        shown,
        newer=make_cursor("newer", shown[0], time_field) if has_newer and shown else None,
        older=make_cursor("older", shown[-1], time_field) if len(rows) > per_page else None,
        **counted,
    )
