"""Signals of the api app that other apps may listen to."""

from django.dispatch import Signal

# Sent after a webhook delivery's state (Sending / Retrying / Sent / Failed) was written with a
# queryset update, which sends no post_save. Arguments: ``delivery`` (the WebhookDelivery).
delivery_changed = Signal()
