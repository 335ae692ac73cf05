from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "Inbound API and outgoing webhooks"
    default_auto_field = "django.db.models.BigAutoField"
