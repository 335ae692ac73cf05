from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from workspace.access import workspace_view

from .registry import integrations


@require_GET
@workspace_view
def integration_list(request):
    """Workspace settings > Integrations (W3): every member sees status; admins get Manage."""
    rows = [
        {
            "integration": integration,
            "status": integration.status(request.workspace),
            "manage_url": reverse(integration.manage_url_name, args=[request.workspace.slug]),
        }
        for integration in integrations()
    ]
    return render(
        request,
        "integrations/list.html",
        {"rows": rows, "settings_tab": "integrations", "nav": "settings"},
    )
