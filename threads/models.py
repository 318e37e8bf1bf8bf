"""Organizations, their API keys, threads and messages."""

from functools import partial

from django.db import models
from django.utils import timezone

from freddy.ids import new_id


class Organization(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class ApiKey(models.Model):
    """A key is stored as its SHA-256; only the prefix is kept readable."""

    id = models.CharField(primary_key=True, max_length=40, default=partial(new_id, "key"))
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.organization_id})"


class Thread(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=partial(new_id, "thrd"))
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="threads")
    title = models.CharField(max_length=200, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    last_model_used = models.CharField(max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at", "-id"])]

    def __str__(self) -> str:
        return self.id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=partial(new_id, "msg"))
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices,
                              default=Status.COMPLETED)
    # Set explicitly by services so that inputs saved together keep their order.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["thread", "created_at", "id"])]

    def __str__(self) -> str:
        return self.id
