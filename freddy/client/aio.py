"""The asyncio client: AsyncFreddyClient over httpx.AsyncClient, the twin of FreddyClient."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from freddy.client.events import Event
from freddy.client.requests import (DEFAULT_TIMEOUT, PendingCreate, Request,
                                    after_lost_create, create_request, log_retry,
                                    next_request, stream_request, thread_body)
from freddy.client.resume import (ApiError, RetryPolicy, StreamCursor, StreamDropped,
                                  api_error)

logger = logging.getLogger("freddy.client")


class AsyncFreddyClient:
    """Async streams of a Freddy server that resume by themselves after a drop."""

    def __init__(self, base_url: str, api_key: str, *, retry: RetryPolicy | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key},
                                       timeout=timeout)

    async def __aenter__(self) -> "AsyncFreddyClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def create_thread(self, *, title: str | None = None,
                            metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Create a thread; the Thread object."""
        response = await self._http.post("/v1/threads", json=thread_body(title, metadata))
        if response.status_code != 201:
            raise api_error(response.status_code, response.content)
        return response.json()

    async def get_thread(self, thread_id: str) -> dict[str, Any]:
        """The Thread object (its `status` says whether a run is streaming)."""
        failures = 0
        while True:  # a GET is safe to send again after a dropped connection
            try:
                response = await self._http.get(f"/v1/threads/{thread_id}")
                break
            except httpx.TransportError as exc:
                failures += 1
                await asyncio.sleep(self.retry.pause_after(failures, exc))
        if response.status_code != 200:
            raise api_error(response.status_code, response.content)
        return response.json()

    async def stream(self, thread_id: str,
                     last_event_id: int | None = None) -> AsyncIterator[Event]:
        """The thread's run events after `last_event_id`, resuming after drops, to the end."""
        cursor = StreamCursor(last_event_id=last_event_id or 0, answered=True)
        request = stream_request(thread_id, cursor)
        async for event in self._follow(thread_id, cursor, request, None):
            yield event

    async def respond(self, text: str, *, thread_id: str | None = None, model: str = "echo",
                      model_options: dict[str, Any] | None = None) -> AsyncIterator[Event]:
        """Start a run on the thread (a new one when None) and stream it, resuming."""
        thread = await (self.get_thread(thread_id) if thread_id else self.create_thread())
        request = create_request(thread["id"], text, model=model, model_options=model_options)
        create = PendingCreate(request, thread["message_count"])
        async for event in self._follow(thread["id"], StreamCursor(), request, create):
            yield event

    async def _follow(self, thread_id: str, cursor: StreamCursor, request: Request | None,
                      create: PendingCreate | None) -> AsyncIterator[Event]:
        while True:
            try:
                if request is None:
                    thread = await self.get_thread(thread_id)
                    request = after_lost_create(thread, cursor, create)
                async for event in self._read(request, cursor):
                    yield event
                if cursor.done:
                    return
                error: Exception = StreamDropped("the stream ended before [DONE]")
            except httpx.TransportError as exc:
                error = exc
            except ApiError as exc:
                if not exc.retryable:
                    raise
                error = exc
            delay = cursor.retry_delay(error, self.retry)
            log_retry(thread_id, cursor, error, delay)
            await asyncio.sleep(delay)
            request = next_request(thread_id, cursor, request, error)

    async def _read(self, request: Request, cursor: StreamCursor) -> AsyncIterator[Event]:
        async with self._http.stream(request.method, request.url,
                                     **request.kwargs) as response:
            if response.status_code != 200:
                raise api_error(response.status_code, await response.aread())
            cursor.answered = True
            logger.debug("connected: %s %s", request.method, request.url)
            async for line in response.aiter_lines():
                for event in cursor.feed(line):
                    yield event
                if cursor.done:
                    return
