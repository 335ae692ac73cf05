from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm

from .models import Membership, Role, Workspace


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check both and try again.",
    }

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class RoleForm(forms.ModelForm):
    role = forms.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role"]


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.AGENT)

    def __init__(self, *args, membership: Membership | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if membership is not None and not membership.is_owner:
            # Only Owners may invite Owners.
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class AcceptInvitationForm(SetPasswordForm):
    """A new account for the invited person: a name and a password (Django's validators)."""

    full_name = forms.CharField(label="Your name", max_length=150, required=False)
    field_order = ["full_name", "new_password1", "new_password2"]


class InboxPasswordResetForm(PasswordResetForm):
    """Django's reset form, also for people who never chose a password (created by
    `createworkspace` whose link expired)."""

    def get_users(self, email):
        from .models import User

        return (
            u
            for u in User.objects.filter(email__iexact=email.strip(), is_active=True)
            if u.email.lower() == email.strip().lower()
        )


def region_choices() -> list[tuple[str, str]]:
    """Every country libphonenumber knows, as "US (+1)", sorted by code."""
    import phonenumbers

    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


class GeneralSettingsForm(forms.ModelForm):
    """P1: how the workspace reads phone numbers typed without a country code."""

    class Meta:
        model = Workspace
        fields = ["phone_region"]
        help_texts = {
            "phone_region": (
                "Numbers typed without a country code, such as (415) 555-0123, are read as "
                "this country's. Contacts keep the number exactly as typed."
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone_region"] = forms.ChoiceField(
            label="Default country for phone numbers",
            choices=region_choices(),
            help_text=self._meta.help_texts["phone_region"],
        )
