"""A run's channel-layer group, shared by every listener of the run in this process.

A process joins a run's group once, however many streams of the run it serves: one
channel and one pump per process and run, whose batches are handed to each listener's
bounded queue. The channel layer then carries one message per process rather than one
per reader, and an idle stream costs a queue rather than a task and a channel.
"""

import asyncio
import contextlib
import contextvars
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from streaming.events import StoredEvent
from streaming.publish import run_group_name, stored_events_from_message

logger = logging.getLogger(__name__)

# Group messages a listener may hold before it stops queueing and backfills from the
# database instead: bounds memory per slow client.
INBOX_MAX_MESSAGES = 1000
# A cancel that lands inside channels_redis' blocking read is sometimes swallowed (the
# pump then waits for messages forever); it is repeated this often, this far apart,
# before the pump is given up for lost.
PUMP_CANCEL_ATTEMPTS = 20
PUMP_CANCEL_WAIT_SECONDS = 0.25


async def _pump_stop(pump: asyncio.Task) -> None:
    """Cancel the pump and wait for it, cancelling again if a cancel was lost."""
    for _ in range(PUMP_CANCEL_ATTEMPTS):
        pump.cancel()
        done, _ = await asyncio.wait({pump}, timeout=PUMP_CANCEL_WAIT_SECONDS)
        if done:
            if not pump.cancelled() and pump.exception() is not None:
                logger.warning("Run group pump ended with an error", exc_info=pump.exception())
            return
    logger.warning("Run group pump ignored %d cancels; leaving it", PUMP_CANCEL_ATTEMPTS)


class RunGroup:
    """This process's membership of one run's group, pumped to its listeners.

    While the layer is unreachable, `connected` is False and the pump retries the
    join; listeners poll the database meanwhile.
    """

    def __init__(self, response_id: str) -> None:
        self.response_id = response_id
        self.group = run_group_name(response_id)
        self.listeners: set[asyncio.Queue] = set()
        self.connected = False
        self.joined = asyncio.Event()  # the first join was tried, whatever its outcome
        self._layer = get_channel_layer()
        self._channel = ""
        # Its own context: the pump outlives the request or run that started it.
        self._pump = asyncio.create_task(self._pump_messages(), context=contextvars.Context())

    async def close(self) -> None:
        await _pump_stop(self._pump)
        if self._channel:
            with contextlib.suppress(Exception):
                await self._layer.group_discard(self.group, self._channel)

    async def join(self, *, retrying: bool = False) -> None:
        """Add the channel to the group (again: a restarted Redis forgets members)."""
        try:
            await self._layer.group_add(self.group, self._channel)
        except Exception as exc:
            if not retrying:  # once per outage, not once per retry
                logger.warning("Channel layer unreachable (%s); polling the database", exc)
            self.connected = False
            return
        if retrying:
            logger.info("Channel layer is back; %s listens to its group again", self.group)
        self.connected = True

    async def _pump_messages(self) -> None:
        try:
            self._channel = await self._layer.new_channel()
            await self.join()
        finally:
            self.joined.set()
        # The only caller of receive(): it is never timed out, because cancelling a
        # receive loses what the layer had buffered for the channel.
        while True:
            if not self.connected:
                await asyncio.sleep(settings.FREDDY_STREAM_POLL_SECONDS)
                await self.join(retrying=True)
                continue
            try:
                message = await self._layer.receive(self._channel)
            except Exception as exc:
                logger.warning("Channel layer receive failed (%s); polling the database", exc)
                self.connected = False
                continue
            events = stored_events_from_message(message)
            for queue in self.listeners:
                with contextlib.suppress(asyncio.QueueFull):
                    # Dropped batches show up as a sequence gap; the reader backfills.
                    queue.put_nowait(events)


# This process's memberships, by run id. Touched only from the event loop's thread.
_run_groups: dict[str, RunGroup] = {}


class RunInbox:
    """One listener of a run: joins the run's group on enter, leaves it on exit.

    Whatever the group delivers after `async with` returns is queued here; what was
    published before is in the database already (events are stored, then published).
    """

    def __init__(self, response_id: str) -> None:
        self.response_id = response_id
        self.queue: asyncio.Queue[list[StoredEvent]] = asyncio.Queue(INBOX_MAX_MESSAGES)
        self._group: RunGroup | None = None

    @property
    def connected(self) -> bool:
        return self._group is not None and self._group.connected

    async def __aenter__(self) -> "RunInbox":
        group = _run_groups.get(self.response_id)
        if group is None:
            group = _run_groups[self.response_id] = RunGroup(self.response_id)
        self._group = group
        group.listeners.add(self.queue)
        try:
            await group.joined.wait()
        except BaseException:
            await self._leave()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._leave()

    async def _leave(self) -> None:
        group, self._group = self._group, None
        group.listeners.discard(self.queue)
        if not group.listeners and _run_groups.get(self.response_id) is group:
            del _run_groups[self.response_id]
            await group.close()

    async def get(self, timeout: float) -> list[StoredEvent] | None:
        """The next batch of events, or None after `timeout` seconds of silence."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        try:
            # asyncio.timeout rather than wait_for: no extra task per event and reader.
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def rejoin(self) -> None:
        """Join the group again: a restarted Redis may have forgotten this process."""
        if self._group is not None:
            await self._group.join()
