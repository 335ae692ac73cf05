"""The Connect form: which Salesforce login host to send the admin to (S2)."""

from __future__ import annotations

from django import forms
from django.conf import settings

from . import oauth

MY_DOMAIN = "mydomain"


def login_choices() -> list[tuple[str, str]]:
    """Production, Sandbox, My Domain; the configured default first when it is something else."""
    choices = [
        (oauth.PRODUCTION_LOGIN_URL, "Production (login.salesforce.com)"),
        (oauth.SANDBOX_LOGIN_URL, "Sandbox (test.salesforce.com)"),
    ]
    default = default_login_url()
    if default not in (oauth.PRODUCTION_LOGIN_URL, oauth.SANDBOX_LOGIN_URL):
        choices.insert(0, (default, f"{default} (this server's default)"))
    return [*choices, (MY_DOMAIN, "My Domain")]


def default_login_url() -> str:
    return (settings.SALESFORCE_LOGIN_URL or oauth.PRODUCTION_LOGIN_URL).rstrip("/")


class ConnectForm(forms.Form):
    login_choice = forms.ChoiceField(label="Salesforce login", widget=forms.RadioSelect)
    my_domain_url = forms.CharField(
        label="My Domain URL",
        required=False,
        max_length=255,
        help_text="For example https://yourcompany.my.salesforce.com",
        widget=forms.URLInput(attrs={"placeholder": "https://yourcompany.my.salesforce.com"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {"login_choice": default_login_url()})
        super().__init__(*args, **kwargs)
        self.fields["login_choice"].choices = login_choices()

    def clean(self) -> dict:
        data = super().clean()
        choice = data.get("login_choice")
        if not choice:
            return data
        if choice == MY_DOMAIN:
            url = (data.get("my_domain_url") or "").strip()
            if not url:
                self.add_error("my_domain_url", "Enter your My Domain URL.")
                return data
            field = "my_domain_url"
        else:
            url, field = choice, "login_choice"
        try:
            data["login_url"] = oauth.validate_login_url(url)
        except ValueError as exc:
            self.add_error(field, str(exc))
        return data


class ClientCredentialsForm(forms.Form):
    """E4: connect with an integration user: the org's own External Client App's key and secret.

    Prefixed ("cc-"): it shares the Manage page with the Connect form (ids must stay unique).
    """

    prefix = "cc"

    my_domain_url = forms.CharField(
        label="My Domain URL",
        max_length=255,
        widget=forms.URLInput(attrs={"placeholder": "https://yourcompany.my.salesforce.com"}),
    )
    client_id = forms.CharField(label="Consumer key", max_length=255)
    client_secret = forms.CharField(
        label="Consumer secret", max_length=255, widget=forms.PasswordInput(render_value=False)
    )

    def clean_my_domain_url(self) -> str:
        try:
            return oauth.validate_my_domain(self.cleaned_data["my_domain_url"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
