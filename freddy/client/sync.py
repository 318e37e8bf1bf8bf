"""The blocking client: FreddyClient over httpx.Client."""

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx

from freddy.client.events import Event
from freddy.client.requests import (DEFAULT_TIMEOUT, PendingCreate, Request,
                                    after_lost_create, create_request, log_retry,
                                    next_request, stream_request, thread_body)
from freddy.client.resume import (ApiError, RetryPolicy, StreamCursor, StreamDropped,
                                  api_error)

logger = logging.getLogger("freddy.client")


class FreddyClient:
    """Streams of a Freddy server that resume by themselves after a dropped connection."""

    def __init__(self, base_url: str, api_key: str, *, retry: RetryPolicy | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=base_url, headers={"X-API-Key": api_key},
                                  timeout=timeout)

    def __enter__(self) -> "FreddyClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def create_thread(self, *, title: str | None = None,
                      metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Create a thread; the Thread object."""
        response = self._http.post("/v1/threads", json=thread_body(title, metadata))
        if response.status_code != 201:
            raise api_error(response.status_code, response.content)
        return response.json()

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        """The Thread object (its `status` says whether a run is streaming)."""
        failures = 0
        while True:  # a GET is safe to send again after a dropped connection
            try:
                response = self._http.get(f"/v1/threads/{thread_id}")
                break
            except httpx.TransportError as exc:
                failures += 1
                time.sleep(self.retry.pause_after(failures, exc))
        if response.status_code != 200:
            raise api_error(response.status_code, response.content)
        return response.json()

    def stream(self, thread_id: str, last_event_id: int | None = None) -> Iterator[Event]:
        """The thread's run events after `last_event_id`, resuming after drops, to the end."""
        cursor = StreamCursor(last_event_id=last_event_id or 0, answered=True)
        yield from self._follow(thread_id, cursor, stream_request(thread_id, cursor), None)

    def respond(self, text: str, *, thread_id: str | None = None, model: str = "echo",
                model_options: dict[str, Any] | None = None) -> Iterator[Event]:
        """Start a run on the thread (a new one when None) and stream it, resuming."""
        thread = self.get_thread(thread_id) if thread_id else self.create_thread()
        request = create_request(thread["id"], text, model=model, model_options=model_options)
        create = PendingCreate(request, thread["message_count"])
        yield from self._follow(thread["id"], StreamCursor(), request, create)

    def _follow(self, thread_id: str, cursor: StreamCursor, request: Request | None,
                create: PendingCreate | None) -> Iterator[Event]:
        while True:
            try:
                if request is None:
                    request = after_lost_create(self.get_thread(thread_id), cursor, create)
                yield from self._read(request, cursor)
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
            time.sleep(delay)
            request = next_request(thread_id, cursor, request, error)

    def _read(self, request: Request, cursor: StreamCursor) -> Iterator[Event]:
        with self._http.stream(request.method, request.url, **request.kwargs) as response:
            if response.status_code != 200:
                raise api_error(response.status_code, response.read())
            cursor.answered = True
            logger.debug("connected: %s %s", request.method, request.url)
            for line in response.iter_lines():
                yield from cursor.feed(line)
                if cursor.done:
                    return

