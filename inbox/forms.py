from django import forms

from workspace.models import Workspace


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply",
        max_length=20000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Write a reply…"}),
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
