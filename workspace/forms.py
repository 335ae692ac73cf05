import zoneinfo

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)

from .models import Membership, Role, User, Workspace


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


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


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


NAME_ERRORS = {"required": "Enter your name."}


def password_rules() -> str:
    """M4: the password rules, stated beside the field before anyone submits (Django's own
    validators' texts, so the rules said are the rules applied)."""
    return " ".join(password_validation.password_validators_help_texts())


class PasswordRulesMixin:
    """M4: the rules are stated under the password field, and a password they refuse (too
    common, too short) is reported beside that field, not under the confirmation. Django's
    forms put both under the confirmation; a mismatch still is (that is where it is fixed)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = password_rules()
        self.fields["new_password2"].help_text = "Type the same password again."

    def clean(self):
        self.validate_passwords("new_password1", "new_password2")
        if not self.has_error("new_password2"):
            self.validate_password_for_user(self.user, "new_password1")
        return self.cleaned_data


class InboxSetPasswordForm(PasswordRulesMixin, SetPasswordForm):
    """Password reset's new password (O3) with the rules stated first (M4)."""


class InboxPasswordChangeForm(PasswordRulesMixin, PasswordChangeForm):
    """The profile page's password change (M3): the current password, then the new one twice."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = "Current password"


class AcceptInvitationForm(PasswordRulesMixin, SetPasswordForm):
    """A new account for the invited person: a name and a password (Django's validators).

    M3: the name is required: without one the person shows as an email address everywhere.
    """

    full_name = forms.CharField(label="Your name", max_length=150, error_messages=NAME_ERRORS)
    field_order = ["full_name", "new_password1", "new_password2"]

    def clean_full_name(self):
        return _name(self.cleaned_data["full_name"])


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise forms.ValidationError("Enter your name.")
    return value


def time_zone_choices(default_label: str) -> list[tuple[str, str]]:
    return (
        [("", default_label)]
        + [
            (tz, tz.replace("_", " "))
            for tz in sorted(zoneinfo.available_timezones())
            if "/" in tz and not tz.startswith(("Etc/", "SystemV/", "posix/", "right/"))
        ]
        + [("UTC", "UTC")]
    )


class ProfileForm(forms.ModelForm):
    """M3: the person's own name and time zone (every user, whatever their role)."""

    full_name = forms.CharField(label="Your name", max_length=150, error_messages=NAME_ERRORS)

    class Meta:
        model = User
        fields = ["full_name", "time_zone"]

    def __init__(self, *args, workspace: Workspace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        follow = (
            f"The workspace's time zone ({workspace.time_zone})"
            if workspace
            else "The workspace's time zone"
        )
        self.fields["time_zone"] = forms.ChoiceField(
            label="Your time zone",
            choices=time_zone_choices(follow),
            required=False,
            help_text="Dates and times you see are shown in it.",
        )

    def clean_full_name(self):
        return _name(self.cleaned_data["full_name"])


class NameForm(forms.ModelForm):
    """M3: asked at sign-in when a member has no name yet."""

    full_name = forms.CharField(
        label="Your name",
        max_length=150,
        error_messages=NAME_ERRORS,
        help_text="Your teammates see it beside your replies and in the member list.",
    )

    class Meta:
        model = User
        fields = ["full_name"]

    def clean_full_name(self):
        return _name(self.cleaned_data["full_name"])


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


# Regions sharing a country calling code with a bigger neighbour: libphonenumber's geocoder names
# a number's country only when the code is the region's own, so these are named here.
_SHARED_CODE_NAMES = {
    "AC": "Ascension Island",
    "BL": "Saint Barthélemy",
    "EH": "Western Sahara",
    "MF": "Saint Martin",
    "TA": "Tristan da Cunha",
    "XK": "Kosovo",
}


def region_name(region: str) -> str:
    """The English name of a libphonenumber region ("AD" → "Andorra")."""
    import phonenumbers
    from phonenumbers import geocoder

    example = phonenumbers.example_number(region)
    name = geocoder.country_name_for_number(example, "en") if example else ""
    return name or _SHARED_CODE_NAMES.get(region, region)


def region_choices() -> list[tuple[str, str]]:
    """M7: every country libphonenumber knows, by name: "Andorra (AD, +376)", sorted by name."""
    import phonenumbers

    choices = [
        (
            region,
            f"{region_name(region)} ({region}, +{phonenumbers.country_code_for_region(region)})",
        )
        for region in phonenumbers.SUPPORTED_REGIONS
    ]
    return sorted(choices, key=lambda c: c[1].casefold())


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
