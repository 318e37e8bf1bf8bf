"""The in-process channel layer used when no Redis is configured."""

import asyncio
import contextlib
import time

from channels.layers import InMemoryChannelLayer

# How often expired messages and group memberships are swept. Channels sweeps on every
# receive and group_send, which costs O(listeners) per call and O(listeners²) per event.
SWEEP_INTERVAL_SECONDS = 1.0


class InProcessChannelLayer(InMemoryChannelLayer):
    """Channels' in-memory layer with O(1) receive and O(group) group_send.

    The stock layer also deep-copies a group message once per listener; here the
    listeners share it: run messages are read, never mutated (streaming.publish).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._next_sweep = 0.0

    def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_SECONDS
            self._clean_expired()

    def _queue(self, channel: str) -> asyncio.Queue:
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(self.get_capacity(channel))
        return queue

    async def receive(self, channel: str) -> dict:
        self.require_valid_channel_name(channel)
        self._sweep_if_due()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._sweep_if_due()
        expires_at = time.time() + self.expiry
        for channel in list(self.groups.get(group, ())):
            # A full channel drops the message, as in Channels: its reader backfills.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue(channel).put_nowait((expires_at, message))
