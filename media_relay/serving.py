"""Finding the copy a media URL names, for GET/HEAD /media/{token}/{name}."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from media_relay.files import TOKEN_PATTERN, copy_path
from storage import media as media_store
from storage.database import Storage


async def find_copy(
    storage: Storage, media_dir: Path, token: str, name: str
) -> tuple[Path, str, int] | None:
    """The file for a media URL: (path, content type, size), or None. The token is checked
    before anything is looked up, and alone names the file on disk. Copies in a bucket
    (MEDIA_STORE=s3) are never served here: Tavus fetches them from the bucket."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    row = await storage.run(media_store.get_media_file, token)
    if row is None or row.file_name != name or row.object_key is not None:
        return None
    path = copy_path(media_dir, token)
    try:
        found = await asyncio.to_thread(path.lstat)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return path, row.content_type, found.st_size
