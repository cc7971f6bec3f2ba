from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    # No models of its own: `Attachment` is the conversation log's (memory.conversations).
    name = "memory.attachments"
    label = "attachments"
    default_auto_field = "django.db.models.BigAutoField"
