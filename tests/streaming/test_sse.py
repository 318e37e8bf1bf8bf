"""The pure frame encoders of `streaming/sse.py`: no Django, no server."""

import json

import orjson
import pytest

from streaming import sse
from tests.sse import parse_frames

PAYLOAD = orjson.dumps({"event": "response.content_delta", "sequence_number": 7,
                        "thread_id": "thrd_x", "response_id": "resp_x",
                        "delta": " w\u00f6rld \"quoted\"\nline", "created_at": 1.5}).decode()


def _lines(raw: bytes) -> list[str]:
    return raw.decode().split("\n")


def test_a_live_frame_is_an_id_line_one_data_line_and_a_blank_line():
    raw = sse.encode_frame(7, PAYLOAD)
    assert raw == b"id: 7\ndata: " + PAYLOAD.encode() + b"\n\n"
    frames = parse_frames(_lines(raw))
    assert len(frames) == 1 and frames[0].id == 7
    assert frames[0].json == json.loads(PAYLOAD)
    assert "source" not in frames[0].json


def test_a_replayed_frame_adds_source_replay_and_keeps_every_other_field():
    raw = sse.encode_frame(7, PAYLOAD, replay=True)
    assert raw.count(b"\n") == 3 and raw.endswith(b"\n\n")
    (frame,) = parse_frames(_lines(raw))
    assert frame.id == 7
    assert frame.json == {**json.loads(PAYLOAD), "source": "replay"}


@pytest.mark.parametrize("sequence_number", [1, 2**31 - 1])
def test_the_id_line_carries_the_sequence_number(sequence_number):
    raw = sse.encode_frame(sequence_number, '{"a":1}')
    assert raw.startswith(f"id: {sequence_number}\n".encode())


def test_the_fixed_frames_are_exact():
    assert sse.RETRY_FRAME == b"retry: 3000\n\n"
    assert sse.DONE_FRAME == b"data: [DONE]\n\n"
    assert sse.KEEP_ALIVE_FRAME.startswith(b":") and sse.KEEP_ALIVE_FRAME.endswith(b"\n\n")
    (retry, keep_alive, done) = parse_frames(
        _lines(sse.RETRY_FRAME + sse.KEEP_ALIVE_FRAME + sse.DONE_FRAME))
    assert retry.retry == 3000 and retry.id is None and retry.data is None
    assert keep_alive.comments == ["keep-alive"] and keep_alive.data is None
    assert done.is_done and done.id is None


def test_non_ascii_payloads_are_sent_as_utf8():
    payload = orjson.dumps({"delta": "\u4f60\u597d \U0001f600"}).decode()
    raw = sse.encode_frame(3, payload, replay=True)
    assert json.loads(raw.decode().split("data: ", 1)[1]) == {
        "delta": "\u4f60\u597d \U0001f600", "source": "replay"}
