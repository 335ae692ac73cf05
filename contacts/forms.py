from django import forms

from .models import Contact


class ContactForm(forms.ModelForm):
    """Validation for I4: Django's email validation, phone limited to sensible characters/length."""

    class Meta:
        model = Contact
        fields = ["name", "email", "phone"]
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
        }
        help_texts = {
            "email": "Optional. Salesforce matches it exactly (case does not matter).",
            "phone": "Optional. Salesforce matches it character for character.",
        }
