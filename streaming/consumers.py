"""The `freddy-runs` worker: `python manage.py runworker freddy-runs`."""

import asyncio
import logging

from channels.consumer import AsyncConsumer
from channels.worker import Worker

from streaming.executor import run_spawn

logger = logging.getLogger(__name__)

# Pause between receive attempts while the channel layer is down: short enough to pick
# up queued runs soon after Redis returns, long enough not to spin.
LAYER_RETRY_SECONDS = 1.0


class RunConsumer(AsyncConsumer):
    async def run_execute(self, message: dict) -> None:
        logger.info("Executing run %s", message["response_id"])
        # Spawned, not awaited: one worker process executes many runs at once.
        run_spawn(message["response_id"])
        await asyncio.sleep(0)


class ResilientWorker(Worker):
    """Channels' worker, except that a channel-layer outage does not end the process.

    The stock listener lets a Redis error escape, which stops the worker and every run
    it is executing; this one waits for the layer to come back instead.
    """

    async def listener(self, channel: str) -> None:
        while True:
            try:
                message = await self.channel_layer.receive(channel)
            except Exception as exc:
                logger.warning("Channel layer receive on %s failed (%s); retrying",
                               channel, exc)
                await asyncio.sleep(LAYER_RETRY_SECONDS)
                continue
            if not message.get("type"):
                raise ValueError("Worker received message with no type.")
            scope = {"type": "channel", "channel": channel}
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)
