from django import forms

from .urlsafety import UnsafeWebhookUrl, check_webhook_url


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=80,
        strip=True,
        help_text="Say what uses it, e.g. “WhatsApp bridge”.",
    )


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Webhook URL",
        max_length=500,
        assume_scheme="https",
        help_text="Each agent reply is POSTed here, signed (see the README).",
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_webhook_url(url)
        except UnsafeWebhookUrl as exc:
            raise forms.ValidationError(str(exc)) from None
        return url
