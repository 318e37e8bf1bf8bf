"""Thread and message shapes of the contract."""

from rest_framework import serializers

from freddy.fields import MetadataField, StrictCharField
from threads.models import Message, Thread


class ThreadOutputSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    organization_id = serializers.CharField()
    status = serializers.CharField()
    message_count = serializers.IntegerField()

    class Meta:
        model = Thread
        fields = ["id", "object", "created_at", "updated_at", "last_message_at", "metadata",
                  "organization_id", "title", "status", "message_count", "last_model_used"]

    def get_object(self, thread) -> str:
        return "thread"


class MessageOutputSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    thread_id = serializers.CharField()
    response_id = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "object", "created_at", "thread_id", "role", "content", "metadata",
                  "status", "response_id"]

    def get_object(self, message) -> str:
        return "message"

    def get_response_id(self, message) -> str | None:
        response = getattr(message, "response", None)  # reverse one-to-one, may be absent
        return response.id if response else None


class ThreadCreateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, allow_null=True, allow_blank=True, required=False)
    metadata = MetadataField(required=False, default=dict)
    organization_id = StrictCharField(required=False)


class ThreadFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["inactive", "streaming"], required=False)
