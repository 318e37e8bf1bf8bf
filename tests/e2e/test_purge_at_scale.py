"""purge_stream_buffers on 200,000 expired events while a live run streams, over real HTTP."""

import re
import time

import pytest

from tests.readers import BackgroundStream

EXPIRED_RUNS = 2_000
EVENTS_PER_RUN = 100
EXPIRED_EVENTS = EXPIRED_RUNS * EVENTS_PER_RUN
BATCH_SIZE = 5_000
# Deltas every 20 ms; a repeated text keeps the run going well past the purge.
LIVE_RUN_TEXT = "purge must not touch a live run"
LIVE_RUN_OPTIONS = {"token_delay_ms": 20, "repeat": 400}
# A reader waits at most one heartbeat (1 s here) plus one purge batch; a batch that
# locked the table for long would show up as a longer silence.
MAX_READER_SILENCE_SECONDS = 5.0

# Runs in the server's database: 2,000 finished two hours ago (default TTL: 1 hour), each
# with 100 stored events, inserted by one INSERT ... SELECT so the set-up takes seconds.
SEED_EXPIRED = f"""
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from streaming.models import Response
from threads.models import Message, Organization, Thread
org, _ = Organization.objects.get_or_create(id="org_purge")
ended = timezone.now() - timedelta(hours=2)
threads = Thread.objects.bulk_create(
    [Thread(organization=org, title="old") for _ in range({EXPIRED_RUNS})])
answers = Message.objects.bulk_create(
    [Message(thread=t, role="assistant", content="old answer") for t in threads])
Response.objects.bulk_create(
    [Response(thread=t, model="echo", status="completed", assistant_message=m,
              started_at=ended, ended_at=ended, last_sequence_number={EVENTS_PER_RUN})
     for t, m in zip(threads, answers)], batch_size=500)
with connection.cursor() as cursor:
    cursor.execute(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq"
        " WHERE n < {EVENTS_PER_RUN})"
        " INSERT INTO streaming_responseevent"
        " (response_id, sequence_number, event_type, payload, created_at)"
        " SELECT r.id, seq.n, 'response.content_delta', '{{\\"delta\\": \\" old\\"}}',"
        " r.ended_at FROM streaming_response r CROSS JOIN seq WHERE r.thread_id IN"
        " (SELECT id FROM threads_thread WHERE organization_id = 'org_purge')")
"""
COUNT_EVENTS = """
from streaming.models import ResponseEvent
old = ResponseEvent.objects.filter(response__thread__organization_id="org_purge").count()
print(old, ResponseEvent.objects.exclude(
    response__thread__organization_id="org_purge").count())
"""


@pytest.fixture(scope="module")
def purge_server(server_factory):
    return server_factory({"FREDDY_SSE_HEARTBEAT_SECONDS": "1"})


def _event_counts(server) -> tuple[int, int]:
    """(events of the expired runs, all other events) in the server's database."""
    old, other = server.manage("shell", "-c", COUNT_EVENTS).strip().splitlines()[-1].split()
    return int(old), int(other)


def _purge(server, *args: str) -> tuple[str, float]:
    started = time.monotonic()
    output = server.manage("purge_stream_buffers", "--batch-size", str(BATCH_SIZE), *args)
    return output, time.monotonic() - started


@pytest.mark.timeout(180)
def test_purge_removes_200000_expired_events_in_batches_while_a_live_run_streams(
        purge_server):
    purge_server.manage("shell", "-c", SEED_EXPIRED)
    assert _event_counts(purge_server) == (EXPIRED_EVENTS, 0)
    with purge_server.client(purge_server.create_key("org_live")) as client:
        live = BackgroundStream(client, "POST", "/v1/model/response", json={
            "model": "echo", "stream": True, "model_options": LIVE_RUN_OPTIONS,
            "inputs": [{"role": "user", "content": LIVE_RUN_TEXT}]}).start()
        thread_id = live.first_event["thread_id"]

        dry_output, _ = _purge(purge_server, "--dry-run")
        assert _event_counts(purge_server)[0] == EXPIRED_EVENTS
        purge_started = time.monotonic()
        output, _ = _purge(purge_server)
        purge_ended = time.monotonic()
        still_streaming = client.get(f"/v1/threads/{thread_id}").json()["status"]
        client.post(f"/v1/model/response/{thread_id}/cancel")
        events = live.join()

        replayed = BackgroundStream(client, "GET", f"/v1/model/response/{thread_id}/stream")
        replayed.start()
        replay_events = replayed.join()

    assert dry_output.strip() == f"Would remove {EXPIRED_EVENTS} events of {EXPIRED_RUNS} runs."
    assert re.search(rf"^Removed {EXPIRED_EVENTS} events of {EXPIRED_RUNS} runs\.$", output,
                     re.MULTILINE), output
    assert still_streaming == "streaming"  # the purge ran while the run was live
    live_stored = _event_counts(purge_server)
    assert live_stored == (0, len(events))
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "response.cancelled" and live.frames[-1].is_done
    assert live.max_silence_between(purge_started, purge_ended) < MAX_READER_SILENCE_SECONDS
    assert [e["sequence_number"] for e in replay_events] == list(range(1, len(events) + 1))
    assert all(e.get("source") == "replay" for e in replay_events)


def test_purge_with_nothing_expired_exits_cleanly_and_reports_zero(purge_server):
    output, _ = _purge(purge_server, "--older-than", "3600")

    assert output.strip().endswith("Removed 0 events of 0 runs.")
