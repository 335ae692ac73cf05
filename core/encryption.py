"""Secrets encrypted at rest (tokens, webhook secrets): Fernet keys from FIELD_ENCRYPTION_KEY,
MultiFernet for rotation."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY if k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set: generate one with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"` and set it in the environment.'
        )
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key."
        ) from exc


def key_configured() -> bool:
    """Whether tokens can be stored (FIELD_ENCRYPTION_KEY holds usable keys)."""
    try:
        _fernet()
    except ImproperlyConfigured:
        return False
    return True


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored Salesforce token cannot be decrypted with FIELD_ENCRYPTION_KEY: "
            "keep the old key in the list (after the new one) until tokens are re-encrypted."
        ) from exc


class EncryptedTextField(models.TextField):
    """A text column whose value is stored Fernet-encrypted; '' stays '' (no token)."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return encrypt(value)
