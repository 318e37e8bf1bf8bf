"""W3 reconnect storm and the memory of idle streaming connections."""

import asyncio
import logging
import random
import time

from bench.floor import FLOOR_FRAMES
from bench.freddy_api import run_cancel, run_live_start, run_wait_for_events, stream_path
from bench.servers import Process
from bench.sse_client import Stream, check_sequence
from bench.stats import percentile

logger = logging.getLogger(__name__)

W3_CLIENTS = 1000
W3_TOKEN_DELAY_MS = 20  # a live run at 50 events/s
W3_BACKLOG_EVENTS = 500  # stored before the storm; each client resumes at a random id
W3_TOKENS = 1500  # the run outlasts the storm
MEMORY_CONNECTIONS = 1000
MEMORY_WARMUP_CONNECTIONS = 50
MEMORY_SETTLE_SECONDS = 2
STORM_TIMEOUT_SECONDS = 300


async def _storm_client(server: Process, key: str, thread_id: str, after: int,
                        edge: int, started: float) -> dict:
    try:
        stream = await Stream.open(server.port, stream_path(thread_id, after),
                                   headers={"X-API-Key": key})
    except OSError as exc:
        return {"after": after, "ids": [], "caught_up": None, "error": str(exc)}
    ids, caught_up = [], None
    async for frame in stream.frames():
        if frame.is_done:
            break
        if frame.id is None:
            continue
        ids.append(frame.id)
        if caught_up is None and frame.id >= edge:
            caught_up = frame.received_at - started  # has all that was stored at the storm
    stream.close()
    return {"after": after, "ids": ids, "caught_up": caught_up, "error": None}


async def freddy_storm(server: Process, key: str) -> dict:
    """W3: 1,000 clients reconnect at once at random ids into a live run."""
    thread_id, _ = await run_live_start(server, key, tokens=W3_TOKENS,
                                        token_delay_ms=W3_TOKEN_DELAY_MS)
    edge = await run_wait_for_events(server, key, thread_id, W3_BACKLOG_EVENTS)
    rng = random.Random(6)
    started = time.time()
    clients = await asyncio.wait_for(asyncio.gather(*[
        _storm_client(server, key, thread_id, rng.randint(0, edge), edge, started)
        for _ in range(W3_CLIENTS)]), STORM_TIMEOUT_SECONDS)
    last = max(max(c["ids"], default=0) for c in clients)
    gaps = duplicates = 0
    for client in clients:
        check = check_sequence(client["ids"], first=client["after"] + 1, last=last)
        gaps, duplicates = gaps + check["lost"], duplicates + check["duplicated"]
    caught = [c["caught_up"] for c in clients if c["caught_up"] is not None]
    return {"clients": W3_CLIENTS, "edge_at_storm": edge,
            "replayed_events": sum(edge - c["after"] for c in clients),
            "caught_up_clients": len(caught), "errors": sum(1 for c in clients if c["error"]),
            "all_caught_up_seconds": max(caught) if len(caught) == W3_CLIENTS else None,
            "p50_seconds": percentile(caught, 0.5), "p99_seconds": percentile(caught, 0.99),
            "gaps": gaps, "duplicates": duplicates}


async def _floor_client(server: Process, started: float) -> float | None:
    try:
        stream = await Stream.open(server.port, "/stream")
    except OSError:
        return None
    try:
        async for frame in stream.frames():
            if frame.id == FLOOR_FRAMES:
                return frame.received_at - started
    finally:
        stream.close()
    return None


async def floor_storm(server: Process) -> dict:
    """W3's connections against bench.floor: what the storm costs daphne and the machine."""
    started = time.time()
    received = await asyncio.wait_for(asyncio.gather(*[
        _floor_client(server, started) for _ in range(W3_CLIENTS)]), STORM_TIMEOUT_SECONDS)
    done = [r for r in received if r is not None]
    return {"clients": W3_CLIENTS, "frames_each": FLOOR_FRAMES, "received_clients": len(done),
            "all_received_seconds": max(done) if len(done) == W3_CLIENTS else None,
            "p50_seconds": percentile(done, 0.5)}


async def _open_idle(server: Process, path: str, headers: dict, marker: bytes) -> Stream:
    stream = await Stream.open(server.port, path, headers=headers)
    # Once the marker (the backlog, or the peer's stream-open) arrived, the stream idles.
    await stream.read_until(marker)
    return stream


async def idle_memory(server: Process, path: str, headers: dict, marker: bytes) -> dict:
    """RSS growth of the server per idle open stream, 1,000 of them."""
    warm = await asyncio.gather(*[_open_idle(server, path, headers, marker)
                                  for _ in range(MEMORY_WARMUP_CONNECTIONS)])
    for stream in warm:
        stream.close()
    await asyncio.sleep(MEMORY_SETTLE_SECONDS)
    before = server.rss_kb()
    streams = []
    for start in range(0, MEMORY_CONNECTIONS, 100):  # in waves: no storm here
        streams += await asyncio.gather(*[_open_idle(server, path, headers, marker)
                                          for _ in range(start, min(start + 100,
                                                                    MEMORY_CONNECTIONS))])
    await asyncio.sleep(MEMORY_SETTLE_SECONDS)
    after = server.rss_kb()
    for stream in streams:
        stream.close()
    return {"connections": len(streams), "rss_before_kb": before, "rss_after_kb": after,
            "kb_per_connection": (after - before) / len(streams)}


async def freddy_idle_memory(server: Process, key: str) -> dict:
    """Memory per idle Freddy stream: readers of a run that pauses 10 s between tokens."""
    thread_id, _ = await run_live_start(server, key, tokens=100, token_delay_ms=10_000)
    try:
        return await idle_memory(server, stream_path(thread_id, 0), {"X-API-Key": key},
                                 b"id: 2\n")
    finally:
        await asyncio.to_thread(run_cancel, server, key, thread_id)


async def peer_idle_memory(server: Process) -> dict:
    """Memory per idle peer stream: listeners of a channel nobody publishes to."""
    return await idle_memory(server, "/events/?channel=idle", {}, b"event: stream-open")
