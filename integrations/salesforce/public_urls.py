"""The fixed OAuth callback, without a workspace in the path: /integrations/salesforce/callback/."""

from django.urls import path

from . import views

app_name = "salesforce_oauth"

urlpatterns = [
    path("callback/", views.callback, name="callback"),
]
