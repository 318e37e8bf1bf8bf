from django.contrib import admin

from threads.models import ApiKey, Message, Organization, Thread


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "organization", "created_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name"]
    exclude = ["key_hash"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["id", "role", "status", "content", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "organization", "updated_at"]
    list_filter = ["organization"]
    search_fields = ["id", "title"]
    inlines = [MessageInline]
