"""Outgoing webhook URLs: https only, never to a loopback, private, link-local or metadata
address (nor an IPv6 address that wraps one: 6to4, Teredo, NAT64), checked when saved and again
(on the resolved addresses) at every delivery.
``WEBHOOK_ALLOW_PRIVATE_URLS`` lifts both rules for demos and tests."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeWebhookUrl(ValueError):
    """The URL may not receive webhooks; the message says why."""


class UnresolvableWebhookHost(UnsafeWebhookUrl):
    """The host name does not resolve (maybe for now): a delivery retries."""


# H5: IPv6 prefixes that carry an IPv4 address a gateway connects to; the IPv4 must pass too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215's local-use NAT64 prefix: whatever it embeds is the operator's own network.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 (2002::/16), Teredo (2001::/32) or NAT64 (64:ff9b::/96)
    address reaches; [] for other addresses."""
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [server, client]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # "Not global" already covers private, loopback, link-local and unspecified addresses; the
    # others count as global on this Python yet must not receive webhooks.
    return (
        ip.is_multicast
        # reserved IPv6 blocks (4000::/3, fe00::/9 ...) that Python counts as global
        or ip.is_reserved
        # fec0::/10, deprecated site-local (RFC 3879): still routed inside some networks, and
        # Python counts it as global.
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or not ip.is_global
    )


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            # Where DNS64 answers for IPv4-only hosts, this is how every public receiver looks;
            # the wrapped IPv4 is the destination (Python counts all of ::/8 as reserved).
            ip = _embedded_ipv4(ip)[0]
        elif ip in _LOCAL_NAT64 or any(_not_public(inner) for inner in _embedded_ipv4(ip)):
            return True
    return _not_public(ip)


def check_webhook_url(url: str, *, resolve: bool = True) -> list[str]:
    """Raise :class:`UnsafeWebhookUrl` unless ``url`` may receive webhooks; else the checked
    addresses to connect to ([] when the rules are lifted or nothing was resolved)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("Enter a full URL, such as https://example.com/hooks/inbox.")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("Put no user name or password in the URL.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return []
    if parts.scheme != "https":
        raise UnsafeWebhookUrl("The webhook URL must use https.")
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    elif not resolve:
        return []
    else:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnresolvableWebhookHost(f"The host {host} does not resolve.") from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if any(_forbidden(ip) for ip in addresses):
        raise UnsafeWebhookUrl(
            "The webhook URL points to a private, loopback, link-local or metadata address."
        )
    return [str(ip) for ip in addresses]
