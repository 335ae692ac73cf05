"""OAuth 2.0 web server flow with Salesforce (requests-oauthlib): authorize, exchange, refresh, revoke.

Salesforce sends no ``expires_in``: an access token's end shows up as a 401, and the client
refreshes then (see client.py). Token bodies are never logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from oauthlib.oauth2 import InvalidGrantError, OAuth2Error
from requests_oauthlib import OAuth2Session

from core.hosts import is_loopback_host
from ops import metrics

from .errors import NotConfigured, OAuthFailed, ReconnectNeeded, SalesforceError, Unavailable

logger = logging.getLogger(__name__)

SCOPES = ["api", "refresh_token"]
PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
# DNS names only: urlsplit keeps a backslash, ";", "%" or a space in a hostname, and browsers
# read "https://evil.example\\.my.salesforce.com" as evil.example with a path (an open redirect).
_DNS_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)


# Domains Salesforce serves orgs' instances and identity URLs from (T7). Sources: Salesforce Help
# "My Domain URL Formats" (with and without enhanced domains: *.my.salesforce.com,
# *.sandbox.my.salesforce.com, *.develop.my.salesforce.com, *.lightning.force.com,
# *.my.salesforce-setup.com, legacy NA123.salesforce.com / *.cloudforce.com) and "Allow the
# Required Domains" (force.com, salesforce.com, salesforce-setup.com, cloudforce.com), plus
# Government Cloud Plus (*.my.salesforce.mil) and Salesforce on Alibaba Cloud
# (*.sfcrmproducts.cn). A token answer naming any other host is not from Salesforce.
SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "salesforce-setup.com",
    "cloudforce.com",
    "salesforce.mil",
    "sfcrmproducts.cn",
)


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    instance_url: str
    identity_url: str
    scope: str

    def __repr__(self) -> str:  # never print tokens
        return f"TokenSet(instance_url={self.instance_url!r})"


def _timeout() -> tuple[float, float]:
    return (settings.SALESFORCE_CONNECT_TIMEOUT, settings.SALESFORCE_TIMEOUT)


def _credentials() -> tuple[str, str]:
    if not settings.SALESFORCE_CLIENT_ID or not settings.SALESFORCE_CLIENT_SECRET:
        raise NotConfigured()
    return settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_CLIENT_SECRET


def validate_login_url(url: str) -> str:
    """A login host the product may send people to (S2), normalised to ``scheme://host[:port]``.

    Accepted: production, sandbox, My Domain hosts (``*.my.salesforce.com``,
    ``*.sandbox.my.salesforce.com``), and hosts listed in SALESFORCE_LOGIN_URL(S).
    Raises ValueError with a message for the form.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise ValueError("Enter a full URL such as https://yourcompany.my.salesforce.com.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("Enter the login host only, without a path.")
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    configured = {
        _origin(u) for u in [settings.SALESFORCE_LOGIN_URL, *settings.SALESFORCE_LOGIN_URLS] if u
    }
    if origin in configured:
        return origin
    if parts.scheme != "https" or parts.port not in (None, 443):
        raise ValueError("Salesforce login hosts use https.")
    if not _DNS_NAME.fullmatch(host):
        raise ValueError("Enter a host name such as https://yourcompany.my.salesforce.com.")
    if host in ("login.salesforce.com", "test.salesforce.com") or host.endswith(
        (".my.salesforce.com",)
    ):
        return f"https://{host}"
    raise ValueError(
        "Use login.salesforce.com, test.salesforce.com or your My Domain "
        "(https://yourcompany.my.salesforce.com)."
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def authorization_request(*, login_url: str, redirect_uri: str) -> AuthorizationRequest:
    """The consent URL with PKCE S256 and a fresh ``state``; keep verifier and state server-side."""
    client_id, _ = _credentials()
    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=SCOPES, pkce="S256")
    url, state = session.authorization_url(
        f"{login_url}/services/oauth2/authorize", prompt="login consent"
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=session._code_verifier)


def _trusted_url(url: object, *, login_url: str, what: str, detail: str) -> str:
    """``url`` if it is https on a Salesforce domain, or loopback for a loopback login URL (T7)."""
    try:
        parts = urlsplit(url if isinstance(url, str) else "")
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # "https://[::1", "https://host:99999": not an address at all
        parts, host = urlsplit(""), ""
    login_host = (urlsplit(login_url).hostname or "").lower()
    if (
        is_loopback_host(host)
        and is_loopback_host(login_host)
        and parts.scheme in ("http", "https")
    ):
        return str(url)
    on_salesforce = _DNS_NAME.fullmatch(host) and any(
        host == domain or host.endswith("." + domain) for domain in SALESFORCE_DOMAINS
    )
    if parts.scheme == "https" and on_salesforce and not parts.username and not parts.password:
        return str(url)
    raise OAuthFailed(
        f"Salesforce's answer named {what} that is not a Salesforce address, so it was not "
        "trusted. Nothing was connected; check the login host and try again.",
        detail=detail,
    )


def _token_set(token: dict, *, login_url: str, refresh_token: str = "") -> TokenSet:
    try:
        access_token, instance_url, identity_url = (
            token["access_token"],
            token["instance_url"],
            token["id"],
        )
        scope = token.get("scope") or []
        if not isinstance(access_token, str) or not access_token:
            raise TypeError("access_token")
    except (KeyError, TypeError, AttributeError) as exc:
        raise Unavailable(
            "Salesforce's token answer was incomplete.", detail="token_response"
        ) from exc
    instance_url = _trusted_url(
        instance_url, login_url=login_url, what="an instance URL", detail="untrusted_instance_url"
    )
    identity_url = _trusted_url(
        identity_url, login_url=login_url, what="an identity URL", detail="untrusted_identity_url"
    )
    rotated = token.get("refresh_token")
    return TokenSet(
        access_token=access_token,
        refresh_token=rotated if isinstance(rotated, str) and rotated else refresh_token,
        instance_url=instance_url.rstrip("/"),
        identity_url=identity_url,
        scope=" ".join(scope) if isinstance(scope, list) else str(scope),
    )


def _token_request(login_url: str, fetch, *, refused, unreachable: str) -> dict:
    """One call to the token endpoint: ``fetch(session, url, **credentials_and_timeout)``.

    Client credentials go in the body (Salesforce accepts body or Basic). Salesforce's OAuth
    errors become ``refused(error)``; a network failure ``Unavailable``.
    """
    client_id, client_secret = _credentials()
    session = OAuth2Session(client_id, scope=SCOPES)
    common = {"client_secret": client_secret, "include_client_id": True, "timeout": _timeout()}
    try:
        return fetch(session, f"{login_url}/services/oauth2/token", **common)
    except OAuth2Error as exc:
        logger.warning("Salesforce token endpoint refused: %s", exc.error)
        raise refused(exc) from exc
    except requests.RequestException as exc:
        raise Unavailable(unreachable, detail=type(exc).__name__) from exc


def exchange_code(*, login_url: str, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
    """Trade the authorization code (with the PKCE verifier) for tokens."""

    def fetch(session, url, **common):
        session.redirect_uri = redirect_uri
        return session.fetch_token(url, code=code, code_verifier=code_verifier, **common)

    token = _token_request(
        login_url,
        fetch,
        refused=lambda exc: OAuthFailed(
            "Salesforce refused the authorization code. Please try connecting again.",
            detail=exc.error,
        ),
        unreachable="Salesforce could not be reached to finish connecting.",
    )
    tokens = _token_set(token, login_url=login_url)
    if not tokens.refresh_token:
        raise OAuthFailed(
            "Salesforce granted no refresh token: the app needs the refresh_token scope.",
            detail="no_refresh_token",
        )
    return tokens


def _refresh_refused(exc: OAuth2Error):
    if isinstance(exc, InvalidGrantError):
        return ReconnectNeeded(detail="invalid_grant")
    return Unavailable("Salesforce refused to renew the session.", detail=exc.error)


@metrics.refresh_grant()  # V2: grants by outcome
def refresh_access_token(*, login_url: str, refresh_token: str) -> TokenSet:
    """A new access token from the refresh token. ``invalid_grant`` means reconnect (S15)."""

    def fetch(session, url, **common):
        return session.refresh_token(
            url, refresh_token=refresh_token, client_id=session.client_id, **common
        )

    token = _token_request(
        login_url,
        fetch,
        refused=_refresh_refused,
        unreachable="Salesforce could not be reached to renew the session.",
    )
    # With rotation on, the answer carries a new refresh token that replaces this one (T1).
    return _token_set(token, login_url=login_url, refresh_token=refresh_token)


def revoke(*, login_url: str, token: str) -> None:
    """Revoke a token at Salesforce (a refresh token also ends its access tokens)."""
    try:
        response = requests.post(
            f"{login_url}/services/oauth2/revoke", data={"token": token}, timeout=_timeout()
        )
    except requests.RequestException as exc:
        raise Unavailable(
            "Salesforce could not be reached to revoke access.", detail=type(exc).__name__
        ) from exc
    if response.status_code != 200:
        raise Unavailable(
            f"Salesforce did not confirm the revocation (HTTP {response.status_code}).",
            detail=f"revoke_{response.status_code}",
        )


def revoke_quietly(*, login_url: str, token: str) -> None:
    """Best effort: tokens the product will not keep are revoked at once (a failure is logged)."""
    try:
        revoke(login_url=login_url, token=token)
    except SalesforceError as exc:
        logger.warning("Could not revoke an unused Salesforce token: %s", exc.detail)


def fetch_identity(*, identity_url: str, access_token: str) -> dict:
    """The identity URL's answer: user_id, organization_id, username, display_name..."""
    try:
        response = requests.get(
            identity_url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=_timeout(),
        )
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(
            "Salesforce did not say who authorised the connection.", detail="identity"
        ) from exc


# --- E4: the OAuth 2.0 client credentials flow (an integration user) ------------------------
def validate_my_domain(url: str) -> str:
    """The client credentials flow needs the org's My Domain host: login.salesforce.com and
    test.salesforce.com refuse it. Hosts listed in SALESFORCE_LOGIN_URL(S) (the emulator) pass."""
    origin = validate_login_url(url)
    if origin in (PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL):
        raise ValueError(
            "The client credentials flow needs your My Domain URL "
            "(https://yourcompany.my.salesforce.com), not login.salesforce.com."
        )
    return origin


def client_credentials_token(*, login_url: str, client_id: str, client_secret: str) -> TokenSet:
    """An access token for the app's run-as user; there is no refresh token: ask again when it
    expires. Salesforce's refusals (wrong key or secret, flow not enabled) mean reconnect."""
    try:
        response = requests.post(
            f"{login_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
            headers={"Accept": "application/json"},
            timeout=_timeout(),
        )
    except requests.RequestException as exc:
        raise Unavailable(
            "Salesforce could not be reached to renew the session.", detail=type(exc).__name__
        ) from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise Unavailable(
            "Salesforce's token answer could not be read.", detail="token_response"
        ) from exc
    if response.status_code != 200 or not isinstance(body, dict):
        error = str((body or {}).get("error") or f"HTTP {response.status_code}")[:60]
        logger.warning("Salesforce token endpoint refused the client credentials: %s", error)
        if response.status_code == 400:
            raise ReconnectNeeded(detail=error)
        raise Unavailable("Salesforce refused to issue a session.", detail=error)
    return _token_set(body, login_url=login_url)
