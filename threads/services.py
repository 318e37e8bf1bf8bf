"""Writes of organizations, keys and threads."""

import secrets

from django.db import transaction
from django.utils import timezone

from freddy.auth import API_KEY_PREFIX, hash_api_key
from streaming.services import run_cancel_active
from threads.models import ApiKey, Organization, Thread


def api_key_create(*, organization_id: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key (and its organization if new); the raw key is returned only here."""
    organization, _ = Organization.objects.get_or_create(id=organization_id)
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization, name=name, prefix=raw_key[:10],
        key_hash=hash_api_key(raw_key),
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def thread_create(*, organization_id: str, title: str | None = None,
                  metadata: dict | None = None) -> Thread:
    """Create an empty thread."""
    return Thread.objects.create(organization_id=organization_id, title=title,
                                 metadata=metadata or {})


def thread_delete(*, thread: Thread) -> None:
    """Cancel the thread's active run, then delete it with everything it holds."""
    run_cancel_active(thread_id=thread.id)
    with transaction.atomic():
        Thread.objects.filter(pk=thread.pk).delete()
