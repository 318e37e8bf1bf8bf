"""ASGI entry point: HTTP for daphne, the freddy-runs channel for runworker."""

import gc
import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "freddy.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.db import DatabaseError  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from streaming.consumers import RunConsumer  # noqa: E402
from streaming.executor import RUNS_CHANNEL  # noqa: E402
from streaming.services import runs_fail_stale  # noqa: E402
from streaming.views import response_stream  # noqa: E402

logger = logging.getLogger(__name__)

application = ProtocolTypeRouter({
    "http": URLRouter([
        # Reconnects bypass Django's request handler: see streaming.views.
        path("v1/model/response/<str:thread_id>/stream", response_stream),
        re_path(r"", django_asgi_app),
    ]),
    "channel": ChannelNameRouter({RUNS_CHANNEL: RunConsumer.as_asgi()}),
})

# The garbage collector's full passes walked every object of Django and of the live runs,
# stalling the event loop: W4's p99 was 150–290 ms with them, 63 ms with the collector
# off. Objects made at start-up are never garbage: frozen, they are not walked; and the
# passes run about fourteen times less often (measured: p99 84–111 ms).
gc.freeze()
gc.set_threshold(10_000, 20, 20)

try:
    # Runs whose executor died with an earlier process must not keep readers waiting.
    if ended := runs_fail_stale():
        logger.warning("Ended %d stale runs at start", ended)
except DatabaseError:
    logger.warning("Could not sweep stale runs at start (database not migrated?)")
