from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

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
        ]

    def __str__(self) -> str:
        return self.name
