from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "desk"
    label = "desk"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from desk import subscribers
        from desk.lockout import log_lockout

        user_locked_out.connect(log_lockout, dispatch_uid="desk.lockout.log_lockout")
        subscribers.connect()
