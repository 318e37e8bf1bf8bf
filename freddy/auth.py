"""API-key authentication: `X-API-Key: <key>` or `Authorization: Bearer <key>`."""

import hashlib
import re
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from freddy.errors import Unauthorized

API_KEY_PREFIX = "fk_"
# fk_ followed by url-safe base64 of 32 random bytes (43 characters).
API_KEY_PATTERN = re.compile(r"^fk_[A-Za-z0-9_-]{43}$")

MISSING_KEY = "Missing or invalid authorization header"
MALFORMED_KEY = "The API key is malformed"
UNKNOWN_KEY = "The API key is unknown or revoked"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The authenticated caller: an API key of one organization."""

    key_id: str
    organization_id: str
    is_authenticated: bool = True


def hash_api_key(raw_key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def raw_key_from_headers(headers) -> str:
    """The key a request carries, or raise Unauthorized."""
    key = headers.get("X-API-Key", "").strip()
    if not key:
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            key = credentials.strip()
    if not key:
        raise Unauthorized(system_message=MISSING_KEY)
    if not API_KEY_PATTERN.match(key):
        raise Unauthorized(system_message=MALFORMED_KEY)
    return key


def authenticate_request(request) -> ApiKeyPrincipal:
    """Resolve the request's API key to its organization (sync ORM)."""
    return principal_for_key(raw_key=raw_key_from_headers(request.headers))


def principal_for_key(*, raw_key: str) -> ApiKeyPrincipal:
    """The organization of an active key, or raise Unauthorized (sync ORM)."""
    # Imported here: freddy.auth is loaded by settings-driven DRF before apps are ready.
    from threads.selectors import api_key_active_get

    api_key = api_key_active_get(key_hash=hash_api_key(raw_key))
    if api_key is None:
        raise Unauthorized(system_message=UNKNOWN_KEY)
    return ApiKeyPrincipal(key_id=api_key.id, organization_id=api_key.organization_id)


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        principal = authenticate_request(request)
        return principal, principal

    def authenticate_header(self, request):
        return "Bearer"


class HasApiKey(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKeyPrincipal)
