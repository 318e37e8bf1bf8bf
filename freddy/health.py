"""`GET /v1/health`: no key needed; 503 when a dependency is down."""

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

# Long enough for a loaded Redis, short enough for a load balancer's probe.
HEALTH_CHECK_TIMEOUT_SECONDS = 2.0


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


async def _channel_layer_ok() -> bool:
    try:
        # A send to an empty group still round-trips to Redis; in memory it is a no-op.
        await asyncio.wait_for(
            get_channel_layer().group_send("freddy.health", {"type": "health.ping"}),
            HEALTH_CHECK_TIMEOUT_SECONDS)
        return True
    except Exception:
        return False


async def health(request):
    checks = {"database": await sync_to_async(_database_ok)(),
              "channel_layer": await _channel_layer_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "degraded",
            **{name: "ok" if ok else "unavailable" for name, ok in checks.items()}}
    return JsonResponse(body, status=200 if healthy else 503)
