"""Reading Server-Sent Events in tests: parse frames off a real HTTP stream."""

import json
from dataclasses import dataclass, field

import httpx


@dataclass
class Frame:
    id: int | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict | None:
        if self.data is None or self.data == "[DONE]":
            return None
        return json.loads(self.data)

    @property
    def is_done(self) -> bool:
        return self.data == "[DONE]"


def parse_frames(lines) -> "list[Frame]":
    """Parse an iterable of SSE lines (without newlines) into frames."""
    return list(iter_frames(lines))


def iter_frames(lines):
    frame = Frame()
    dirty = False
    for line in lines:
        if line == "":
            if dirty:
                yield frame
            frame, dirty = Frame(), False
            continue
        dirty = True
        if line.startswith(":"):
            frame.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                frame.id = int(value)
            elif name == "data":
                frame.data = value if frame.data is None else frame.data + "\n" + value
            elif name == "retry":
                frame.retry = int(value)
    if dirty:
        yield frame


def events_of(frames: "list[Frame]") -> "list[dict]":
    """The JSON payloads of the event frames, in order."""
    return [f.json for f in frames if f.json is not None]


def read_stream(client: httpx.Client, method: str, url: str, *, stop_after: int | None = None,
                **kwargs) -> "list[Frame]":
    """Read a stream to its end, or drop the connection after `stop_after` event frames."""
    frames = []
    with client.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in iter_frames(response.iter_lines()):
            frames.append(frame)
            if stop_after is not None and len(events_of(frames)) >= stop_after:
                break
    return frames


async def aread_stream(client: httpx.AsyncClient, method: str, url: str,
                       **kwargs) -> "list[Frame]":
    """The async twin of read_stream, reading to the end."""
    frames = []
    async with client.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        lines = [line async for line in response.aiter_lines()]
    frames.extend(iter_frames(lines))
    return frames
