"""W1 (replay a stored backlog) and W5 (reconnect cost vs table size)."""

import asyncio
import logging
import time

from bench.freddy_api import api_key_create, run_finished_create, stream_path
from bench.peer_api import events_seed, frame_marker, sample_payload, stream_open
from bench.servers import FREDDY_APP, Database, Process
from bench.sse_client import Stream, check_sequence, parse_all
from bench.stats import median

logger = logging.getLogger(__name__)

W1_EVENTS = 10_000
W1_REPEATS = 5
W5_FILLER_EVENTS = 990_000  # with W1's run: 1,000,000 rows in the events table
W5_MISSED_EVENTS = 100
W5_REPEATS = 15


async def _freddy_replay_once(server: Process, key: str, thread_id: str) -> tuple[float, dict]:
    started = time.perf_counter()
    stream = await Stream.open(server.port, stream_path(thread_id, 0),
                               headers={"X-API-Key": key})
    body = await stream.read_to_end()
    elapsed = time.perf_counter() - started
    stream.close()
    frames = parse_all(body)
    ids = [f.id for f in frames if f.id is not None]
    check = check_sequence(ids, first=1, last=W1_EVENTS)
    check["done"] = bool(frames) and frames[-1].is_done
    return elapsed, check


async def _peer_replay_once(server: Process, channel: str) -> tuple[float, dict]:
    started = time.perf_counter()
    stream = await stream_open(server, channel, after=0)
    body = await stream.read_until(frame_marker(channel, W1_EVENTS))
    elapsed = time.perf_counter() - started
    stream.close()
    ids = [f.id for f in parse_all(body) if f.id is not None]
    check = check_sequence(ids, first=1, last=W1_EVENTS)
    check["done"] = True
    return elapsed, check


def freddy_replay(server: Process, database: Database, key: str) -> dict:
    """W1 on Freddy: a finished run of 10,000 events read from id 0 to [DONE]."""
    run = run_finished_create(server, key, events=W1_EVENTS)
    runs = [asyncio.run(_freddy_replay_once(server, key, run["thread_id"]))
            for _ in range(W1_REPEATS)]
    return {"thread_id": run["thread_id"], "response_id": run["response_id"],
            "events_per_second": W1_EVENTS / median([r[0] for r in runs]),
            "seconds": [round(r[0], 4) for r in runs], "checks": runs[-1][1]}


def peer_replay(server: Process, database: Database) -> dict:
    """W1 on the peer: 10,000 stored events read after Last-Event-ID `channel:0`."""
    events_seed(database, "w1", W1_EVENTS, sample_payload())
    runs = [asyncio.run(_peer_replay_once(server, "w1")) for _ in range(W1_REPEATS)]
    return {"events_per_second": W1_EVENTS / median([r[0] for r in runs]),
            "seconds": [round(r[0], 4) for r in runs], "checks": runs[-1][1]}


async def _time_to_first_event(server: Process, key: str, thread_id: str, after: int) -> float:
    started = time.perf_counter()
    stream = await Stream.open(server.port, stream_path(thread_id, after),
                               headers={"X-API-Key": key})
    async for frame in stream.frames():
        if frame.id is not None:
            break
    elapsed = time.perf_counter() - started
    stream.close()
    return elapsed


def _ttfb(server: Process, key: str, thread_id: str) -> float:
    after = W1_EVENTS - W5_MISSED_EVENTS
    return median([asyncio.run(_time_to_first_event(server, key, thread_id, after))
                   for _ in range(W5_REPEATS)])


_FILL_SQLITE = """
from django.db import connection
with connection.cursor() as c:
    c.execute('''INSERT INTO streaming_responseevent
        (response_id, sequence_number, event_type, payload, created_at)
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s)
        SELECT %s, n + 1000, 'response.content_delta', %s, CURRENT_TIMESTAMP FROM g''',
        [{count}, {response_id!r}, {payload!r}])
    # SQLite checkpoints the WAL on a later write; the bench does not wait for one.
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
"""
_FILL_POSTGRES = """
from django.db import connection
with connection.cursor() as c:
    c.execute('''INSERT INTO streaming_responseevent
        (response_id, sequence_number, event_type, payload, created_at)
        SELECT %s, n + 1000, 'response.content_delta', %s, now()
        FROM generate_series(1, %s) AS n''', [{response_id!r}, {payload!r}, {count}])
    # Autovacuum would do this within a minute; the bench does not wait for it.
    c.execute("ANALYZE streaming_responseevent")
"""


def freddy_table_scale(server: Process, database: Database, key: str, thread_id: str) -> dict:
    """W5: time to the first replayed event (100 missed) at 10k, then 1M rows."""
    small = _ttfb(server, key, thread_id)
    filler = run_finished_create(server, key, events=3)
    code = _FILL_POSTGRES if database.kind == "postgres" else _FILL_SQLITE
    started = time.perf_counter()
    database.run_django(FREDDY_APP[0], "shell", stdin=code.format(
        count=W5_FILLER_EVENTS, response_id=filler["response_id"], payload=sample_payload()))
    logger.info("W5: %d rows inserted in %.1f s", W5_FILLER_EVENTS,
                time.perf_counter() - started)
    large = _ttfb(server, key, thread_id)
    return {"ttfb_small_seconds": small, "ttfb_large_seconds": large,
            "ratio": large / small, "rows_small": W1_EVENTS + 3,
            "rows_large": W1_EVENTS + 3 + W5_FILLER_EVENTS}
