"""The client's pure resume logic: frames, duplicates, the retry budget (no I/O)."""

import json

import pytest

from freddy.client import ContentDelta, ResponseCompleted, RetryPolicy, StreamGaveUp
from freddy.client.resume import StreamCursor


def frame_lines(sequence_number: int, event: str, **fields) -> list[str]:
    payload = {"event": event, "sequence_number": sequence_number, "thread_id": "thrd_x",
               "response_id": "resp_x", "created_at": 1.0, **fields}
    return [f"id: {sequence_number}", f"data: {json.dumps(payload)}", ""]


def feed_all(cursor: StreamCursor, lines: list[str]) -> list:
    return [event for line in lines for event in cursor.feed(line)]


def test_a_frame_cut_before_its_blank_line_is_never_yielded():
    cursor = StreamCursor()
    lines = frame_lines(1, "response.content_delta", delta=" a")
    assert feed_all(cursor, lines[:-1]) == []
    cursor.retry_delay(ConnectionError("cut"), RetryPolicy())
    assert feed_all(cursor, [""]) == []  # the half frame was forgotten with the connection
    assert cursor.last_event_id == 0


def test_events_at_or_below_the_last_id_are_dropped_and_replay_is_marked():
    cursor = StreamCursor(last_event_id=2)
    lines = [*frame_lines(2, "response.content_delta", delta=" old"),
             *frame_lines(3, "response.content_delta", delta=" new", source="replay")]
    events = feed_all(cursor, lines)
    assert [(type(e), e.delta, e.replay) for e in events] == [(ContentDelta, " new", True)]
    assert cursor.last_event_id == 3


def test_the_terminal_event_ends_the_stream_with_its_full_text():
    cursor = StreamCursor()
    events = feed_all(cursor, frame_lines(1, "response.completed", status="completed",
                                          response=[{"type": "text", "text": "hi"}]))
    assert isinstance(events[0], ResponseCompleted) and events[0].text == "hi"
    assert cursor.done


def test_the_retry_budget_counts_only_failures_in_a_row():
    policy = RetryPolicy(max_retries=2, backoff_seconds=0.1, max_backoff_seconds=0.15)
    cursor = StreamCursor()
    delays = [cursor.retry_delay(OSError("down"), policy) for _ in range(2)]
    assert 0.08 <= delays[0] <= 0.12 and delays[1] <= 0.15 * 1.2
    feed_all(cursor, frame_lines(1, "response.content_delta", delta=" a"))  # progress
    cursor.retry_delay(OSError("down"), policy)
    cursor.retry_delay(OSError("down"), policy)
    with pytest.raises(StreamGaveUp):
        cursor.retry_delay(OSError("down"), policy)
