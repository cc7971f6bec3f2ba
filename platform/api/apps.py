from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import subscribers

        subscribers.connect()
