"""Organizations, API keys (shown by prefix; created and revoked via services), threads."""

from django import forms
from django.contrib import admin, messages

from threads.models import ApiKey, Message, Organization, Thread
from threads.selectors import threads_annotated
from threads.services import api_key_create, api_key_revoke, thread_delete

RAW_KEY_SHOWN_ONCE = "New API key for {org} (shown once, copy it now): {key}"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]


class ApiKeyAddForm(forms.ModelForm):
    organization_id = forms.CharField(max_length=64, help_text=(
        "Created when it does not exist yet."))

    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "organization", "created_at", "last_used_at",
                    "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name", "organization__id"]
    fields = ["prefix", "name", "organization", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_keys"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["organization_id", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # keys are only created and revoked

    def save_model(self, request, obj, form, change):
        api_key, raw_key = api_key_create(
            organization_id=form.cleaned_data["organization_id"],
            name=form.cleaned_data["name"])
        obj.pk, obj.prefix, obj.organization_id = api_key.pk, api_key.prefix, \
            api_key.organization_id
        obj._state.adding = False
        self.message_user(request, RAW_KEY_SHOWN_ONCE.format(
            org=api_key.organization_id, key=raw_key), messages.WARNING)

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        keys = list(queryset)
        for api_key in keys:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {len(keys)} API keys.", messages.SUCCESS)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["id", "role", "status", "content", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False  # messages are written by the API


class ThreadStatusFilter(admin.SimpleListFilter):
    """The derived status: streaming while a run is queued or in progress."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("streaming", "streaming"), ("inactive", "inactive")]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "thread_status", "organization", "message_count",
                    "last_activity"]
    list_filter = [ThreadStatusFilter, "organization"]
    search_fields = ["id", "title"]
    readonly_fields = ["id", "organization", "last_model_used", "created_at", "updated_at",
                       "last_message_at"]
    fields = ["id", "organization", "title", "metadata", "last_model_used", "created_at",
              "updated_at", "last_message_at"]
    inlines = [MessageInline]

    def get_queryset(self, request):
        return threads_annotated().select_related("organization")

    def has_add_permission(self, request):
        return False  # threads are created through the API

    @admin.display(description="status", ordering="status")
    def thread_status(self, thread: Thread) -> str:
        return thread.status

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, thread: Thread) -> int:
        return thread.message_count

    @admin.display(description="last activity", ordering="updated_at")
    def last_activity(self, thread: Thread):
        return thread.updated_at

    def delete_model(self, request, obj):
        thread_delete(thread=obj)  # cancels an active run first

    def delete_queryset(self, request, queryset):
        for thread in queryset:
            thread_delete(thread=thread)
