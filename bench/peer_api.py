"""Setting up the peer (django-eventstream): seeded backlogs, live producers, streams."""

import httpx
import orjson

from bench.servers import PEER_APP, Database, Process
from bench.sse_client import Stream

# The peer's replay reads this many events per storage query (eventstream.get_events
# limit=100), with three queries per page, and loops until it has caught up.
PEER_REPLAY_PAGE_EVENTS = 100
# Live events a peer listener may hold before it drops them and re-reads the database.
PEER_MAX_PENDING = 10

_SEED = """
import json, time
from django.core.serializers.json import DjangoJSONEncoder
from django_eventstream.models import Event, EventCounter
channel, count = {channel!r}, {count}
payload = {payload!r}
def data(n):
    # Stored exactly as send_event stores it: the JSON text of the JSON-encoded data.
    text = payload.replace('"sequence_number":0', '"sequence_number":%d' % n)
    return json.dumps(json.dumps(text, cls=DjangoJSONEncoder))
rows = [Event(channel=channel, eid=0)]  # the placeholder send_event adds at eid 0
rows += [Event(channel=channel, type="message", data=data(n), eid=n) for n in range(1, count + 1)]
Event.objects.bulk_create(rows, batch_size=2000)
EventCounter.objects.create(name=channel, value=count)
"""


def events_seed(database: Database, channel: str, count: int, payload: str) -> None:
    """Store a backlog of `count` events in a channel, as send_event would have."""
    database.run_django(PEER_APP[0], "shell",
                        stdin=_SEED.format(channel=channel, count=count, payload=payload))


def produce(server: Process, channel: str, *, count: int, interval_ms: int) -> None:
    """Start the in-process producer: `count` events then a `done` event."""
    httpx.post(f"{server.url}/produce", params={"channel": channel, "count": count,
                                               "interval_ms": interval_ms},
               timeout=60).raise_for_status()


async def stream_open(server: Process, channel: str, *, after: int | None = None) -> Stream:
    """A peer stream of one channel, resuming after `after` when given."""
    headers = {} if after is None else {"Last-Event-ID": f"{channel}:{after}"}
    return await Stream.open(server.port, f"/events/?channel={channel}", headers=headers)


def frame_marker(channel: str, sequence_number: int) -> bytes:
    return b"id: %s:%d\n" % (channel.encode(), sequence_number)


def sample_payload() -> str:
    """A delta payload of the same shape and size as Freddy's."""
    return orjson.dumps({"event": "response.content_delta", "sequence_number": 0,
                         "thread_id": "thrd_" + "x" * 24, "response_id": "resp_" + "x" * 24,
                         "delta": " w", "created_at": 1763461800.123}).decode()
