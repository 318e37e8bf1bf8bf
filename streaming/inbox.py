"""The run-events group, joined once per process and shared by every listener in it.

A process joins RUN_EVENTS_GROUP once, however many streams and runs it serves: one
channel and one pump per process, whose messages are handed by run to each listener's
bounded inbox. An idle stream then costs a small inbox rather than a task and a channel,
and the channel layer carries one message per process rather than one per reader.
Executors listen to RUN_ENDS_GROUP instead: only the runs that ended, not every token.
"""

import asyncio
import contextlib
import contextvars
import logging
from collections import deque

from channels.layers import get_channel_layer
from django.conf import settings

from streaming import sse
from streaming.events import StoredEvent
from streaming.publish import RUN_EVENTS_GROUP, events_by_run_from_message

logger = logging.getLogger(__name__)

# Group messages a listener may hold before it drops them and backfills from the
# database instead: bounds memory per slow client.
INBOX_MAX_MESSAGES = 1000
# A cancel that lands inside channels_redis' blocking read is sometimes swallowed (the
# pump then waits for messages forever); it is repeated this often, this far apart,
# before the pump is given up for lost.
PUMP_CANCEL_ATTEMPTS = 20
PUMP_CANCEL_WAIT_SECONDS = 0.25
# Channels forgets a group member after its group_expiry (a day by default): a process
# that listens longer than that joins again this often.
GROUP_REFRESH_SECONDS = 600


async def _pump_stop(pump: asyncio.Task) -> None:
    """Cancel the pump and wait for it, cancelling again if a cancel was lost."""
    for _ in range(PUMP_CANCEL_ATTEMPTS):
        pump.cancel()
        done, _ = await asyncio.wait({pump}, timeout=PUMP_CANCEL_WAIT_SECONDS)
        if done:
            if not pump.cancelled() and pump.exception() is not None:
                logger.warning("Run events pump ended with an error", exc_info=pump.exception())
            return
    logger.warning("Run events pump ignored %d cancels; leaving it", PUMP_CANCEL_ATTEMPTS)


class RecentEvents:
    """A contiguous stretch of one live run's stored events, shared by its readers.

    A thousand readers reconnecting into one run replay it from here rather than each
    from the database. Stored events never change, so any stretch read from the
    database or delivered by the group is true; it is served only while it reaches
    the newest event the group delivered, so that a reader who joined the group and
    then read it here has missed nothing.
    """

    __slots__ = ("events", "delivered", "reading", "_replay_frames")

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.delivered = 0  # the highest sequence number the group delivered
        # Set while one reader reads the database for all: a storm reads it once.
        self.reading: asyncio.Event | None = None
        # Replay frames encoded once for every reader, by sequence number.
        self._replay_frames: dict[int, bytes] = {}

    def replay_frame(self, event: StoredEvent) -> bytes:
        """The event's frame marked as replayed; encoded once while it is held here."""
        frame = self._replay_frames.get(event.sequence_number)
        if frame is None:
            frame = sse.encode_frame(event.sequence_number, event.payload, replay=True)
            if self.events and (self.events[0].sequence_number <= event.sequence_number
                                <= self.events[-1].sequence_number):
                self._replay_frames[event.sequence_number] = frame
        return frame

    def after(self, after: int, limit: int) -> list[StoredEvent] | None:
        """Up to `limit` events after `after`, or None if this stretch can't tell."""
        if not self.events:
            return None
        first, last = self.events[0].sequence_number, self.events[-1].sequence_number
        if not first - 1 <= after < last or last < self.delivered:
            return None
        start = after - first + 1
        return self.events[start:start + limit]

    def add(self, events: list[StoredEvent]) -> None:
        """Merge contiguous events (read from the database, or delivered) in order."""
        if not events:
            return
        low, high = events[0].sequence_number, events[-1].sequence_number
        first = self.events[0].sequence_number if self.events else 0
        last = self.events[-1].sequence_number if self.events else 0
        if not self.events or low > last + 1:
            self.events = list(events)  # nothing held, or a gap after it: keep the newer
            self._replay_frames.clear()
        elif high < first - 1:
            return  # older, with a gap before what is held
        else:
            if high > last:
                self.events.extend(e for e in events if e.sequence_number > last)
            if low < first:
                self.events[:0] = [e for e in events if e.sequence_number < first]
        if len(self.events) > settings.FREDDY_RECENT_EVENTS_PER_RUN:
            dropped = len(self.events) - settings.FREDDY_RECENT_EVENTS_PER_RUN
            for event in self.events[:dropped]:
                self._replay_frames.pop(event.sequence_number, None)
            del self.events[:dropped]

    def delivered_now(self, events: list[StoredEvent]) -> None:
        self.delivered = max(self.delivered, events[-1].sequence_number)
        self.add(events)


class RunEventsFeed:
    """This process's membership of a run-events group, pumped to its listeners.

    While the layer is unreachable, `connected` is False and the pump retries the
    join; listeners poll the database meanwhile.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self.listeners: dict[str, set[RunInbox]] = {}
        self.recent: dict[str, RecentEvents] = {}  # for the runs that have listeners
        self.connected = False
        self.joined = asyncio.Event()  # the first join was tried, whatever its outcome
        self._layer = get_channel_layer()
        self._channel = ""
        # Their own context: the feed outlives the request or run that started it.
        self._pump = asyncio.create_task(self._pump_messages(), context=contextvars.Context())
        self._refresh = asyncio.create_task(self._refresh_membership(),
                                            context=contextvars.Context())

    def listen(self, inbox: "RunInbox") -> RecentEvents:
        self.listeners.setdefault(inbox.response_id, set()).add(inbox)
        return self.recent.setdefault(inbox.response_id, RecentEvents())

    def unlisten(self, inbox: "RunInbox") -> None:
        response_id = inbox.response_id
        inboxes = self.listeners.get(response_id, set())
        inboxes.discard(inbox)
        if not inboxes:
            self.listeners.pop(response_id, None)
            self.recent.pop(response_id, None)

    async def close(self) -> None:
        self._refresh.cancel()
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
            logger.info("Channel layer is back; listening to run events again")
        self.connected = True

    async def _refresh_membership(self) -> None:
        await self.joined.wait()
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            if self.connected:
                await self.join()

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
            for response_id, events in events_by_run_from_message(message).items():
                if not events:
                    continue
                if (recent := self.recent.get(response_id)) is not None:
                    recent.delivered_now(events)
                for inbox in self.listeners.get(response_id, ()):
                    inbox.deliver(events)


# This process's feeds while they have listeners, by group. Touched only from the event
# loop's thread.
_feeds: dict[str, RunEventsFeed] = {}


class RunInbox:
    """One listener of a run: listens to the run-events group on enter, stops on exit.

    Whatever the group delivers after `async with` returns is held here; what was
    published before is in the database already (events are stored, then published).
    """

    def __init__(self, response_id: str, *, group: str = RUN_EVENTS_GROUP) -> None:
        self.response_id = response_id
        self.group = group
        # The run's recent events in this process (set on enter): a replay reads them first.
        self.recent: RecentEvents | None = None
        self._batches: deque[list[StoredEvent]] = deque()
        self._waiter: asyncio.Future | None = None
        # One lazily re-armed timer per listener rather than one per wait: a reader of a
        # fast run waits fifty times a second, and a timer each time was a tenth of
        # the event loop's work in a storm of a thousand readers.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._feed: RunEventsFeed | None = None

    @property
    def connected(self) -> bool:
        return self._feed is not None and self._feed.connected

    async def __aenter__(self) -> "RunInbox":
        feed = _feeds.get(self.group)
        if feed is None:
            feed = _feeds[self.group] = RunEventsFeed(self.group)
        self._feed = feed
        self.recent = feed.listen(self)
        try:
            await feed.joined.wait()
        except BaseException:
            await self._leave()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._leave()

    async def _leave(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        feed, self._feed = self._feed, None
        feed.unlisten(self)
        if not feed.listeners and _feeds.get(self.group) is feed:
            del _feeds[self.group]
            await feed.close()

    def deliver(self, events: list[StoredEvent]) -> None:
        """Hold a batch from the group; past INBOX_MAX_MESSAGES, drop it."""
        if len(self._batches) < INBOX_MAX_MESSAGES:
            # A dropped batch shows up as a sequence gap; the reader backfills.
            self._batches.append(events)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self, timeout: float) -> list[StoredEvent] | None:
        """The next events (contiguous batches joined), or None after `timeout` s of silence."""
        if not self._batches:
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + timeout
            if self._timer is None or self._timer.when() > self._deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(self._deadline, self._on_deadline)
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            if not self._batches:
                return None
        events = self._batches.popleft()
        while self._batches and (self._batches[0][0].sequence_number
                                 == events[-1].sequence_number + 1):
            # One write for what piled up; a gap stays visible to the reader.
            events = events + self._batches.popleft()
        return events

    def _on_deadline(self) -> None:
        self._timer = None
        if self._waiter is None or self._waiter.done():
            return  # not waiting: the next get() arms it again
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            self._waiter.set_result(None)
        else:  # events came meanwhile and moved the deadline on
            self._timer = loop.call_at(self._deadline, self._on_deadline)

    async def rejoin(self) -> None:
        """Join the group again: a restarted Redis may have forgotten this process."""
        if self._feed is not None:
            await self._feed.join()
