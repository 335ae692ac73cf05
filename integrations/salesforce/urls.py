"""Workspace URLs: /w/<slug>/settings/integrations/salesforce/... (names integrations:salesforce:*)."""

from django.urls import path

from . import activity_views, field_settings, link_views, sidebar, views

app_name = "salesforce"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("connect/", views.connect, name="connect"),
    path("connect/cancel/", views.cancel_connect, name="cancel_connect"),
    path(
        "connect/integration-user/",
        views.connect_integration_user,
        name="connect_integration_user",
    ),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("check-setup/", views.check_setup, name="check_setup"),
    path("fields/", field_settings.fields, name="fields"),
    path("settings/", views.save_settings, name="settings"),
    path("phone-matching/", views.phone_matching, name="phone_matching"),
    path("lead-matching/", views.lead_matching, name="lead_matching"),
    path("live-updates/", views.live_updates, name="live_updates"),
    path("activity-logging/", views.activity_logging, name="activity_logging"),
    path("owner-routing/", views.owner_routing, name="owner_routing"),
    path("badges/", sidebar.contact_badges, name="badges"),
    path("live/<int:contact_pk>/", sidebar.live_check, name="live_check"),
    path("log/<int:conversation_pk>/", activity_views.log_to_salesforce, name="log"),
    path("link/<int:contact_pk>/", link_views.link, name="link"),
    path("unlink/<int:contact_pk>/", link_views.unlink, name="unlink"),
    path("search/<int:contact_pk>/", link_views.search, name="search"),
    path("why/<int:contact_pk>/", link_views.why, name="why"),
]
