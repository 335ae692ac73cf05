"""Email identity (H1): when two addresses are the same person's, for every place that compares them.

The domain is IDNA-encoded (IDNA 2008 with UTS #46 mapping, as browsers and SMTPUTF8 mail do)
and lower-cased; the local part is lower-cased only when it is ASCII, and otherwise kept as given
after NFC. Databases' case-insensitive matches are not used for identity: PostgreSQL's
``UPPER()`` turns a dotless "ı" into "I" and a long "ſ" into "S", so ``email__iexact`` would let
``marcuſ.reed@...`` into Marcus Reed's thread.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import idna

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _domain_key(domain: str) -> str:
    if domain.isascii():
        return domain.translate(_ASCII_LOWER)
    try:
        return idna.encode(domain, uts46=True).decode("ascii").translate(_ASCII_LOWER)
    except idna.IDNAError:
        pass
    try:  # what IDNA 2008 refuses but Django's validator (IDNA 2003) accepts, e.g. symbols
        return domain.encode("idna").decode("ascii").translate(_ASCII_LOWER)
    except UnicodeError:
        # Not encodable at all: compare as typed (NFC), folding ASCII letters only, so no
        # look-alike is ever folded into an ASCII letter.
        return unicodedata.normalize("NFC", domain).translate(_ASCII_LOWER)


def email_key(address: str) -> str:
    """The normalised form under which two addresses are the same ('' for no address)."""
    address = (address or "").strip()
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", address).translate(_ASCII_LOWER)
    local = local.lower() if local.isascii() else unicodedata.normalize("NFC", local)
    return f"{local}@{_domain_key(domain)}"


def mailto_url(address: str) -> str | None:
    """A ``mailto:`` link that can only address ``address`` (H7), or None when none is offered.

    A quoted local part (``"x?cc=a@b&body=..."@example.com``) is a valid address whose characters
    would become mailto headers: no link for it. Otherwise every character outside the RFC 6068
    safe set is percent-encoded, so nothing in the address reads as ``?``, ``&`` or ``#``.
    """
    address = (address or "").strip()
    if not address or address.startswith('"') or any(ord(ch) < 0x21 for ch in address):
        return None
    return "mailto:" + quote(address, safe="@!$'()*+,;=-._~")
