"""What MEDIA_DIR holds and what things in it are called.

A relayed copy is `MEDIA_DIR/<token>`; a download in progress is
`MEDIA_DIR/.partial/<token>.part`, moved into place once complete. Only names of this shape are
the relay's: the sweep leaves anything else in the folder alone.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from domain.media import media_type

# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
PARTIAL_DIR = ".partial"
PARTIAL_SUFFIX = ".part"
MAX_NAME_LENGTH = 100


def new_token() -> str:
    """A fresh 256-bit token: it alone names a copy on disk and in its URL."""
    return secrets.token_urlsafe(32)


def copy_path(media_dir: Path, token: str) -> Path:
    return media_dir / token


def partial_path(media_dir: Path, token: str) -> Path:
    return media_dir / PARTIAL_DIR / f"{token}{PARTIAL_SUFFIX}"


def token_of_partial(name: str) -> str | None:
    """The token a partial download's file name carries, or None if it is no such name."""
    return name.removesuffix(PARTIAL_SUFFIX) if name.endswith(PARTIAL_SUFFIX) else None


def safe_file_name(name: str, content_type: str) -> str:
    """A URL- and log-safe name for the file: [A-Za-z0-9._-] only, never empty, never starting
    with a dot (so never `.` or `..`), ending in an extension that matches its content type."""
    media = media_type(content_type)
    extensions = media.extensions if media is not None else ()
    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in extensions:
        stem, extension = name, extensions[0] if extensions else "bin"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip(".")
    extension = extension.lower()
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip(".") or "file"
    return f"{stem}.{extension}"
