"""Workspace API keys (O4): created once, stored as a SHA-256 hash, looked up by prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.crypto import constant_time_compare

from workspace.models import Workspace

from .models import ApiKey

KEY_PREFIX = "tik_"
# last_used_at is written at most once a minute per key, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    secret: str  # the whole key: shown once, never stored


def _hash(raw: str) -> str:
    # The key holds 256 random bits: a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, workspace: Workspace, name: str, created_by) -> NewKey:
    """A new key for ``workspace``; its full value exists only in the returned object."""
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name.strip(),
        prefix=prefix,
        key_hash=_hash(raw),
        created_by=created_by,
    )
    return NewKey(api_key=key, secret=raw)


def api_key_revoke(*, api_key: ApiKey, revoked_by) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = revoked_by
        api_key.save(update_fields=["revoked_at", "revoked_by"])
    return api_key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key whose value is ``raw``, or None (wrong, malformed or revoked)."""
    raw = raw.strip()
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    prefix, _, rest = raw[len(KEY_PREFIX) :].partition("_")
    if not prefix or not rest:
        return None
    key = (
        ApiKey.objects.select_related("workspace")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None or not constant_time_compare(key.key_hash, _hash(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
