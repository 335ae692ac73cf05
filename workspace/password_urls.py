"""Invitation links and password reset (O2, O3): outside any workspace, with Django's default
URL names (its reset views and email templates reverse them without a namespace)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .forms import InboxSetPasswordForm

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("password-reset/", views.ThrottledPasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            form_class=InboxSetPasswordForm,
            post_reset_login=True,
            post_reset_login_backend="django.contrib.auth.backends.ModelBackend",
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
