from django.urls import path

from . import sidebar

app_name = "salesforce_lookup"

urlpatterns = [
    path("badges/", sidebar.contact_badges, name="badges"),
]
