"""A lean SSE client on raw asyncio streams, so the client is never the bottleneck.

It speaks HTTP/1.0: the server then sends the body unchunked and closes it at the end.
"""

import asyncio
import time
from dataclasses import dataclass, field

import orjson

READ_BYTES = 1 << 16


@dataclass
class Frame:
    """One SSE frame as received: its id (the number after any `channel:`), data, time."""

    id: int | None
    data: bytes | None
    received_at: float

    @property
    def is_done(self) -> bool:
        return self.data == b"[DONE]"

    def json(self) -> dict:
        return orjson.loads(self.data)


@dataclass
class FrameParser:
    """Splits a byte stream into frames; keeps the unfinished tail between reads."""

    tail: bytes = b""
    frames: list[Frame] = field(default_factory=list)

    def feed(self, chunk: bytes, received_at: float) -> list[Frame]:
        blocks = (self.tail + chunk).split(b"\n\n")
        self.tail = blocks.pop()
        new = [frame for block in blocks if (frame := _frame(block, received_at))]
        self.frames.extend(new)
        return new


def _frame(block: bytes, received_at: float) -> Frame | None:
    frame_id = data = None
    for line in block.split(b"\n"):
        if line.startswith(b"id: "):
            frame_id = int(line.rsplit(b":", 1)[1])
        elif line.startswith(b"data: "):
            data = line[6:]
    if frame_id is None and data is None:
        return None  # retry, comments, padding
    return Frame(frame_id, data, received_at)


class Stream:
    """One open SSE response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 status: int, body_start: bytes) -> None:
        self.reader, self.writer, self.status = reader, writer, status
        self.parser = FrameParser()
        self.pending = body_start

    @classmethod
    async def open(cls, port: int, path: str, *, headers: dict[str, str] | None = None,
                   method: str = "GET", body: bytes = b"") -> "Stream":
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        lines = [f"{method} {path} HTTP/1.0", "Host: 127.0.0.1", "Accept: text/event-stream",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return cls(reader, writer, status, b"")

    async def read_chunk(self) -> bytes:
        """The next bytes of the body; b"" at its end."""
        if self.pending:
            chunk, self.pending = self.pending, b""
            return chunk
        return await self.reader.read(READ_BYTES)

    async def frames(self):
        """Frames as they arrive, stamped with their receive time."""
        while chunk := await self.read_chunk():
            for frame in self.parser.feed(chunk, time.time()):
                yield frame

    async def read_to_end(self) -> bytes:
        """The whole rest of the body (the server closes after `[DONE]`)."""
        chunks = []
        while chunk := await self.read_chunk():
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_until(self, marker: bytes) -> bytes:
        """Read until `marker` has arrived (the peer never closes its streams)."""
        chunks, window = [], b""
        while True:
            chunk = await self.read_chunk()
            if not chunk:
                raise ConnectionError("stream ended before the marker")
            chunks.append(chunk)
            if marker in window + chunk:
                return b"".join(chunks)
            window = chunk[-len(marker):]

    def close(self) -> None:
        self.writer.close()


def parse_all(body: bytes) -> list[Frame]:
    """Every frame of a complete body."""
    parser = FrameParser()
    parser.feed(body + b"\n\n", 0.0)
    return parser.frames


def check_sequence(ids: list[int], *, first: int, last: int | None = None) -> dict[str, int]:
    """Gaps (ids never received) and duplicates in what should be first, first+1, ..."""
    seen: set[int] = set()
    duplicates = 0
    for frame_id in ids:
        if frame_id in seen:
            duplicates += 1
        seen.add(frame_id)
    top = last if last is not None else (max(seen) if seen else first - 1)
    missing = sum(1 for n in range(first, top + 1) if n not in seen)
    out_of_order = sum(1 for a, b in zip(ids, ids[1:]) if b <= a)
    return {"lost": missing, "duplicated": duplicates, "out_of_order": out_of_order}
