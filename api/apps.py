from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "Inbound API and outgoing webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ops.metrics import register_source

        from . import metrics

        register_source(metrics.collect)  # V2: the outbox, read at scrape time
