"""Token policy of a Connected App / External Client App: rotation, session and refresh lifetimes.

Each app in the data file may carry a ``token_policy`` object (every key optional)::

    "token_policy": {
      "refresh_token_rotation": true,        # each refresh grant answers a NEW refresh_token and
                                             # retires the one it replaced; presenting a retired
                                             # one again revokes the whole token family
      "refresh_token_policy": "infinite",    # Salesforce's ConnectedAppOauthPolicy.refreshTokenPolicy
                                             # strings: "infinite" (valid until revoked),
                                             # "immediately" (every refresh grant is refused),
                                             # "specific_lifetime:N:UNIT" (expire N after approval),
                                             # "specific_inactivity:N:UNIT" (expire if not used for N)
      "session_timeout_seconds": 7200,       # access tokens end N seconds after issue (null: only
                                             # faults/control end them)
      "max_approvals_per_user": 5            # live refresh tokens per user per app; the next approval
                                             # silently revokes the oldest (null: no limit)
    }

UNIT is ``MONTHS``, ``DAYS``, ``HOURS`` (what Salesforce's setup page offers), or ``MINUTES`` /
``SECONDS`` (emulator extensions for short tests); a month counts as 30 days. "Used" means
presented in a successful refresh grant (or issued); calling the REST API with the access token does
not count. A lifetime counts from the approval (the code grant that started the token family).
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "refresh_token_rotation": False,
    "refresh_token_policy": "infinite",
    "session_timeout_seconds": None,
    "max_approvals_per_user": 5,
}
UNITS = {
    "SECONDS": 1,
    "MINUTES": 60,
    "HOURS": 3600,
    "DAYS": 86400,
    "MONTHS": 30 * 86400,
}


class PolicyError(ValueError):
    """A token policy value the emulator cannot honour."""


def parse_refresh_policy(value: str) -> tuple[str, float | None]:
    """``"specific_inactivity:30:DAYS"`` -> ``("inactivity", 2592000.0)``.

    Kinds: ``infinite``, ``immediately``, ``lifetime``, ``inactivity``.
    """
    if not isinstance(value, str):
        raise PolicyError(f"refresh_token_policy must be a string, not {value!r}")
    text = value.strip().lower()
    if text in ("infinite", "immediately"):
        return text, None
    parts = text.split(":")
    kinds = {"specific_lifetime": "lifetime", "specific_inactivity": "inactivity"}
    if len(parts) == 3 and parts[0] in kinds and parts[2].upper() in UNITS:
        try:
            amount = float(parts[1])
        except ValueError:
            amount = -1.0
        if amount > 0:
            return kinds[parts[0]], amount * UNITS[parts[2].upper()]
    raise PolicyError(
        f"refresh_token_policy {value!r} is not one of 'infinite', 'immediately', "
        "'specific_lifetime:N:UNIT', 'specific_inactivity:N:UNIT' "
        f"(N > 0, UNIT one of {', '.join(UNITS)})"
    )


def normalise(policy: dict[str, Any] | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default: DEFAULTS) updated with ``policy``, validated. Raises PolicyError."""
    out = dict(base if base is not None else DEFAULTS)
    for key, value in (policy or {}).items():
        if key not in DEFAULTS:
            raise PolicyError(f"unknown token policy key {key!r}; known: {sorted(DEFAULTS)}")
        out[key] = value
    if not isinstance(out["refresh_token_rotation"], bool):
        raise PolicyError("refresh_token_rotation must be true or false")
    parse_refresh_policy(out["refresh_token_policy"])
    timeout = out["session_timeout_seconds"]
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise PolicyError("session_timeout_seconds must be a positive number or null")
    limit = out["max_approvals_per_user"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise PolicyError("max_approvals_per_user must be a positive integer or null")
    return out
