from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from workspace.models import Workspace


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply",
        max_length=20000,
        strip=True,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "Write a reply… (Ctrl+Enter sends; @name in a note tells a teammate)",
            }
        ),
    )


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(
        label="Assignee", coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        members = workspace.memberships.select_related("user").order_by("user__email")
        self.fields["assignee"].choices = [("", "Unassigned")] + [
            (m.user_id, m.user.display_name) for m in members
        ]


SNOOZE_CHOICES = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("tomorrow", "Tomorrow, 9:00"),
    ("week", "Next Monday, 9:00"),
]


def snooze_until(choice: str, *, now: datetime | None = None) -> datetime:
    """The time a snooze choice ends, in the workspace's time zone (the active one)."""
    now = timezone.localtime(now or timezone.now())
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "4h":
        return now + timedelta(hours=4)
    nine = time(9, 0)
    if choice == "tomorrow":
        day = now.date() + timedelta(days=1)
    elif choice == "week":
        day = now.date() + timedelta(days=7 - now.weekday())
    else:
        raise ValueError(choice)
    return timezone.make_aware(datetime.combine(day, nine), now.tzinfo)


class SnoozeForm(forms.Form):
    until = forms.ChoiceField(label="Snooze until", choices=SNOOZE_CHOICES)

    def clean_until(self) -> datetime:
        return snooze_until(self.cleaned_data["until"])
