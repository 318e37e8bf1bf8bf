"""Setting up Freddy's side through its API and bulk SQL."""

import asyncio
import time

import httpx
import orjson

from bench.servers import FREDDY_APP, Database, Process
from bench.sse_client import Stream

RUN_TIMEOUT_SECONDS = 300


def api_key_create(database: Database) -> str:
    """A fresh API key of the bench organization."""
    out = database.run_django(FREDDY_APP[0], "create_api_key", "--org", "org_bench")
    return out.strip().splitlines()[-1]


def echo_body(*, tokens: int, token_delay_ms: int, thread_id: str | None = None,
              stream: bool = False) -> dict:
    """An echo request producing `tokens` deltas (so `tokens` + 2 events)."""
    return {"model": "echo", "stream": stream, "thread_id": thread_id,
            "inputs": [{"role": "user", "content": "w"}],
            "model_options": {"token_delay_ms": token_delay_ms, "repeat": tokens}}


def run_finished_create(server: Process, key: str, *, events: int) -> dict:
    """A completed run of exactly `events` events, made through the API."""
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key},
                      timeout=RUN_TIMEOUT_SECONDS) as client:
        reply = client.post("/v1/model/response",
                            json=echo_body(tokens=events - 2, token_delay_ms=0))
        reply.raise_for_status()
        return reply.json()


async def run_live_start(server: Process, key: str, *, tokens: int,
                         token_delay_ms: int) -> tuple[str, str]:
    """Start a live echo run; returns (thread_id, response_id) once it has begun."""
    body = orjson.dumps(echo_body(tokens=tokens, token_delay_ms=token_delay_ms, stream=True))
    stream = await Stream.open(server.port, "/v1/model/response", method="POST", body=body,
                               headers={"X-API-Key": key})
    try:
        async for frame in stream.frames():
            if frame.data is not None:
                created = frame.json()
                return created["thread_id"], created["response_id"]
    finally:
        stream.close()  # the run goes on without this client
    raise RuntimeError("the run did not start")


def run_cancel(server: Process, key: str, thread_id: str) -> None:
    httpx.post(f"{server.url}/v1/model/response/{thread_id}/cancel",
               headers={"X-API-Key": key}, timeout=60)


async def run_wait_for_events(server: Process, key: str, thread_id: str,
                              at_least: int) -> int:
    """Poll the thread's active run until it has stored `at_least` events."""
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key},
                                 timeout=60) as client:
        while True:
            reply = await client.get(f"/v1/threads/{thread_id}/messages")
            active = reply.json().get("active_run")
            last = active["last_event_id"] if active else 0
            if last >= at_least or active is None:
                return last
            await asyncio.sleep(0.05)


def stream_path(thread_id: str, after: int) -> str:
    return f"/v1/model/response/{thread_id}/stream?last_event_id={after}"


def now() -> float:
    return time.perf_counter()
