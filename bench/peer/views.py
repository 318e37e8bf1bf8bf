"""A producer inside the peer's process: its live listeners live in this process only."""

import asyncio
import time

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from django_eventstream import send_event

# Strong references: the event loop keeps only weak ones to tasks.
_producers: set[asyncio.Task] = set()


async def _produce(channel: str, count: int, interval_seconds: float) -> None:
    """Store and publish `count` events, one every `interval_seconds`, then `done`."""
    publish = sync_to_async(send_event)
    for sequence_number in range(1, count + 1):
        # created_at is taken before the event is stored, as Freddy does.
        await publish(channel, "message", {"sequence_number": sequence_number,
                                           "delta": " token", "created_at": time.time()})
        await asyncio.sleep(interval_seconds)
    await publish(channel, "done", {"sequence_number": count + 1, "created_at": time.time()})


async def produce(request):
    """POST ?channel=&count=&interval_ms=: start a producer task and answer at once."""
    if request.method != "POST":
        return HttpResponse(status=405)
    task = asyncio.create_task(_produce(request.GET["channel"], int(request.GET["count"]),
                                        int(request.GET["interval_ms"]) / 1000))
    _producers.add(task)
    task.add_done_callback(_producers.discard)
    return JsonResponse({"started": True})
