from django.urls import include, path

from api.api import api
from integrations.registry import integrations

urlpatterns = [
    path("", include("workspace.urls")),
    path("", include("workspace.password_urls")),
    path("w/<slug:slug>/inbox/", include("inbox.urls")),
    path("w/<slug:slug>/inbox/", include("api.delivery_urls")),
    path("w/<slug:slug>/contacts/", include("contacts.urls")),
    path("w/<slug:slug>/settings/integrations/", include("integrations.urls")),
    path("w/<slug:slug>/settings/api/", include("api.urls")),
    path("w/<slug:slug>/live/", include("live.urls")),
    path("api/v1/", api.urls),
    # Integrations' URLs outside a workspace (a fixed OAuth callback, for one).
    *[
        path(f"integrations/{i.key}/", include(i.public_urls))
        for i in integrations()
        if i.public_urls
    ],
]

handler404 = "workspace.views.page_not_found"
handler403 = "workspace.views.permission_denied"
handler500 = "workspace.views.server_error"
