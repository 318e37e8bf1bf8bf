"""Event types and the payloads of the terminal events."""

import time
from typing import Any, NamedTuple

import orjson

CREATED = "response.created"
CONTENT_DELTA = "response.content_delta"
COMPLETED = "response.completed"
ERROR = "response.error"
CANCELLED = "response.cancelled"
TERMINAL_EVENTS = frozenset({COMPLETED, ERROR, CANCELLED})


class StoredEvent(NamedTuple):
    """An event as stored and as sent through the channel layer.

    A tuple of an int and two strings: the garbage collector stops tracking it, and a
    server holding the recent events of its live runs (streaming.inbox) holds many.
    """

    sequence_number: int
    event_type: str
    payload: str

    @property
    def is_terminal(self) -> bool:
        return self.event_type in TERMINAL_EVENTS


def event_payload(*, event_type: str, sequence_number: int, thread_id: str,
                  response_id: str, fields: dict[str, Any],
                  created_at: float | None = None) -> str:
    """The JSON text of one event, as stored and sent."""
    body = {
        "event": event_type,
        "sequence_number": sequence_number,
        "thread_id": thread_id,
        "response_id": response_id,
        **fields,
        "created_at": time.time() if created_at is None else created_at,
    }
    return json_text(body)


# JSON allows these raw inside strings, but many SSE readers (Python's str.splitlines,
# httpx's iter_lines) end a line at them and would cut the frame in two.
_LINE_SEPARATORS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_text(body: dict) -> str:
    """Compact JSON that stays on one SSE line for every reader."""
    text = orjson.dumps(body).decode()
    if text.isascii():
        return text
    for raw, escaped in _LINE_SEPARATORS.items():
        text = text.replace(raw, escaped)
    return text


def usage_fields(*, input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens}


def terminal_fields(*, status: str, text: str, stop_reason: str | None,
                    usage: dict[str, int], error: dict | None) -> tuple[str, dict]:
    """The terminal event type and fields of a run that ended in `status`."""
    if status == "completed":
        return COMPLETED, {"status": "completed",
                           "response": [{"type": "text", "text": text}],
                           "stop_reason": stop_reason or "end_turn", "usage": usage}
    if status == "cancelled":
        return CANCELLED, {"status": "cancelled", "partial_content_length": len(text)}
    error = error or {}
    return ERROR, {"status": "failed", "code": error.get("code", "internal_error"),
                   "message": error.get("message", "The response failed.")}
