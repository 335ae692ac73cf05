from django.urls import path

from . import views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox_list, name="list"),
    path("<int:pk>/", views.conversation_detail, name="detail"),
    path("<int:pk>/reply/", views.conversation_reply_view, name="reply"),
    path("<int:pk>/status/", views.conversation_status_view, name="status"),
    path("<int:pk>/assign/", views.conversation_assign_view, name="assign"),
    path("<int:pk>/unread/", views.conversation_unread_view, name="unread"),
    path("<int:pk>/snooze/", views.conversation_snooze_view, name="snooze"),
    path("<int:pk>/wake/", views.conversation_wake_view, name="wake"),
]
