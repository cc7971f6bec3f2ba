from django.apps import AppConfig


class LongtermConfig(AppConfig):
    name = "memory.longterm"
    label = "longterm"
    default_auto_field = "django.db.models.BigAutoField"
