"""What the repository's parts agree on: how an object name looks, and how a time is written."""

import datetime
import re

LIST_NAME = re.compile(r"[0-9a-f]{64}")  # a chunk-list piece's name: its keyed hash in hex


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()
