"""The body of `POST /v1/model/response`, in its current and older forms."""

from rest_framework import serializers

from freddy.fields import NUL_NOT_ALLOWED, MetadataField, StrictCharField, json_has_nul
from streaming.providers import ECHO_MODEL, model_is_known
from threads.models import Message

EMPTY_INPUT = "Each input needs non-blank text in `content` (or the older `texts`)."


class InputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Message.Role.choices, default="user")
    content = serializers.JSONField(required=False)
    texts = serializers.ListField(child=serializers.DictField(), required=False)

    def validate(self, attrs):
        content = attrs.get("content")
        if isinstance(content, list):
            parts = [part.get("text") if isinstance(part, dict) else None for part in content]
        elif content is None:
            parts = [item.get("text") for item in attrs.get("texts", [])]
        else:
            parts = [content]
        if not parts or not all(isinstance(p, str) for p in parts):
            raise serializers.ValidationError({"content": EMPTY_INPUT})
        text = "".join(parts)
        if not text.strip():
            raise serializers.ValidationError({"content": EMPTY_INPUT})
        if "\x00" in text:
            raise serializers.ValidationError({"content": NUL_NOT_ALLOWED})
        return {"role": attrs["role"], "content": text}


class ModelOptionsSerializer(serializers.Serializer):
    token_delay_ms = serializers.IntegerField(min_value=0, max_value=10000, required=False)
    repeat = serializers.IntegerField(min_value=1, max_value=100000, required=False)


class ResponseCreateSerializer(serializers.Serializer):
    model = StrictCharField(default=ECHO_MODEL)
    thread_id = StrictCharField(required=False, allow_null=True)
    thread = serializers.JSONField(required=False, allow_null=True)
    inputs = InputSerializer(many=True, allow_empty=False)
    stream = serializers.BooleanField(default=False)
    metadata = MetadataField(default=dict)
    model_options = serializers.DictField(default=dict)

    def validate_model(self, model: str) -> str:
        if not model_is_known(model):
            raise serializers.ValidationError(f"Unknown model '{model}'.")
        return model

    def validate_model_options(self, options: dict) -> dict:
        # Known options are checked; others pass through to upstream providers.
        if json_has_nul(options):
            raise serializers.ValidationError(NUL_NOT_ALLOWED)
        known = ModelOptionsSerializer(data=options)
        known.is_valid(raise_exception=True)
        return {**options, **known.validated_data}

    def validate_thread(self, thread):
        if thread is None or isinstance(thread, str):
            return {"id": thread, "metadata": {}}
        if isinstance(thread, dict) and isinstance(thread.get("id", ""), (str, type(None))):
            metadata = MetadataField().run_validation(thread.get("metadata") or {})
            return {"id": thread.get("id"), "metadata": metadata}
        raise serializers.ValidationError("Must be a thread id or {\"id\", \"metadata\"}.")

    def validate(self, attrs):
        thread = attrs.pop("thread", None) or {"id": None, "metadata": {}}
        attrs["thread_id"] = attrs.get("thread_id") or thread["id"]
        attrs["thread_metadata"] = thread["metadata"]
        return attrs
