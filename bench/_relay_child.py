"""The "bot" side of bench/relay_throughput.py: relays one Slack file, then prints one JSON line
with its timing and this process's peak memory. Run by the benchmark, not by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from domain.request import Mode, ReplicaRequest, SlackOrigin
from media_relay.relay import MediaRelay
from slack_access.clients import SlackClients
from storage import replicas as store
from storage.database import Storage


async def watch_loop(lags: list[float]) -> None:
    """Record how late a 10 ms timer fires: the longest the event loop was kept busy."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - started - 0.01)


def peak_rss_bytes() -> int:
    """VmHWM, the resident set's high-water mark; getrusage where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def main(args: argparse.Namespace) -> dict[str, object]:
    storage = Storage(Path(args.database))
    await storage.open()
    request_id = await storage.run(
        store.insert_request,
        view_id="VBENCH",
        request=ReplicaRequest(replica_name="Bench", mode=Mode.VIDEO),
        origin=SlackOrigin(requester_id="U1", channel_id="C1"),
        callback_token_hash="bench",
    )
    assert request_id is not None
    relay = MediaRelay(
        media_dir=Path(args.media_dir),
        storage=storage,
        slack=SlackClients(AsyncWebClient(token=args.token, base_url=args.api_url)),
        public_url="https://bench.example.test",
        max_video_bytes=None,
    )
    rss_before = peak_rss_bytes()
    lags: list[float] = []
    watcher = asyncio.create_task(watch_loop(lags))
    try:
        started = time.perf_counter()
        relayed = await relay.relay(args.file_id, request_id)
        seconds = time.perf_counter() - started
    finally:
        watcher.cancel()
        await relay.aclose()
        await storage.close()
    return {
        "seconds": seconds,
        "size": relayed.size,
        "path": str(Path(args.media_dir) / relayed.token),
        "peak_rss_before": rss_before,
        "peak_rss": peak_rss_bytes(),
        "max_loop_lag": max(lags, default=0.0),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--file-id", required=True)
    parser.add_argument("--media-dir", required=True)
    parser.add_argument("--database", required=True)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
