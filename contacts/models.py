from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

from workspace.emails import email_key
from workspace.models import Workspace

PHONE_MAX_LENGTH = 40
phone_validator = RegexValidator(
    regex=r"^\+?[0-9 ()./-]*[0-9][0-9 ()./-]*(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$",
    message=(
        "Enter a phone number using digits, spaces and + ( ) - . / only "
        "(an extension such as 'ext. 12' is allowed)."
    ),
)


class Contact(models.Model):
    """A customer in a workspace's contact book (I4).

    Email and phone are kept as typed (trimmed, never normalised): Salesforce matching is exact.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254, blank=True)
    # H1: the email's identity (workspace.emails.email_key), kept in step by save(); the inbound
    # API finds a sender's contact by it. Text: IDNA can make a domain longer than typed.
    email_key = models.TextField(blank=True, default="", editable=False)
    phone = models.CharField(max_length=PHONE_MAX_LENGTH, blank=True, validators=[phone_validator])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        # The list's order (L3/L4), exact email (case-insensitive, as Salesforce's `=`) and phone
        # lookups (L1). The trigram indexes for fragment search live in migration 0003: they exist
        # on PostgreSQL only.
        indexes = [
            # INCLUDE (PostgreSQL; ignored elsewhere): a search walks this index in name order
            # testing name, email and phone without reading the table (keyset._rows).
            models.Index(
                fields=["workspace", "name", "id"],
                include=["email", "phone"],
                name="contact_ws_name_id",
            ),
            models.Index(fields=["workspace", "email"], name="contact_ws_email"),
            models.Index(F("workspace"), Upper("email"), name="contact_ws_email_upper"),
            models.Index(fields=["workspace", "phone"], name="contact_ws_phone"),
            models.Index(fields=["workspace", "email_key"], name="contact_ws_email_key"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.email_key = email_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)
