"""W2 fan-out and W4 ingest: live events, latency = receive time - created_at."""

import asyncio
import logging
import time

import orjson

from bench.freddy_api import echo_body, run_live_start, stream_path
from bench.peer_api import produce, stream_open
from bench.servers import Process
from bench.sse_client import Stream, check_sequence
from bench.stats import percentile

logger = logging.getLogger(__name__)

W2_READERS = 100
W2_EVENTS = 1000  # 100 events/s for 10 s
W2_TOKEN_DELAY_MS = 10
# Produced while the readers connect and replay. Latency counts only the events created
# after every reader got its first frame: the peer's readers too connect before its
# producer starts, and a connection storm is W3's subject, not this one's.
W2_LEAD_EVENTS = 300
W4_RUNS = 200
W4_TOKENS = 500  # 50 tokens/s for 10 s
W4_TOKEN_DELAY_MS = 20
READ_TIMEOUT_SECONDS = 120


async def _read_live(stream: Stream, *, is_last) -> dict:
    """Read to the end, keeping ids and the latency of every live (non-replay) frame."""
    ids, latencies, first_at = [], [], None
    async for frame in stream.frames():
        if frame.is_done:
            break
        if frame.id is None or frame.data is None:
            continue
        ids.append(frame.id)
        first_at = first_at or frame.received_at
        if b'"source":"replay"' not in frame.data:
            created_at = orjson.loads(frame.data)["created_at"]
            latencies.append((created_at, frame.received_at - created_at))
        if is_last(frame):
            break
    stream.close()
    return {"ids": ids, "latencies": latencies, "first_at": first_at}


def _summary(readers: list[dict], *, first_id: int, last_id: int | None,
             steady_state: bool = False) -> dict:
    # Steady state: from the moment every reader had its first frame.
    since = max(r["first_at"] or 0 for r in readers) if steady_state else 0
    latencies = [lat for r in readers for created, lat in r["latencies"] if created >= since]
    lost = duplicated = 0
    for reader in readers:
        check = check_sequence(reader["ids"], first=first_id, last=last_id)
        lost, duplicated = lost + check["lost"], duplicated + check["duplicated"]
    return {"readers": len(readers), "frames": sum(len(r["ids"]) for r in readers),
            "live_frames": len(latencies), "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "max": max(latencies, default=None),
            "lost": lost, "duplicated": duplicated}


async def freddy_fan_out(server: Process, key: str) -> dict:
    """W2 on Freddy: 100 readers of one echo run at ~100 events/s."""
    thread_id, _ = await run_live_start(server, key, tokens=W2_EVENTS + W2_LEAD_EVENTS,
                                        token_delay_ms=W2_TOKEN_DELAY_MS)
    streams = await asyncio.gather(*[
        Stream.open(server.port, stream_path(thread_id, 0), headers={"X-API-Key": key})
        for _ in range(W2_READERS)])
    readers = await asyncio.wait_for(asyncio.gather(*[
        _read_live(s, is_last=lambda f: False) for s in streams]), READ_TIMEOUT_SECONDS)
    # Every reader starts at id 0; the last id is the terminal event's.
    last = max(max(r["ids"]) for r in readers)
    return _summary(readers, first_id=1, last_id=last, steady_state=True)


async def peer_fan_out(server: Process) -> dict:
    """W2 on the peer: 100 listeners of one channel, the producer in the server process."""
    channel = "w2"
    streams = await asyncio.gather(*[stream_open(server, channel) for _ in range(W2_READERS)])
    # The peer sends its stream-open event once the listener is registered.
    await asyncio.gather(*[s.read_until(b"event: stream-open") for s in streams])
    await asyncio.to_thread(produce, server, channel, count=W2_EVENTS,
                            interval_ms=W2_TOKEN_DELAY_MS)
    last = W2_EVENTS + 1  # the `done` event
    readers = await asyncio.wait_for(asyncio.gather(*[
        _read_live(s, is_last=lambda f: f.id == last) for s in streams]),
        READ_TIMEOUT_SECONDS)
    return _summary(readers, first_id=1, last_id=last, steady_state=True)


async def _ingest_one(server: Process, key: str, started: float) -> dict:
    body = orjson.dumps(echo_body(tokens=W4_TOKENS, token_delay_ms=W4_TOKEN_DELAY_MS,
                                  stream=True))
    stream = await Stream.open(server.port, "/v1/model/response", method="POST", body=body,
                               headers={"X-API-Key": key})
    result = await _read_live(stream, is_last=lambda f: False)
    result["ended"] = time.perf_counter() - started
    result["ended_at"] = time.time()
    return result


async def freddy_ingest(server: Process, key: str) -> dict:
    """W4: 200 concurrent echo runs at 50 tokens/s, each read by its creator.

    Sustained figures count the events created while all 200 runs were live: from the
    moment the last run's reader got its first frame to the moment the first run
    ended. The whole-run figures include the 200 creates arriving at once.
    """
    started = time.perf_counter()
    readers = await asyncio.wait_for(asyncio.gather(*[
        _ingest_one(server, key, started) for _ in range(W4_RUNS)]), READ_TIMEOUT_SECONDS)
    summary = _summary(readers, first_id=1, last_id=None)
    wall = max(r["ended"] for r in readers)
    since = max(r["first_at"] for r in readers)
    until = min(r["ended_at"] for r in readers)
    sustained = [lat for r in readers for created, lat in r["latencies"]
                 if since <= created <= until]
    summary.update(
        wall_seconds=wall, whole_run_events_per_second=summary["frames"] / wall,
        whole_run_p99=summary["p99"], sustained_seconds=until - since,
        events_per_second=len(sustained) / (until - since) if until > since else None,
        p50=percentile(sustained, 0.5), p99=percentile(sustained, 0.99),
        expected_seconds=W4_TOKENS * W4_TOKEN_DELAY_MS / 1000,
        incomplete=sum(1 for r in readers if len(r["ids"]) != W4_TOKENS + 2))
    return summary
