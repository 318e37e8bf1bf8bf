"""Runs (responses) and the stored events of their streams."""

from functools import partial

from django.db import models

from freddy.ids import new_id
from threads.models import Message, Thread


class Response(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.IN_PROGRESS)

    id = models.CharField(primary_key=True, max_length=40, default=partial(new_id, "resp"))
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="responses")
    model = models.CharField(max_length=100)
    model_options = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    user_message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True,
                                     related_name="+")
    assistant_message = models.OneToOneField(Message, on_delete=models.SET_NULL, null=True,
                                             related_name="response")
    stop_reason = models.CharField(max_length=32, null=True, blank=True)
    input_tokens = models.IntegerField(default=0)
    output_tokens = models.IntegerField(default=0)
    last_sequence_number = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["thread", "-created_at"]),
            models.Index(fields=["status", "ended_at"]),
        ]
        constraints = [
            # The database, not a check in Python, guarantees one live run per thread.
            models.UniqueConstraint(
                fields=["thread"],
                condition=models.Q(status__in=["queued", "in_progress"]),
                name="one_active_response_per_thread",
            )
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class ResponseEvent(models.Model):
    """One SSE event, stored as the exact JSON text that is sent."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="events")
    sequence_number = models.IntegerField()
    event_type = models.CharField(max_length=40)
    payload = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index behind "events of run R after N".
            models.UniqueConstraint(fields=["response", "sequence_number"],
                                    name="unique_sequence_per_response")
        ]

    def __str__(self) -> str:
        return f"{self.response_id}#{self.sequence_number}"
