"""The `freddy-runs` worker: `python manage.py runworker freddy-runs`."""

import asyncio

from channels.consumer import AsyncConsumer

from streaming.executor import run_spawn


class RunConsumer(AsyncConsumer):
    async def run_execute(self, message: dict) -> None:
        # Spawned, not awaited: one worker process executes many runs at once.
        run_spawn(message["response_id"])
        await asyncio.sleep(0)
