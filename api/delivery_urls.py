"""A reply's webhook delivery, beside its conversation: ``/w/<slug>/inbox/<pk>/retry-delivery/``."""

from django.urls import path

from . import views

app_name = "deliveries"

urlpatterns = [
    path("<int:pk>/retry-delivery/", views.reply_retry_view, name="retry"),
]
