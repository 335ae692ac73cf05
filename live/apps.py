from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live Inbox"

    def ready(self) -> None:
        # The receivers publish an event for every write on conversations, messages and
        # webhook deliveries, whoever makes it (issue 22, N1).
        from inbox.signals import reply_check

        from . import events  # noqa: F401
        from .guard import hold_stale_reply

        # N6: the reply view asks before writing; inbox imports nothing from live.
        reply_check.connect(hold_stale_reply, dispatch_uid="live-stale-reply")
