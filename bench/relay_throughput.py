"""How fast and how lean is the media relay? Relays a 1 GiB video from the fake Slack in a child
process (the "bot") and compares it with curl fetching the same URL from the same server.

Run from the repository root:  python bench/relay_throughput.py [--size-mib 1024] [--runs 3]

Targets: the relay's peak RSS under 100 MB, and at least 0.7 x curl's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack  # noqa: E402

MIB = 1024 * 1024
MAX_PEAK_RSS = 100 * 1000 * 1000
MIN_RATIO = 0.7


def make_file(path: Path, size: int) -> str:
    """Random bytes (incompressible, like video), written in chunks; returns the sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        remaining = size
        while remaining:
            chunk = os.urandom(min(8 * MIB, remaining))
            digest.update(chunk)
            file.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


async def run(command: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {process.returncode}")
    return seconds, output


async def curl(url: str, out: Path) -> float:
    command = ["curl", "-s", "-f", "-o", str(out), "-H", f"Authorization: Bearer {BOT_TOKEN}"]
    seconds, _ = await run([*command, url])
    return seconds


async def relay(slack: FakeSlack, file_id: str, work: Path) -> dict[str, float]:
    media_dir, database = work / "media", work / "bot.db"
    shutil.rmtree(media_dir, ignore_errors=True)
    database.unlink(missing_ok=True)
    _, output = await run(
        [
            sys.executable,
            "-m",
            "bench._relay_child",
            f"--api-url={slack.url}/api/",
            f"--token={BOT_TOKEN}",
            f"--file-id={file_id}",
            f"--media-dir={media_dir}",
            f"--database={database}",
        ]
    )
    result: dict[str, float] = json.loads(output)
    return result


def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


async def main(args: argparse.Namespace) -> int:
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed for the comparison")
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="relay-bench-", dir=args.tmp) as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"writing {size / MIB:.0f} MiB of random bytes to {source} …")
        expected = await asyncio.to_thread(make_file, source, size)
        slack = FakeSlack()
        await slack.start()
        try:
            file = slack.add_file("bench.mp4", "video/mp4", source)
            url = file["url_private_download"]
            curl_times: list[float] = []
            relay_times: list[float] = []
            peak_rss = 0.0
            base_rss = 0.0
            max_lag = 0.0
            for attempt in range(1, args.runs + 1):
                # Alternate who goes first, and start each from flushed disk caches, so neither
                # pays for the other's writeback.
                curl_ok = relay_ok = False
                result: dict[str, float] = {}
                for step in ("curl", "relay") if attempt % 2 else ("relay", "curl"):
                    await asyncio.to_thread(os.sync)
                    if step == "curl":
                        out = work / "curl.out"
                        curl_times.append(await curl(url, out))
                        curl_ok = await asyncio.to_thread(sha256_of, out) == expected
                        await asyncio.to_thread(out.unlink)
                    else:
                        result = await relay(slack, file["id"], work)
                        relayed = Path(str(result["path"]))
                        relay_ok = await asyncio.to_thread(sha256_of, relayed) == expected
                        await asyncio.to_thread(relayed.unlink)
                relay_times.append(result["seconds"])
                peak_rss = max(peak_rss, result["peak_rss"])
                base_rss = max(base_rss, result["peak_rss_before"])
                max_lag = max(max_lag, result["max_loop_lag"])
                print(
                    f"run {attempt}: curl {curl_times[-1]:.2f} s, relay {relay_times[-1]:.2f} s, "
                    f"relay peak RSS {result['peak_rss'] / 1e6:.1f} MB, "
                    f"longest event-loop stall {result['max_loop_lag'] * 1000:.0f} ms, "
                    f"sha256 {'ok' if curl_ok and relay_ok else 'MISMATCH'}"
                )
                if not curl_ok or not relay_ok:
                    return 1
        finally:
            await slack.stop()
    best_curl, best_relay = min(curl_times), min(relay_times)
    ratio = best_curl / best_relay
    rss_ok = peak_rss < MAX_PEAK_RSS
    speed_ok = ratio >= MIN_RATIO
    print()
    print(f"bytes           {size}")
    print(f"relay           {best_relay:.2f} s  {mb_per_s(size, best_relay):.0f} MB/s (best run)")
    print(f"curl            {best_curl:.2f} s  {mb_per_s(size, best_curl):.0f} MB/s (best run)")
    print(f"ratio           {ratio:.2f} x curl   {'PASS' if speed_ok else 'FAIL'} (≥ {MIN_RATIO})")
    print(
        f"relay peak RSS  {peak_rss / 1e6:.1f} MB ({base_rss / 1e6:.1f} MB before the relay)"
        f"   {'PASS' if rss_ok else 'FAIL'} (< {MAX_PEAK_RSS / 1e6:.0f} MB)"
    )
    print(f"event loop      longest stall {max_lag * 1000:.0f} ms during the relay")
    return 0 if rss_ok and speed_ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tmp", default=None, help="where to put the temporary files")
    sys.exit(asyncio.run(main(parser.parse_args())))
