from django.urls import include, path

from . import views
from .registry import integrations

app_name = "integrations"

# Each registered integration brings its own workspace URLs: a new one is an entry, not an edit.
urlpatterns = [
    path("", views.integration_list, name="list"),
    *[path(f"{i.key}/", include(i.urls)) for i in integrations() if i.urls],
]
