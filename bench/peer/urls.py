"""The peer's stream (`/events/?channel=NAME`) and the bench's producer endpoint."""

import django_eventstream
from django.urls import include, path

from bench.peer.views import produce

urlpatterns = [
    path("events/", include(django_eventstream.urls)),
    path("produce", produce),
]
