from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live Inbox"

    def ready(self) -> None:
        # The receivers publish an event for every write on conversations, messages and
        # webhook deliveries, whoever makes it (issue 22, N1).
        from . import events  # noqa: F401
