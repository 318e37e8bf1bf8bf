"""What the sync and async clients share: SSE parsing, the resume cursor, errors.

Nothing here does I/O, so both clients stay thin loops around httpx.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from freddy.client.events import Event, event_from_payload

DONE_DATA = "[DONE]"
# Statuses worth another try: the server or a proxy in front of it is busy or restarting.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class FreddyError(Exception):
    """Base class of the client's errors."""


class ApiError(FreddyError):
    """The server answered with the error envelope (or another non-2xx reply)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES


class StreamGaveUp(FreddyError):
    """The stream failed more times in a row than the retry budget allows."""


class StreamDropped(FreddyError):
    """The connection ended before the stream's `[DONE]`."""


def api_error(status: int, body: bytes) -> ApiError:
    """An ApiError from a non-2xx reply, reading the envelope when there is one."""
    try:
        error = json.loads(body)["error"]
        return ApiError(status, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(status, "HTTP_ERROR", body[:200].decode(errors="replace"))


@dataclass
class Frame:
    """One parsed SSE frame."""

    id: int | None = None
    data: str | None = None


@dataclass
class FrameParser:
    """Turns SSE lines into frames; a frame counts only once its blank line arrives."""

    _frame: Frame = field(default_factory=Frame)
    _dirty: bool = False

    def reset(self) -> None:
        """Forget a frame cut in half by a dropped connection."""
        self._frame, self._dirty = Frame(), False

    def feed(self, line: str) -> Frame | None:
        """Take one line (without its newline); return a frame when one is complete."""
        if line == "":
            frame, dirty = self._frame, self._dirty
            self.reset()
            return frame if dirty and frame.data is not None else None
        self._dirty = True
        if line.startswith(":"):
            return None  # a comment: `: keep-alive`
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id" and value.isdigit():
            self._frame.id = int(value)
        elif name == "data":
            data = self._frame.data
            self._frame.data = value if data is None else f"{data}\n{value}"
        return None


@dataclass
class RetryPolicy:
    """Bounded retries with capped exponential backoff and jitter."""

    max_retries: int = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before try number `failures` + 1."""
        base = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (failures - 1))
        # Jitter spreads the reconnects of many clients cut at the same moment.
        return base * random.uniform(0.8, 1.2)

    def pause_after(self, failures: int, error: Exception) -> float:
        """The pause after `failures` failures in a row, or StreamGaveUp past the budget."""
        if failures > self.max_retries:
            raise StreamGaveUp(f"gave up after {self.max_retries} retries: {error}") from error
        return self.delay(failures)


@dataclass
class StreamCursor:
    """Where one resuming stream stands: last id seen, failures in a row, the end."""

    last_event_id: int = 0
    failures: int = 0
    done: bool = False
    # The server answered once: a create has made its run, so retries reconnect instead.
    answered: bool = False
    reconnects: int = 0
    parser: FrameParser = field(default_factory=FrameParser)

    def feed(self, line: str) -> Iterator[Event]:
        """The new events a line completes; events at or below the last id are dropped."""
        frame = self.parser.feed(line)
        if frame is None:
            return
        if frame.data == DONE_DATA:
            self.done = True
            return
        event = event_from_payload(json.loads(frame.data))
        if event.sequence_number <= self.last_event_id:
            return
        self.last_event_id = event.sequence_number
        self.failures = 0  # progress: the retry budget starts again
        if event.is_terminal:
            self.done = True
        yield event

    def retry_delay(self, error: Exception, policy: RetryPolicy) -> float:
        """Count a failed connection; the pause before the next one, or StreamGaveUp."""
        self.parser.reset()
        self.failures += 1
        delay = policy.pause_after(self.failures, error)
        self.reconnects += 1
        return delay
