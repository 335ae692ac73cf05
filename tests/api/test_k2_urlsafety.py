"""K2: the webhook address rule (api/urlsafety.py, the SSRF rule), each refusal with its message.

Name resolution is mocked: these are the module's fast tests for `make mutation`."""

from __future__ import annotations

import socket
from unittest import mock

import pytest

from api.urlsafety import UnresolvableWebhookHost, UnsafeWebhookUrl, check_webhook_url

FULL_URL = "Enter a full URL, such as https://example.com/hooks/inbox."
NO_CREDENTIALS = "Put no user name or password in the URL."
HTTPS = "The webhook URL must use https."
PRIVATE = "The webhook URL points to a private, loopback, link-local or metadata address."
PUBLIC = "93.184.215.14"


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def lifted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def answer(*addresses):
    return [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443))
        for a in addresses
    ]


def refusal(url, **kwargs) -> str:
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_webhook_url(url, **kwargs)
    return str(caught.value)


def test_k2_one_private_address_among_public_ones_is_refused(strict):
    # any, not all: a host resolving to one public and one private address
    for addresses in [(PUBLIC, "10.0.0.1"), ("10.0.0.1", PUBLIC), (PUBLIC, "::1")]:
        with mock.patch("socket.getaddrinfo", return_value=answer(*addresses)):
            assert refusal("https://hooks.example.com/inbox") == PRIVATE


def test_k2_all_public_addresses_are_returned_for_pinning(strict):
    with mock.patch("socket.getaddrinfo", return_value=answer(PUBLIC, "2606:2800:21f:cb07::1")):
        assert check_webhook_url("https://hooks.example.com/inbox") == [
            PUBLIC,
            "2606:2800:21f:cb07::1",
        ]


def test_k2_resolution_asks_for_tcp_on_the_urls_port(strict):
    with mock.patch("socket.getaddrinfo", return_value=answer(PUBLIC)) as lookup:
        check_webhook_url("https://hooks.example.com/inbox")
        check_webhook_url("https://hooks.example.com:8443/inbox")
    assert lookup.call_args_list == [
        mock.call("hooks.example.com", 443, proto=socket.IPPROTO_TCP),
        mock.call("hooks.example.com", 8443, proto=socket.IPPROTO_TCP),
    ]


def test_k2_a_scoped_ipv6_answer_is_read_without_its_zone(strict):
    with mock.patch("socket.getaddrinfo", return_value=answer("fe80::1%eth0")):
        assert refusal("https://hooks.example.com/inbox") == PRIVATE


@pytest.mark.parametrize(
    "url",
    [
        "https://user@example.com/hook",  # only a user name
        "https://user:pw@example.com/hook",
        "https://:pw@example.com/hook",  # only a password
    ],
)
def test_k2_no_user_name_or_password_in_the_url(strict, url):
    with mock.patch("socket.getaddrinfo", return_value=answer(PUBLIC)):
        assert refusal(url) == NO_CREDENTIALS


def test_k2_no_user_name_even_when_the_rules_are_lifted(lifted):
    assert refusal("http://user@127.0.0.1:9000/hook") == NO_CREDENTIALS


@pytest.mark.parametrize(
    "url",
    [
        "https:///hook",
        "https://",
        "https://:443/hook",
        "example.com/hook",
        "ftp://example.com/",
        "",
    ],
)
def test_k2_urls_without_a_host_or_with_another_scheme_are_not_full_urls(strict, url):
    assert refusal(url) == FULL_URL


def test_k2_not_a_full_url_even_when_the_rules_are_lifted(lifted):
    assert refusal("https:///hook") == FULL_URL
    assert refusal("ftp://127.0.0.1/") == FULL_URL


def test_k2_plain_http_is_refused_unless_the_rules_are_lifted(strict, settings):
    assert refusal(f"http://{PUBLIC}/hook") == HTTPS
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert check_webhook_url("http://127.0.0.1:9000/hook") == []


@pytest.mark.parametrize(
    "host",
    [
        "224.0.0.1",  # IPv4 multicast (global on this Python)
        "[ff02::1]",  # IPv6 link-local multicast (global on this Python)
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1 (global on this Python)
        "[fec0::1]",  # deprecated site-local: the operator's own network
        "[fec0:1::2]",
        "[4000::1]",  # reserved IPv6 (global on this Python)
        "[fe00::1]",
        "127.0.0.1",
        "10.1.2.3",
        "0.0.0.0",
        "[::]",
        "[fe80::1]",
        "240.0.0.1",  # reserved
        "100.64.0.1",  # carrier-grade NAT
    ],
)
def test_k2_non_public_literals_are_refused_with_the_reason(strict, host):
    assert refusal(f"https://{host}/hook") == PRIVATE


@pytest.mark.parametrize(
    ("host", "address"),
    [
        (PUBLIC, PUBLIC),
        ("[2606:2800:21f:cb07::1]", "2606:2800:21f:cb07::1"),
        ("[::ffff:93.184.215.14]", "::ffff:5db8:d70e"),  # mapped public IPv4
        ("[64:ff9b::808:808]", "64:ff9b::808:808"),  # NAT64 of 8.8.8.8
    ],
)
def test_k2_public_literals_are_accepted_without_resolving(strict, host, address):
    with mock.patch("socket.getaddrinfo", side_effect=AssertionError("resolved")):
        assert check_webhook_url(f"https://{host}/hook") == [address]


def test_k2_mapped_private_ipv4_is_refused(strict):
    assert refusal("https://[::ffff:10.0.0.1]/hook") == PRIVATE


def test_k2_without_resolving_a_name_is_not_checked_yet(strict):
    with mock.patch("socket.getaddrinfo", side_effect=AssertionError("resolved")):
        assert check_webhook_url("https://hooks.example.com/inbox", resolve=False) == []
        # literals are still checked
        assert refusal("https://10.0.0.1/hook", resolve=False) == PRIVATE


@pytest.mark.parametrize(
    "error", [socket.gaierror(-2, "Name or service not known"), UnicodeError()]
)
def test_k2_a_name_that_does_not_resolve_is_retryable_with_its_message(strict, error):
    with (
        mock.patch("socket.getaddrinfo", side_effect=error),
        pytest.raises(UnresolvableWebhookHost) as caught,
    ):
        check_webhook_url("https://nowhere.example/hook")
    assert str(caught.value) == "The host nowhere.example does not resolve."
    assert isinstance(caught.value, UnsafeWebhookUrl)


def test_k2_the_addresses_returned_for_pinning_carry_no_zone(strict):
    with mock.patch("socket.getaddrinfo", return_value=answer("2606:2800:21f:cb07::1%eth0")):
        assert check_webhook_url("https://hooks.example.com/inbox") == ["2606:2800:21f:cb07::1"]
