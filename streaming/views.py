"""The response endpoints: create (streamed or not), reconnect, cancel.

A stream is a chain of small async generators over one run:
RETRY_FRAME, stored events after the cursor (replayed), live events from the run's
group (de-duplicated and gap-filled from the database), then DONE_FRAME.

The reconnect endpoint, `response_stream`, is a plain ASGI app routed ahead of Django
(freddy.asgi): a stream lives for minutes and mostly idles, and Django's handler keeps
a thread, the request and its middleware's work alive for all of it (134 KiB per idle
stream against 22 KiB here in `make bench`, and ~11 ms of CPU per reconnect).
"""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import JsonResponse, QueryDict, StreamingHttpResponse
from django.utils.datastructures import CaseInsensitiveMapping
from django.views import View
from rest_framework.response import Response
from rest_framework.views import APIView

from freddy.auth import authenticate_request, principal_for_key, raw_key_from_headers
from freddy.errors import InvalidJson, MethodNotAllowed, ValidationFailed, error_envelope
from freddy.ids import new_trace_id
from streaming import sse
from streaming.db import db_call, db_read
from streaming.events import StoredEvent, json_text
from streaming.executor import run_dispatch
from streaming.inbox import RecentEvents, RunInbox
from streaming.selectors import RunState, events_after, run_for_stream, run_state
from streaming.selectors import synthesized_terminal
from streaming.serializers import ResponseCreateSerializer
from streaming.services import response_create, run_cancel_active, run_fail_if_stale
from threads.selectors import thread_get

INVALID_LAST_EVENT_ID = "last_event_id must be an integer greater than or equal to 0."
# ASCII digits only: str.isdigit() also accepts "²", which int() then rejects (a 500).
_LAST_EVENT_ID = re.compile(r"[0-9]+")
# Sequence numbers are 32-bit columns; a larger cursor means the same ("past the end")
# and must not overflow the database's integer type in the query.
MAX_SEQUENCE_NUMBER = 2**31 - 1
# A reader that fills a live run's recent events reads at least this many of the newest:
# the readers reconnecting after it (a proxy restart, say) are most likely among them.
RECENT_FILL_EVENTS = 1000


class AsyncApiView(View):
    """A plain async Django view whose errors become the envelope."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise MethodNotAllowed(f"Method {request.method} is not allowed on this endpoint.")


class ResponseCreateView(AsyncApiView):
    async def post(self, request):
        principal = await sync_to_async(authenticate_request)(request)
        body = ResponseCreateSerializer(data=_json_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = await db_call(
            response_create, organization_id=principal.organization_id,
            thread_id=data["thread_id"], thread_metadata=data["thread_metadata"], model=data["model"],
            model_options=data["model_options"], metadata=data["metadata"],
            inputs=data["inputs"])
        await run_dispatch(run.id)
        # The stream reads on other threads (db_read): this request's connection would
        # otherwise sit idle, ~170 KB of SQLite, until the run ends.
        await sync_to_async(connections.close_all)()
        state = RunState(run.id, run.thread_id, run.status, 0, None, run.heartbeat_at)
        if data["stream"]:
            return sse_response(event_stream(state, after=0))
        return JsonResponse(await _run_result(state))


class ResponseCancelView(APIView):
    def post(self, request, thread_id):
        thread = thread_get(thread_id=thread_id, annotated=False,
                            organization_id=request.auth.organization_id)
        run = run_cancel_active(thread_id=thread.id)
        if run is None:
            return Response({"success": True, "thread_id": thread.id, "response_id": None,
                             "status": "inactive"})
        elapsed = (run.ended_at - (run.started_at or run.created_at)).total_seconds()
        return Response({"success": True, "thread_id": thread.id, "response_id": run.id,
                         "status": "cancelled", "partial_content_saved": True,
                         "elapsed_seconds": round(elapsed, 3)})


def _json_body(request) -> object:
    try:
        return orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(system_message=str(exc)) from exc


def _last_event_id(query: QueryDict, headers: CaseInsensitiveMapping) -> int:
    raw = query.get("last_event_id", headers.get("Last-Event-ID", "0"))
    if not _LAST_EVENT_ID.fullmatch(raw.strip()):
        raise ValidationFailed(INVALID_LAST_EVENT_ID,
                               details={"last_event_id": INVALID_LAST_EVENT_ID})
    return min(int(raw), MAX_SEQUENCE_NUMBER)


SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}


def sse_response(frames: AsyncIterator[bytes]) -> StreamingHttpResponse:
    return StreamingHttpResponse(frames, headers=SSE_HEADERS)


# --- Reconnect: GET /v1/model/response/{thread_id}/stream ------------------------------


async def response_stream(scope: dict, receive, send) -> None:
    """The reconnect endpoint, as an ASGI app: replay after the cursor, then live-tail."""
    trace_id = new_trace_id()
    try:
        if scope["method"] != "GET":
            raise MethodNotAllowed(f"Method {scope['method']} is not allowed on this endpoint.")
        headers = CaseInsensitiveMapping({name.decode("latin-1"): value.decode("latin-1")
                                          for name, value in scope["headers"]})
        raw_key = raw_key_from_headers(headers)
        after = _last_event_id(QueryDict(scope["query_string"]), headers)
        run = await db_read(_run_for_key, raw_key=raw_key,
                            thread_id=scope["url_route"]["kwargs"]["thread_id"])
    except Exception as exc:  # noqa: BLE001 - every error is the envelope
        status, body = error_envelope(exc, trace_id)
        await _send_start(send, status, trace_id, {"Content-Type": "application/json"})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})
        return
    await _send_start(send, 200, trace_id, SSE_HEADERS)
    await _send_until_disconnected(send, receive, event_stream(run, after=after))


def _run_for_key(*, raw_key: str, thread_id: str) -> RunState:
    """The key's organization, then the thread's run: one trip to a database thread."""
    principal = principal_for_key(raw_key=raw_key)
    return run_for_stream(thread_id=thread_id, organization_id=principal.organization_id)


async def _send_start(send, status: int, trace_id: str, headers: dict[str, str]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(name.encode(), value.encode()) for name, value in
                            {**headers, "X-Request-ID": trace_id}.items()]})


async def _send_until_disconnected(send, receive, frames: AsyncIterator[bytes]) -> None:
    """Send every frame; stop as soon as the client goes away."""
    sending = asyncio.current_task()
    finished = False

    def stop_sending(_) -> None:
        if not finished:
            sending.cancel()

    # Daphne drops what is sent to a closed connection: only this notices the client left.
    disconnected = asyncio.ensure_future(_client_disconnect(receive))
    disconnected.add_done_callback(stop_sending)
    try:
        async for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not disconnected.done():
            raise
        sending.uncancel()  # the client left: a normal end
    finally:
        finished = True
        disconnected.cancel()
        await frames.aclose()


async def _client_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# --- The stream ---------------------------------------------------------------------


@dataclass
class Cursor:
    """Where one stream stands: the last id sent and the replay boundary."""

    last_sent: int
    replay_until: int  # events up to here were stored before the client connected
    terminal: StoredEvent | None = None

    @property
    def finished(self) -> bool:
        return self.terminal is not None

    def frames(self, events: list[StoredEvent], recent: RecentEvents | None = None) -> bytes:
        """Encode the events not yet sent, up to the terminal one.

        Replayed frames come from `recent` where given: a storm of readers replaying
        one run encodes each frame once.
        """
        out = []
        for event in events:
            if event.sequence_number <= self.last_sent or self.finished:
                continue
            if event.sequence_number > self.replay_until:
                out.append(sse.encode_frame(event.sequence_number, event.payload))
            elif recent is not None:
                out.append(recent.replay_frame(event))
            else:
                out.append(sse.encode_frame(event.sequence_number, event.payload, replay=True))
            self.last_sent = event.sequence_number
            if event.is_terminal:
                self.terminal = event
        return b"".join(out)


async def event_stream(run: RunState, *, after: int) -> AsyncIterator[bytes]:
    """The whole SSE body of one connection."""
    yield sse.RETRY_FRAME
    if run.is_finished and after >= run.last_sequence_number:
        pass
    elif run.buffer_expired:
        yield _synthesized_frame(*await _synthesized_terminal(run.id))
    else:
        cursor = Cursor(last_sent=after, replay_until=run.last_sequence_number)
        # Join the group before reading the backlog: nothing published meanwhile is lost.
        async with RunInbox(run.id) as inbox:
            # A live run's readers share what the process holds of it; an ended run's
            # rows may be purged under a reader, which must then see the purge.
            recent = None if run.is_finished else inbox.recent
            async for frame in stored_events(run.id, cursor, recent):
                yield frame
            if run.is_finished and not cursor.finished:
                # It had ended, yet its rows are gone (purged before the TTL): answer
                # now rather than after a heartbeat of silence.
                yield _synthesized_frame(*await _synthesized_terminal(run.id))
            else:
                async for frame in live_events(run.id, cursor, inbox, recent):
                    yield frame
    yield sse.DONE_FRAME


async def stored_events(response_id: str, cursor: Cursor,
                        recent: RecentEvents | None = None) -> AsyncIterator[bytes]:
    """Every stored event after the cursor, one write per chunk of rows.

    `recent` (a live run's events this process holds) answers first; the database
    answers what it cannot, and what it reads is kept there for the next reader.
    """
    chunk = settings.FREDDY_REPLAY_CHUNK_EVENTS
    while not cursor.finished:
        if recent is None:
            events = await db_read(events_after, response_id=response_id,
                                   after=cursor.last_sent, limit=chunk)
        else:
            events = await _recent_events_after(response_id, recent, cursor.last_sent, chunk,
                                                newest=cursor.replay_until)
        if frames := cursor.frames(events, recent):
            yield frames
        if len(events) < chunk:
            return


async def _recent_events_after(response_id: str, recent: RecentEvents, after: int,
                               limit: int, *, newest: int) -> list[StoredEvent]:
    """From `recent` where it can answer, else from the database, one reader at a time.

    A thousand readers arriving at once would otherwise all miss and all read; the one
    that reads takes at least the run's last RECENT_FILL_EVENTS, for the others.
    """
    while (events := recent.after(after, limit)) is None:
        if recent.reading is not None:
            await recent.reading.wait()
            continue
        recent.reading = asyncio.Event()
        start = after if after >= newest else max(0, min(after, newest - RECENT_FILL_EVENTS))
        try:
            events = await db_read(events_after, response_id=response_id, after=start,
                                   limit=limit + after - start)
            recent.add(events)
        finally:
            recent.reading.set()
            recent.reading = None
        return [event for event in events if event.sequence_number > after]
    return events


async def live_events(response_id: str, cursor: Cursor, inbox: RunInbox,
                      recent: RecentEvents | None = None) -> AsyncIterator[bytes]:
    """Events as the run's group delivers them, until the terminal one."""
    while not cursor.finished:
        timeout = (settings.FREDDY_SSE_HEARTBEAT_SECONDS if inbox.connected
                   else settings.FREDDY_STREAM_POLL_SECONDS)
        events = await inbox.get(timeout)
        if events is None:
            sent_before = cursor.last_sent
            async for frame in idle_events(response_id, cursor):
                yield frame
            if inbox.connected and cursor.last_sent != sent_before:
                # Stored rows the group never delivered: Redis may have restarted
                # and forgotten this listener.
                await inbox.rejoin()
        elif events[0].sequence_number > cursor.last_sent + 1:
            # The layer dropped a message (a full channel, an outage): the rows are stored.
            async for frame in stored_events(response_id, cursor, recent):
                yield frame
        elif frames := cursor.frames(events):
            yield frames


async def idle_events(response_id: str, cursor: Cursor) -> AsyncIterator[bytes]:
    """After a silence: catch up from the database, end a stale run, or keep alive."""
    sent_before = cursor.last_sent
    async for frame in stored_events(response_id, cursor):
        yield frame
    if cursor.last_sent != sent_before:
        return
    state = await db_read(run_state, response_id=response_id)
    if state is None:
        # Deleted with its thread: nothing is left to send but the end.
        cursor.terminal = StoredEvent(cursor.last_sent, "thread.deleted", "")
        return
    if state.is_finished:
        # Ended, yet no terminal row after ours: the buffer was purged under us.
        sequence_number, body = await _synthesized_terminal(response_id)
        cursor.terminal = StoredEvent(sequence_number, body["event"], "")
        yield _synthesized_frame(sequence_number, body)
        return
    if state.heartbeat_stale:
        await db_call(run_fail_if_stale, response_id=response_id)
        return
    yield sse.KEEP_ALIVE_FRAME


async def _synthesized_terminal(response_id: str) -> tuple[int, dict]:
    return await db_read(synthesized_terminal, response_id=response_id)


def _synthesized_frame(sequence_number: int, body: dict) -> bytes:
    return sse.encode_frame(sequence_number, json_text(body))


async def _run_result(run: RunState) -> dict:
    """Wait for the run to end; the non-streamed reply."""
    cursor = Cursor(last_sent=0, replay_until=0)
    async with RunInbox(run.id) as inbox:
        async for _ in stored_events(run.id, cursor):
            pass
        async for _ in live_events(run.id, cursor, inbox):
            pass
    if cursor.terminal.payload:
        terminal = orjson.loads(cursor.terminal.payload)
    else:
        terminal = (await _synthesized_terminal(run.id))[1]
    return {
        "success": terminal["status"] == "completed",
        "thread_id": run.thread_id, "response_id": run.id, "status": terminal["status"],
        "response": terminal.get("response") or [{"type": "text", "text": ""}],
        "stop_reason": terminal.get("stop_reason", terminal["status"]),
        "is_summarized": False,
        "usage": terminal.get("usage", {"input_tokens": 0, "output_tokens": 0}),
        **({"error": {"code": terminal["code"], "message": terminal["message"]}}
           if "code" in terminal else {}),
    }
