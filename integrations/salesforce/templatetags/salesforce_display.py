from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def timedelta_ago(age: timedelta | None) -> str:
    """'3 minutes ago' for an age (B2: stale data is marked with its age)."""
    if age is None:
        return ""
    return f"{timesince(timezone.now() - age)} ago"


@register.filter
def record_url(record_id: str, connection) -> str:
    """View in Salesforce (S10) for a Contact id on the connection's instance."""
    return connection.record_view_url(record_id)
