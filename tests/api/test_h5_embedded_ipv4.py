"""H5: IPv6 addresses that wrap an IPv4 address (6to4, Teredo, NAT64) pass the webhook address
rule only when the wrapped IPv4 is public."""

from __future__ import annotations

import socket
from unittest import mock

import pytest

from api.urlsafety import UnsafeWebhookUrl, check_webhook_url


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.mark.parametrize(
    "host",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (the metadata address)
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:c0a8:101::",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): the operator's own network
    ],
)
def test_h5_wrapped_private_ipv4_is_refused(strict, host):
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url(f"https://[{host}]/hook")


@pytest.mark.parametrize("host", ["2002:808:808::1", "64:ff9b::808:808"])
def test_h5_wrapped_public_ipv4_is_accepted(strict, host):
    assert check_webhook_url(f"https://[{host}]/hook") == [host]


def test_h5_a_name_resolving_to_6to4_loopback_is_refused_at_delivery_too(strict):
    answer = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:7f00:1::", 443, 0, 0))]
    with mock.patch("socket.getaddrinfo", return_value=answer), pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("https://hooks.example.com/inbox")
