"""A run's channel-layer group, drained into a local queue for one listener."""

import asyncio
import contextlib
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
# pump then waits for messages forever and the stream never sends [DONE]); it is
# repeated this often, this far apart, before the pump is given up for lost.
PUMP_CANCEL_ATTEMPTS = 20
PUMP_CANCEL_WAIT_SECONDS = 0.25


async def _pump_stop(pump: asyncio.Task) -> None:
    """Cancel the pump and wait for it, cancelling again if a cancel was lost."""
    for _ in range(PUMP_CANCEL_ATTEMPTS):
        pump.cancel()
        done, _ = await asyncio.wait({pump}, timeout=PUMP_CANCEL_WAIT_SECONDS)
        if done:
            if not pump.cancelled() and pump.exception() is not None:
                logger.warning("Inbox pump ended with an error", exc_info=pump.exception())
            return
    logger.warning("Inbox pump ignored %d cancels; leaving it", PUMP_CANCEL_ATTEMPTS)


class RunInbox:
    """Joins a run's group on enter and pumps its messages into a bounded queue.

    While the layer is unreachable, `connected` is False and the pump retries the
    join; readers poll the database meanwhile.
    """

    def __init__(self, response_id: str) -> None:
        self.group = run_group_name(response_id)
        self.queue: asyncio.Queue[list[StoredEvent]] = asyncio.Queue(INBOX_MAX_MESSAGES)
        self.connected = False
        self._layer = get_channel_layer()
        self._channel = ""
        self._pump: asyncio.Task | None = None

    async def __aenter__(self) -> "RunInbox":
        self._channel = await self._layer.new_channel()
        await self._join()
        self._pump = asyncio.create_task(self._pump_messages())
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._pump is not None:
            await _pump_stop(self._pump)
        with contextlib.suppress(Exception):
            await self._layer.group_discard(self.group, self._channel)

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
        """Add the channel to the group again: a restarted Redis forgot the membership."""
        await self._join()

    async def _join(self, *, retrying: bool = False) -> None:
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
        # The only caller of receive(): it is never timed out, because cancelling a
        # receive loses what the layer had buffered for the channel.
        while True:
            if not self.connected:
                await asyncio.sleep(settings.FREDDY_STREAM_POLL_SECONDS)
                await self._join(retrying=True)
                continue
            try:
                message = await self._layer.receive(self._channel)
            except Exception as exc:
                logger.warning("Channel layer receive failed (%s); polling the database", exc)
                self.connected = False
                continue
            with contextlib.suppress(asyncio.QueueFull):
                # Dropped batches show up as a sequence gap; the reader backfills.
                self.queue.put_nowait(stored_events_from_message(message))
