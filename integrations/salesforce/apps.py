from django.apps import AppConfig


class SalesforceConfig(AppConfig):
    name = "integrations.salesforce"
    label = "salesforce"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.registry import Integration, register_integration
        from ops.metrics import register_source

        from . import checks, metrics, sidebar  # noqa: F401 - checks register on import
        from .selectors import integration_status

        sidebar.register()
        register_source(metrics.collect)  # V2: connections and listener, read at scrape time
        register_integration(
            Integration(
                key="salesforce",
                name="Salesforce",
                description="See the matching Salesforce Contact beside every conversation.",
                manage_url_name="integrations:salesforce:manage",
                status=integration_status,
                urls="integrations.salesforce.urls",
                public_urls="integrations.salesforce.public_urls",
            )
        )
