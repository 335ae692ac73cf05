"""System checks that tell an operator which Salesforce configuration is missing."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register()
def salesforce_settings(app_configs=None, **kwargs):
    problems = []
    if not settings.SALESFORCE_CLIENT_ID or not settings.SALESFORCE_CLIENT_SECRET:
        problems.append(
            Warning(
                "Salesforce cannot be connected: SALESFORCE_CLIENT_ID and "
                "SALESFORCE_CLIENT_SECRET are not set.",
                hint="Create an External Client App in Salesforce (see README, "
                "'Connect a real org') and set both variables.",
                id="salesforce.W001",
            )
        )
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY if k.strip()]
    if not keys:
        problems.append(
            Warning(
                "FIELD_ENCRYPTION_KEY is not set: Salesforce tokens cannot be stored.",
                hint='Generate one: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"',
                id="salesforce.W002",
            )
        )
    for key in keys:
        try:
            Fernet(key.encode())
        except ValueError:
            problems.append(
                Error(
                    "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key.",
                    hint="Each comma-separated key must be 32 url-safe base64-encoded bytes.",
                    id="salesforce.E001",
                )
            )
            break
    return problems


@register()
def salesforce_pubsub_url(app_configs=None, **kwargs):
    """Live updates (F2): the Pub/Sub endpoint is TLS, or plaintext on loopback only."""
    from .pubsub import endpoint

    try:
        endpoint()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Leave SALESFORCE_PUBSUB_URL unset for Salesforce's endpoint.",
                id="salesforce.E002",
            )
        ]
    return []
