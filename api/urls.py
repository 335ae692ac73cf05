from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("", views.api_settings, name="settings"),
    path("keys/", views.key_create, name="key_create"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("webhook/", views.webhook_save, name="webhook_save"),
    path("webhook/secret/", views.webhook_rotate_secret, name="webhook_secret"),
    path("webhook/delete/", views.webhook_delete, name="webhook_delete"),
]
