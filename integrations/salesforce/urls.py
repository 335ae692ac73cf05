"""Workspace URLs: /w/<slug>/settings/integrations/salesforce/... (names integrations:salesforce:*)."""

from django.urls import path

from . import views

app_name = "salesforce"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("connect/", views.connect, name="connect"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
