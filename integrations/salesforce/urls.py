"""Workspace URLs: /w/<slug>/settings/integrations/salesforce/... (names integrations:salesforce:*)."""

from django.urls import path

from . import field_settings, sidebar, views

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
    path("badges/", sidebar.contact_badges, name="badges"),
    path("live/<int:contact_pk>/", sidebar.live_check, name="live_check"),
]
