"""Settings › API (O4, O6): workspace API keys and the outgoing webhook URL; a reply's retry."""

import uuid

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.encryption import key_configured
from inbox.models import Conversation
from workspace.access import ADMIN_ROLES, workspace_view

from .forms import ApiKeyForm, WebhookForm
from .keys import api_key_create, api_key_revoke
from .models import ApiKey, WebhookDelivery, WebhookEndpoint
from .webhooks import new_secret, retry_now


def _render(
    request, *, key_form=None, webhook_form=None, new_key=None, new_secret=None, status=200
):
    workspace = request.workspace
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace).first()
    deliveries = WebhookDelivery.objects.filter(workspace=workspace)
    return render(
        request,
        "api/settings.html",
        {
            "keys": ApiKey.objects.filter(workspace=workspace).select_related("created_by"),
            "key_form": key_form or ApiKeyForm(),
            "webhook_form": webhook_form
            or WebhookForm(initial={"url": endpoint.url if endpoint else ""}),
            "endpoint": endpoint,
            "new_key": new_key,
            "new_secret": new_secret,
            "encryption_ready": key_configured(),
            "delivery_counts": {
                "pending": deliveries.filter(status=WebhookDelivery.Status.PENDING).count(),
                "failed": deliveries.filter(status=WebhookDelivery.Status.FAILED).count(),
            },
            "settings_tab": "api",
            "nav": "settings",
        },
        status=status,
    )


@require_GET
@workspace_view(roles=ADMIN_ROLES)
def api_settings(request):
    return _render(request)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def key_create(request):
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render(request, key_form=form, status=400)
    created = api_key_create(
        workspace=request.workspace, name=form.cleaned_data["name"], created_by=request.user
    )
    # Rendered, not redirected: the key is shown on this one response and never again.
    response = _render(request, new_key=created)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def key_revoke(request, pk: int):
    """M5: GET asks first and says what will happen (no script needed); only the POST revokes."""
    key = get_object_or_404(ApiKey, workspace=request.workspace, pk=pk)
    if not key.is_active:
        messages.info(request, f"Key “{key.name}” was already revoked.")
        return redirect("api:settings", slug=request.workspace.slug)
    if request.method == "GET":
        return render(
            request,
            "api/confirm_revoke_key.html",
            {"key": key, "settings_tab": "api", "nav": "settings"},
        )
    api_key_revoke(api_key=key, revoked_by=request.user)
    messages.success(request, f"Key “{key.name}” revoked: it no longer works.")
    return redirect("api:settings", slug=request.workspace.slug)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def webhook_save(request):
    form = WebhookForm(request.POST)
    if not key_configured():
        messages.error(request, "Set FIELD_ENCRYPTION_KEY first: the signing secret is encrypted.")
        return redirect("api:settings", slug=request.workspace.slug)
    if not form.is_valid():
        return _render(request, webhook_form=form, status=400)
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update().filter(workspace=request.workspace).first()
        )
        secret = None
        if endpoint is None:
            secret = new_secret()
            endpoint = WebhookEndpoint(workspace=request.workspace, secret=secret)
        endpoint.url = form.cleaned_data["url"]
        endpoint.updated_by = request.user
        endpoint.save()
    if secret:
        response = _render(request, new_secret=secret)
        response["Cache-Control"] = "no-store"
        return response
    messages.success(request, "Webhook URL saved.")
    return redirect("api:settings", slug=request.workspace.slug)


@require_POST
@workspace_view(roles=ADMIN_ROLES)
def webhook_rotate_secret(request):
    endpoint = WebhookEndpoint.objects.filter(workspace=request.workspace).first()
    if endpoint is None:
        messages.error(request, "Save a webhook URL first.")
        return redirect("api:settings", slug=request.workspace.slug)
    secret = new_secret()
    endpoint.secret = secret
    endpoint.updated_by = request.user
    endpoint.save(update_fields=["secret", "updated_by", "updated_at"])
    response = _render(request, new_secret=secret)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@workspace_view(roles=ADMIN_ROLES)
def webhook_delete(request):
    """M5: GET asks first (what stops, what is kept); only the POST removes the webhook."""
    endpoint = WebhookEndpoint.objects.filter(workspace=request.workspace).first()
    if endpoint is None:
        messages.info(request, "No webhook is set.")
        return redirect("api:settings", slug=request.workspace.slug)
    if request.method == "GET":
        pending = WebhookDelivery.objects.filter(
            workspace=request.workspace, status=WebhookDelivery.Status.PENDING
        ).count()
        return render(
            request,
            "api/confirm_delete_webhook.html",
            {"endpoint": endpoint, "pending": pending, "settings_tab": "api", "nav": "settings"},
        )
    endpoint.delete()
    messages.success(request, "Webhook removed: new replies are no longer sent anywhere.")
    return redirect("api:settings", slug=request.workspace.slug)


# The agent's "Retry now" beside a reply in the Inbox; served under the conversation's URL
# (api/delivery_urls.py) so inbox needs to know nothing of deliveries.
@require_POST
@workspace_view
def reply_retry_view(request, pk: int):
    """An agent sends a reply's failed (or waiting) webhook delivery again now (O6)."""
    conversation = get_object_or_404(Conversation, workspace=request.workspace, pk=pk)
    delivery = (
        WebhookDelivery.objects.filter(
            workspace=request.workspace,
            message__conversation=conversation,
            pk=request.POST.get("delivery") or None,
        )
        .exclude(status=WebhookDelivery.Status.SENT)
        .first()
        if _is_uuid(request.POST.get("delivery", ""))
        else None
    )
    if delivery is None:
        messages.error(request, "Choose a reply that has not been delivered yet.")
    else:
        retry_now(delivery=delivery)
        messages.success(request, "The reply will be sent again in a moment.")
    return redirect("inbox:detail", slug=request.workspace.slug, pk=conversation.pk)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
