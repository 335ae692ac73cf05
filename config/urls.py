from django.urls import include, path

urlpatterns = [
    path("", include("workspace.urls")),
    path("w/<slug:slug>/inbox/", include("inbox.urls")),
    path("w/<slug:slug>/contacts/", include("contacts.urls")),
    path("w/<slug:slug>/settings/integrations/", include("integrations.urls")),
    path("integrations/salesforce/", include("integrations.salesforce.public_urls")),
]

handler404 = "workspace.views.page_not_found"
handler403 = "workspace.views.permission_denied"
handler500 = "workspace.views.server_error"
