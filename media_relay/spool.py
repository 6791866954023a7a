"""An owner-only file written on its own thread: how a download reaches the disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from storage.database import create_private_file, make_private_dir

T = TypeVar("T")


class Spool:
    """A file written on its own thread, one buffer behind the network: the event loop never
    waits on the disk, and at most two buffers are in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-write")
        self._file: BinaryIO | None = None
        self._writing: asyncio.Future[None] | None = None

    def _run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def open(self) -> None:
        def create() -> BinaryIO:
            make_private_dir(self.path.parent)
            # Owner-only from the first byte; os.replace later keeps the mode.
            return os.fdopen(create_private_file(self.path), "wb")

        self._file = await self._run(create)

    async def write(self, chunks: list[bytes]) -> None:
        """Queue chunks for the disk; waits only for the previous write to finish."""
        file = self._file
        assert file is not None
        if self._writing is not None:
            await self._writing  # its OSError (disk full) surfaces here

        self._writing = self._run(lambda: _write_chunks(file, chunks))

    async def close(self) -> None:
        if self._writing is not None:
            await self._writing
            self._writing = None
        if self._file is not None:
            await self._run(self._file.close)

    async def discard(self) -> None:
        """Close and delete the file. Runs after any write still on the thread, and runs to the
        end even if the caller is cancelled meanwhile."""
        writing, file = self._writing, self._file
        if writing is not None:
            # Its error, if any, is the one already being handled.
            writing.add_done_callback(lambda done: done.cancelled() or done.exception())

        def remove() -> None:
            if file is not None:
                # Flushing to a full disk fails again; the file goes anyway.
                with contextlib.suppress(OSError):
                    file.close()
            self.path.unlink(missing_ok=True)

        await asyncio.shield(self._run(remove))

    def shutdown(self) -> None:
        self._thread.shutdown(wait=False)


def _write_chunks(file: BinaryIO, chunks: list[bytes]) -> None:
    """On the disk thread (tests replace it to fill the disk)."""
    file.write(b"".join(chunks))
