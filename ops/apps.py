from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the product as a service: health, metrics, structured logs, the launcher."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
