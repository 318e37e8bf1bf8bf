from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from freddy.health import health
from streaming.views import ResponseCancelView, ResponseCreateView
from threads.views import MessageListView, ThreadDetailView, ThreadListView
from web.views import index

urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
    path("v1/health", health),
    path("v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    path("v1/threads", ThreadListView.as_view()),
    path("v1/threads/<str:thread_id>", ThreadDetailView.as_view()),
    path("v1/threads/<str:thread_id>/messages", MessageListView.as_view()),
    path("v1/model/response", csrf_exempt(ResponseCreateView.as_view())),
    # GET /v1/model/response/<thread_id>/stream is routed in freddy.asgi, ahead of Django.
    path("v1/model/response/<str:thread_id>/cancel", ResponseCancelView.as_view()),
]

handler404 = "freddy.errors.handler404"
handler500 = "freddy.errors.handler500"
