"""Executes runs, decoupled from any HTTP connection."""

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from freddy.errors import ServiceUnavailable
from streaming.db import db_call
from streaming.inbox import RunInbox
from streaming.providers import ModelRequest, ProviderError, provider_for
from streaming.publish import RUN_ENDS_GROUP, RUN_EVENTS_GROUP, events_publish
from streaming.services import run_append_deltas, run_complete, run_fail, run_heartbeat
from streaming.services import DeltasStored, run_start, runs_append_deltas

logger = logging.getLogger(__name__)

RUNS_CHANNEL = "freddy-runs"
RUN_EXECUTE_MESSAGE = "run.execute"
# Deltas stored in one transaction at most; a fast model is written in batches this big.
MAX_DELTAS_PER_APPEND = 256

# Strong references: the event loop keeps only weak ones to tasks.
_in_process_runs: set[asyncio.Task] = set()


RUN_DISPATCH_FAILED_MESSAGE = "The response could not be queued: the channel layer is down."


async def run_dispatch(response_id: str) -> None:
    """Hand a queued run to the configured executor."""
    if settings.FREDDY_RUN_EXECUTOR != "worker":
        run_spawn(response_id)
        return
    try:
        await get_channel_layer().send(
            RUNS_CHANNEL, {"type": RUN_EXECUTE_MESSAGE, "response_id": response_id})
    except Exception as exc:
        # No worker will ever see this run: end it now rather than leave the thread
        # busy until the stale sweep.
        logger.warning("Could not queue run %s: %s", response_id, exc)
        await db_call(run_fail, response_id=response_id, code="executor_unavailable",
                      message=RUN_DISPATCH_FAILED_MESSAGE)
        raise ServiceUnavailable(RUN_DISPATCH_FAILED_MESSAGE) from exc


def run_spawn(response_id: str) -> asyncio.Task:
    """Execute the run as a task of this process, outliving the request that made it."""
    # A fresh context: the task must not inherit the request's thread-sensitive
    # context, which closes when the response ends.
    task = asyncio.create_task(run_execute(response_id), context=contextvars.Context())
    _in_process_runs.add(task)
    task.add_done_callback(_in_process_runs.discard)
    return task


async def run_execute(response_id: str) -> None:
    """Produce one run from `response.created` to its terminal event."""
    # One database thread (and connection) per run, closed when the run ends.
    async with ThreadSensitiveContext():
        try:
            await _produce(response_id)
        finally:
            await sync_to_async(connections.close_all)()


async def _produce(response_id: str) -> None:
    plan = await db_call(run_start, response_id=response_id)
    if plan is None:
        return
    request = ModelRequest(model=plan.model, options=plan.options, history=plan.history)
    # A worker serves no readers: it needs to hear of the run's end only. A run in the
    # server process hears every event: that keeps its recent events warm for readers.
    watched = RUN_ENDS_GROUP if settings.FREDDY_RUN_EXECUTOR == "worker" else RUN_EVENTS_GROUP
    async with RunInbox(response_id, group=watched) as inbox:
        work = asyncio.create_task(_stream_into_run(response_id, request))
        watch = asyncio.create_task(_watch_until_ended(response_id, inbox))
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        for task in (work, watch):
            task.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)


async def _stream_into_run(response_id: str, request: ModelRequest) -> None:
    try:
        async for deltas in _coalesced(provider_for(request.model).stream(request)):
            if not await _delta_writer().append(response_id, deltas):
                return  # cancelled or failed elsewhere
    except ProviderError as error:
        await db_call(run_fail, response_id=response_id, code=error.code,
                      message=error.message)
        return
    except Exception:
        logger.exception("Run %s failed", response_id)
        await db_call(run_fail, response_id=response_id, code="internal_error",
                      message="The response failed on the server.")
        return
    await db_call(run_complete, response_id=response_id,
                  input_tokens=request.input_tokens, output_tokens=request.output_tokens,
                  stop_reason=request.stop_reason)


async def _watch_until_ended(response_id: str, inbox: RunInbox) -> None:
    """Return once the run ends elsewhere (cancel, stale sweep), beating meanwhile."""
    while True:
        events = await inbox.get(timeout=settings.FREDDY_RUN_HEARTBEAT_SECONDS)
        if events is None:
            if not await db_call(run_heartbeat, response_id=response_id):
                return
        elif any(event.is_terminal for event in events):
            return


async def _coalesced(deltas: AsyncIterator[str]) -> AsyncIterator[list[str]]:
    """Group the deltas that arrive while the previous batch is being stored."""
    queue: asyncio.Queue = asyncio.Queue()
    end = object()

    async def pump() -> None:
        try:
            async for delta in deltas:
                await queue.put(delta)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)
            return
        await queue.put(end)

    pumping = asyncio.create_task(pump())
    try:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_DELTAS_PER_APPEND:
                batch.append(queue.get_nowait())
            finished = batch[-1] is end or isinstance(batch[-1], BaseException)
            if texts := [d for d in batch if isinstance(d, str)]:
                yield texts
            if isinstance(batch[-1], BaseException):
                raise batch[-1]
            if finished:
                return
    finally:
        pumping.cancel()
        with contextlib.suppress(BaseException):
            await pumping
        await deltas.aclose()


class DeltaWriter:
    """Stores the deltas of every run of this process, one transaction per flush.

    Each run hands its next batch and waits for it to be stored; whatever the runs hand
    in while a flush is being written goes into the next one. Two hundred runs at 50
    tokens/s then cost tens of transactions a second rather than ten thousand.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        # At most one batch per run: a run waits for its batch before handing the next.
        self._pending: dict[str, tuple[list[str], asyncio.Future]] = {}
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._flush_forever(), context=contextvars.Context())

    async def append(self, response_id: str, deltas: list[str]) -> bool:
        """Store the deltas; False once the run has ended (nothing stored)."""
        stored = self.loop.create_future()
        self._pending[response_id] = (deltas, stored)
        self._wake.set()
        return await stored

    async def _flush_forever(self) -> None:
        # One database thread (and connection) for every flush of this process.
        async with ThreadSensitiveContext():
            publishing: asyncio.Task | None = None
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._pending = self._pending, {}
                stored = await self._flush(batch)
                # Published from here rather than from the database thread, so that
                # the next flush is written meanwhile; one at a time, in order.
                if publishing is not None:
                    await publishing
                publishing = asyncio.create_task(self._publish(stored, batch))

    async def _flush(self, batch: dict[str, tuple[list[str], asyncio.Future]]
                     ) -> DeltasStored | None:
        """Store the batch in one transaction; None if it had to be stored run by run."""
        try:
            return await db_call(runs_append_deltas, deltas_by_run={
                response_id: deltas for response_id, (deltas, _) in batch.items()},
                publish=False)
        except Exception:
            # One run's bad batch must not fail the others: store them one by one.
            logger.warning("A flush of %d runs failed; storing them one by one", len(batch),
                           exc_info=True)
        for response_id, (deltas, appended) in batch.items():
            try:
                result = await db_call(run_append_deltas, response_id=response_id,
                                       deltas=deltas)
            except Exception as exc:
                _resolve(appended, exception=exc)
            else:
                _resolve(appended, result=result)
        return None

    @staticmethod
    async def _publish(stored: DeltasStored | None,
                       batch: dict[str, tuple[list[str], asyncio.Future]]) -> None:
        if stored is None:
            return  # stored and published run by run
        if stored.events_by_run:
            await events_publish(stored.events_by_run)
        # Only now: a run's next events (its end, say) must not overtake these.
        for response_id, (_, appended) in batch.items():
            _resolve(appended, result=response_id not in stored.ended)


def _resolve(future: asyncio.Future, *, result: object = None,
             exception: BaseException | None = None) -> None:
    if future.done():  # its run was cancelled while waiting
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


_writer: DeltaWriter | None = None


def _delta_writer() -> DeltaWriter:
    """This process's writer, made on first use in the running event loop."""
    global _writer
    if _writer is None or _writer.loop is not asyncio.get_running_loop():
        _writer = DeltaWriter()
    return _writer
