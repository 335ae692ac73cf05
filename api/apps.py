from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "Inbound API and outgoing webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox.signals import reply_created
        from ops.metrics import register_source

        from . import metrics
        from .webhooks import queue_reply_delivery

        # inbox knows api only through this: each reply's outbox row, in the reply's transaction.
        reply_created.connect(queue_reply_delivery, dispatch_uid="api.queue_reply_delivery")
        register_source(metrics.collect)  # V2: the outbox, read at scrape time
