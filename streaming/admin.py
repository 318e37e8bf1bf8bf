from django.contrib import admin

from streaming.models import Response


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "thread", "model", "status", "started_at", "ended_at",
                    "last_sequence_number"]
    list_filter = ["status", "model"]
    search_fields = ["id", "thread__id"]
    readonly_fields = ["last_sequence_number", "heartbeat_at"]
