from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    # The label stays "memory": the tables, migrations and "memory.Conversation" references
    # predate the move of these models into memory.conversations.
    name = "memory.conversations"
    label = "memory"
    verbose_name = "Conversations"
    default_auto_field = "django.db.models.BigAutoField"
