"""Expired buffers: one synthesized terminal frame from the saved message (test 6)."""

import re
import time

import pytest

from tests.e2e.helpers import assert_complete_sequence, echo_body, messages, reconnect
from tests.e2e.helpers import start_run
from tests.sse import events_of, read_stream

TEXT = "Expired buffers still answer with the whole text"
PURGED = re.compile(r"Removed (\d+) events of (\d+) runs\.")


@pytest.fixture(scope="module")
def expiring(server_factory, server, api_key):
    """A server whose buffers expire as soon as a run ends, and one on the defaults
    (heartbeat 15 s, TTL one hour), both on the shared server's database: no migrate."""
    expiring = server_factory({"FREDDY_STREAM_BUFFER_TTL_SECONDS": "0"}, share_with=server)
    default = server_factory({"FREDDY_STREAM_BUFFER_TTL_SECONDS": "3600",
                              "FREDDY_SSE_HEARTBEAT_SECONDS": "15"}, share_with=server)
    with expiring.client(api_key) as fast, default.client(api_key) as slow:
        yield expiring, fast, slow


def _finished_run(http, text: str = TEXT, **options) -> list[dict]:
    options.setdefault("token_delay_ms", 0)
    frames = read_stream(http, "POST", "/v1/model/response", json=echo_body(text, **options))
    return assert_complete_sequence(frames)


def _assert_synthesized(frames, original: list[dict]) -> dict:
    """Exactly retry, one synthesized terminal frame equal to the original, [DONE]."""
    assert [f.retry for f in frames] == [3000, None, None]
    assert frames[-1].is_done and frames[-1].id is None
    last = original[-1]
    assert frames[1].id == last["sequence_number"]
    body = frames[1].json
    assert body["synthesized"] is True and body["source"] == "replay"
    assert {k: v for k, v in body.items() if k not in {"synthesized", "source",
                                                       "created_at"}} == {
        k: v for k, v in last.items() if k != "created_at"}
    assert abs(body["created_at"] - last["created_at"]) < 5
    return body


def test_expired_buffers_give_one_synthesized_terminal_frame_before_and_after_purge(
        expiring):
    server, http, _ = expiring
    events = _finished_run(http)
    thread_id = events[0]["thread_id"]
    cancelled_thread, _ = start_run(http, "a b c d e f g h i j", token_delay_ms=200)
    assert http.post(f"/v1/model/response/{cancelled_thread}/cancel").status_code == 200
    # Expired but not yet purged: already the synthesized answer.
    body = _assert_synthesized(reconnect(http, thread_id), events)
    assert body["event"] == "response.completed"
    assert body["response"] == [{"type": "text", "text": TEXT}]
    cancelled = events_of(reconnect(http, cancelled_thread))
    assert len(cancelled) == 1 and cancelled[0]["synthesized"] is True

    removed = PURGED.search(server.manage("purge_stream_buffers"))
    assert removed and int(removed.group(1)) >= len(events) and int(removed.group(2)) >= 2

    for params in ({}, {"last_event_id": 0}, {"last_event_id": 3}):
        _assert_synthesized(reconnect(http, thread_id, **params), events)
    for at_or_past in (len(events), len(events) + 5):
        frames = reconnect(http, thread_id, last_event_id=at_or_past)
        assert events_of(frames) == [] and frames[-1].is_done
    # The threads, messages and runs stay.
    assert messages(http, thread_id)["data"][-1]["content"] == TEXT

    frames = reconnect(http, cancelled_thread)
    assert [f.retry for f in frames] == [3000, None, None] and frames[-1].is_done
    body = frames[1].json
    assert body["event"] == "response.cancelled" and body["status"] == "cancelled"
    assert body["synthesized"] is True and body["source"] == "replay"
    assert body == {**cancelled[0], "created_at": body["created_at"]}
    content = messages(http, cancelled_thread)["data"][-1]["content"]
    assert content and body["partial_content_length"] == len(content)
    assert frames[1].id == body["sequence_number"] >= 2


def test_purging_before_the_ttl_with_older_than_zero_still_answers_at_once(expiring):
    server, _, http = expiring
    events = _finished_run(http, "purged early")
    thread_id = events[0]["thread_id"]
    # One hour TTL: still replayed in full.
    replayed = events_of(reconnect(http, thread_id))
    assert [e.pop("source") for e in replayed] == ["replay"] * len(events)
    assert replayed == events
    removed = PURGED.search(server.manage("purge_stream_buffers", "--older-than", "0"))
    assert removed and int(removed.group(1)) >= len(events)
    started = time.monotonic()
    frames = reconnect(http, thread_id)
    # This server beats every 15 s: the answer must not wait for a silence.
    assert time.monotonic() - started < 5
    body = _assert_synthesized(frames, events)
    assert body["response"] == [{"type": "text", "text": "purged early"}]
