"""A stream read to its end in a background thread, with each frame's arrival time."""

import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.sse import Frame, events_of, iter_frames

# Bounds every wait on a background reader; a stream that needs longer is a failure.
READER_WAIT_SECONDS = 60


@dataclass
class BackgroundStream:
    """Reads one SSE request to its end; `started` is set at the first event frame."""

    client: httpx.Client
    method: str
    url: str
    json: dict | None = None
    frames: list[Frame] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    status_code: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> "BackgroundStream":
        self._thread.start()
        assert self.started.wait(READER_WAIT_SECONDS), "no event arrived"
        return self

    def join(self) -> list[dict]:
        """Wait for the end of the stream; its events."""
        self._thread.join(READER_WAIT_SECONDS)
        assert not self._thread.is_alive(), "the stream did not end"
        assert self.error is None, self.error
        return events_of(self.frames)

    @property
    def first_event(self) -> dict:
        return events_of(self.frames)[0]

    def _read(self) -> None:
        try:
            with self.client.stream(self.method, self.url, json=self.json) as response:
                self.status_code = response.status_code
                for frame in iter_frames(response.iter_lines()):
                    self.frames.append(frame)
                    self.arrivals.append(time.monotonic())
                    if frame.json:
                        self.started.set()
        except BaseException as exc:  # reported by join() in the test's thread
            self.error = exc
        finally:
            self.started.set()

    def max_silence_between(self, start: float, end: float) -> float:
        """The longest time without any frame (events or keep-alives) in [start, end]."""
        times = [start, *[t for t in self.arrivals if start <= t <= end], end]
        return max(b - a for a, b in zip(times, times[1:]))
