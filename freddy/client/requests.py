"""The HTTP requests both clients send, and their shared logging."""

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from freddy.client.resume import ApiError, StreamCursor

logger = logging.getLogger("freddy.client")

# Reads wait well past the server's 15 s keep-alive comments: a silent connection that
# long is dead (a cut that sent no FIN), so it is dropped and resumed.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=45.0)


@dataclass(frozen=True)
class Request:
    """One HTTP request of a stream."""

    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def thread_body(title: str | None, metadata: dict[str, str] | None) -> dict[str, Any]:
    """The JSON body creating a thread."""
    return {"metadata": metadata or {}, **({"title": title} if title else {})}


def create_request(thread_id: str, text: str, *, model: str,
                   model_options: dict[str, Any] | None) -> Request:
    """POST /v1/model/response streaming a new run of the thread."""
    return Request("POST", "/v1/model/response", {"json": {
        "model": model, "thread_id": thread_id, "stream": True,
        "inputs": [{"role": "user", "content": text}],
        "model_options": model_options or {}}})


def stream_request(thread_id: str, cursor: StreamCursor) -> Request:
    """GET the thread's stream from the cursor's last event id."""
    return Request("GET", f"/v1/model/response/{thread_id}/stream",
                   {"params": {"last_event_id": cursor.last_event_id}})


def log_retry(thread_id: str, cursor: StreamCursor, error: Exception, delay: float) -> None:
    """Say on the log why the stream is reconnecting, and from where."""
    logger.info("stream of %s dropped (%s: %s); reconnecting in %.2f s after event %d",
                thread_id, type(error).__name__, error or "no detail", delay,
                cursor.last_event_id)


@dataclass(frozen=True)
class PendingCreate:
    """A create sent on a thread, and the thread's message count before it."""

    request: Request
    message_count_before: int


def next_request(thread_id: str, cursor: StreamCursor, request: Request,
                 error: Exception) -> Request | None:
    """What to send after a failure; None when a create may or may not have arrived."""
    if cursor.answered:
        return stream_request(thread_id, cursor)
    if isinstance(error, (httpx.ConnectError, ApiError)):
        return request  # refused before any run was made: sending it again is safe
    return None


def after_lost_create(thread: dict[str, Any], cursor: StreamCursor,
                      create: PendingCreate) -> Request:
    """Resume the run a lost create made, or send the create again if it never arrived."""
    # The create stores the user's input before it answers: more messages means it ran.
    if thread["message_count"] > create.message_count_before:
        cursor.answered = True
        return stream_request(thread["id"], cursor)
    logger.info("the create never reached %s; sending it again", thread["id"])
    return create.request
