"""Typed events of a response stream, built from the JSON of SSE frames."""

from dataclasses import dataclass, field, fields
from typing import Any

CREATED = "response.created"
CONTENT_DELTA = "response.content_delta"
COMPLETED = "response.completed"
ERROR = "response.error"
CANCELLED = "response.cancelled"
TERMINAL_EVENTS = frozenset({COMPLETED, ERROR, CANCELLED})


@dataclass(frozen=True, kw_only=True)
class Event:
    """One event of a run; the fields every payload carries."""

    event: str
    sequence_number: int
    thread_id: str
    response_id: str
    created_at: float
    # Stored before this connection started ("source": "replay").
    replay: bool = False
    # Rebuilt from the saved message after the run's buffer expired.
    synthesized: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.event in TERMINAL_EVENTS


@dataclass(frozen=True, kw_only=True)
class ResponseCreated(Event):
    status: str = "in_progress"
    user_message_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContentDelta(Event):
    delta: str = ""


@dataclass(frozen=True, kw_only=True)
class ResponseCompleted(Event):
    status: str = "completed"
    response: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The full text of the answer."""
        return "".join(part.get("text", "") for part in self.response
                       if part.get("type") == "text")


@dataclass(frozen=True, kw_only=True)
class ResponseFailed(Event):
    status: str = "failed"
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResponseCancelled(Event):
    status: str = "cancelled"
    partial_content_length: int | None = None


EVENT_CLASSES: dict[str, type[Event]] = {
    CREATED: ResponseCreated,
    CONTENT_DELTA: ContentDelta,
    COMPLETED: ResponseCompleted,
    ERROR: ResponseFailed,
    CANCELLED: ResponseCancelled,
}


def event_from_payload(payload: dict[str, Any]) -> Event:
    """The typed event for one frame's JSON; unknown types become a plain Event."""
    cls = EVENT_CLASSES.get(payload.get("event", ""), Event)
    known = {f.name for f in fields(cls)} - {"replay", "synthesized", "raw"}
    values = {name: payload[name] for name in known if name in payload}
    return cls(**values, replay=payload.get("source") == "replay",
               synthesized=bool(payload.get("synthesized")), raw=payload)
