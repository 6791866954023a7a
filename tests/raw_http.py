"""HTTP by hand, for what an HTTP client library will not do: a request in pieces with pauses
between them, or a byte at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from urllib.parse import urlsplit


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP response (0 if there is none)."""
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send_in_parts(port: int, parts: Sequence[bytes], *, pause: float = 0.2) -> bytes:
    """Send `parts` with `pause` seconds between them; the whole response (read until the
    server closes the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index, part in enumerate(parts):
            if index:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


async def trickle(port: int, data: bytes, *, interval: float, limit: float) -> tuple[float, bytes]:
    """Send `data` a byte every `interval` seconds until the server answers or closes the
    connection; (seconds from connecting until it did, the first bytes of its answer, b"" if it
    closed without one). Gives up after `limit` seconds (returns `limit` then)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    closed = asyncio.create_task(_first_bytes(reader))
    try:
        for byte in data:
            if closed.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([closed], timeout=interval)
            if time.monotonic() - started > limit:
                return limit, b""
        received = await asyncio.wait_for(closed, max(0.0, limit - (time.monotonic() - started)))
        return time.monotonic() - started, received
    except TimeoutError:
        return limit, b""
    finally:
        closed.cancel()
        writer.close()


async def _first_bytes(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read(65536)
    except ConnectionError:  # closed with our bytes unread: a reset, not a clean close
        return b""
