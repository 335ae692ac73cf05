from django.urls import include, path

from . import views

app_name = "integrations"

urlpatterns = [
    path("", views.integration_list, name="list"),
    path("salesforce/", include("integrations.salesforce.urls")),
]
