"""Serializer fields shared by the API's inputs."""

from rest_framework import serializers

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512
NUL_NOT_ALLOWED = "Null characters are not allowed."


def json_has_nul(value: object) -> bool:
    """True if a NUL is in any string or key: PostgreSQL cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(json_has_nul(k) or json_has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(json_has_nul(item) for item in value)
    return False


class StrictCharField(serializers.CharField):
    """A CharField that rejects numbers and booleans instead of coercing them."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MetadataField(serializers.DictField):
    """Up to 16 string values under keys of at most 64 characters."""

    child = StrictCharField(max_length=METADATA_MAX_VALUE_CHARS, allow_blank=True)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > METADATA_MAX_KEYS:
            raise serializers.ValidationError(
                f"Metadata may hold at most {METADATA_MAX_KEYS} keys.")
        if any(len(key) > METADATA_MAX_KEY_CHARS for key in value):
            raise serializers.ValidationError(
                f"Metadata keys may be at most {METADATA_MAX_KEY_CHARS} characters.")
        for key in value:
            # Keys get the checks of values (no NUL, no lone surrogate): both break storage.
            serializers.CharField(allow_blank=True).run_validation(key)
        return value
