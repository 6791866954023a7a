"""Reading the fields of Tavus's answers: what the client (tavus/client.py) and a listing
(tavus/listing.py) both read, each field checked for its type and bounded, since an answer's
text may reach Slack."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

MAX_THUMBNAIL_URL_CHARS = 2_000


def parse_time(value: Any) -> datetime | None:
    """Tavus's ISO timestamps ("2024-01-24T07:14:03.327Z"); None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def first_str(item: dict[str, Any], *keys: str) -> str | None:
    """The first non-empty string among keys; Tavus is renaming replica_* fields to face_*."""
    for key in keys:
        found = item.get(key)
        if isinstance(found, str) and found:
            return found
    return None


def replica_id_in(item: dict[str, Any]) -> str | None:
    """A replica's id, under either spelling (`replica_id`, or the newer `face_id`)."""
    return first_str(item, "replica_id", "face_id")


def replica_name_in(item: dict[str, Any]) -> str:
    """A replica's name, under either spelling; "" if it has none."""
    return first_str(item, "replica_name", "face_name") or ""


def stripped(value: Any) -> str | None:
    """A string field (a status, a model name) as given, stripped; None if absent or empty."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


# Whitespace (as str.isspace() knows it) and control characters. A regex, not a loop over the
# characters: every replica of a listing has a thumbnail URL, and the loop was half of what
# reading a page of 100 cost (bench/polling.py).
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def thumbnail_url(value: Any) -> str | None:
    """An http(s) URL of at most MAX_THUMBNAIL_URL_CHARS (it may be shown in Slack), else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_THUMBNAIL_URL_CHARS or _UNSAFE_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
