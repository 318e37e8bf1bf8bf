"""Reading SSE streams that may be cut off: by a client that drops, or a killed server."""

import asyncio

import httpx

from tests.sse import Frame, events_of, parse_frames

STREAM_PATH = "/v1/model/response/{thread_id}/stream"
CREATE_PATH = "/v1/model/response"


def echo_body(text: str, *, token_delay_ms: int, repeat: int = 1, **extra) -> dict:
    """A streamed echo create whose deltas concatenate to `text` repeated."""
    return {"model": "echo", "stream": True, "inputs": [{"role": "user", "content": text}],
            "model_options": {"token_delay_ms": token_delay_ms, "repeat": repeat}, **extra}


async def read_frames(client: httpx.AsyncClient, method: str, url: str, *,
                      into: list[Frame], stop_after: int | None = None, **kwargs) -> bool:
    """Append frames to `into` as they arrive; False if the connection broke first."""
    try:
        async with client.stream(method, url, **kwargs) as response:
            assert response.status_code == 200, await response.aread()
            pending: list[str] = []
            async for line in response.aiter_lines():
                pending.append(line)
                if line != "":
                    continue
                into.extend(parse_frames(pending))
                pending = []
                if stop_after is not None and len(events_of(into)) >= stop_after:
                    return True
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
        return False
    return True


# Long enough for a loaded 2-core box to start a run, short enough to fail a stuck test.
EVENTS_WAIT_SECONDS = 30


async def wait_for_events(frames: list[Frame], count: int) -> None:
    """Wait until a reader has received `count` events; fail after a bounded wait."""

    async def arrived() -> None:
        while len(events_of(frames)) < count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(arrived(), EVENTS_WAIT_SECONDS)


def sequence_numbers(frames: list[Frame]) -> list[int]:
    return [e["sequence_number"] for e in events_of(frames)]


def last_id(frames: list[Frame]) -> int:
    ids = sequence_numbers(frames)
    return ids[-1] if ids else 0


def assert_complete_stream(frames: list[Frame], *, after: int = 0) -> list[dict]:
    """Ids after..n exactly once in order, a terminal event, then [DONE]; the events."""
    events = events_of(frames)
    assert [e["sequence_number"] for e in events] == list(
        range(after + 1, after + len(events) + 1))
    assert [f.id for f in frames if f.json] == [e["sequence_number"] for e in events]
    assert frames[-1].is_done
    assert events[-1]["event"] in {"response.completed", "response.error",
                                   "response.cancelled"}
    return events


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["event"] == "response.content_delta")
