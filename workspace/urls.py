from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "workspace"

urlpatterns = [
    path("", views.home, name="home"),
    path("signin/", views.SignInView.as_view(), name="login"),
    path("signout/", auth_views.LogoutView.as_view(), name="logout"),
    path("welcome/", views.welcome, name="welcome"),
    path("w/<slug:slug>/profile/", views.profile, name="profile"),
    path("w/<slug:slug>/settings/general/", views.general, name="general"),
    path("w/<slug:slug>/settings/members/", views.members, name="members"),
    path("w/<slug:slug>/settings/members/<int:pk>/role/", views.member_role, name="member_role"),
    path(
        "w/<slug:slug>/settings/members/<int:pk>/remove/",
        views.member_remove_view,
        name="member_remove",
    ),
    path("w/<slug:slug>/settings/members/invite/", views.invite, name="invite"),
    path(
        "w/<slug:slug>/settings/members/invitations/<int:pk>/resend/",
        views.invitation_resend_view,
        name="invitation_resend",
    ),
    path(
        "w/<slug:slug>/settings/members/invitations/<int:pk>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
]
