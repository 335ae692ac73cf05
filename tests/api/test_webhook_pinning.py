"""O6 / docs/decisions.md: the resolved address is checked at delivery and the connection goes to that
very address (TLS still verifies the host name), so a DNS answer that changes after the check
cannot point a delivery at the internal network."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api import urlsafety, webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from inbox.actions import conversation_reply

HOST = "hooks.example.test"
PUBLIC_IP = "93.184.215.14"  # what the name resolves to at check time (a public address)


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path):
    cert_file, key_file = _certificate(tmp_path)
    seen, sni = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"host": self.headers.get("Host"), "sni": sni[-1] if sni else None})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert_file, seen
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_o6_delivery_connects_to_the_checked_address_with_tls_for_the_host_name(
    tls_receiver, acme, agent, conversation, settings, monkeypatch
):
    port, cert_file, seen = tls_receiver
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    WebhookEndpoint.objects.create(workspace=acme, url=f"https://{HOST}:{port}/hook", secret="s")
    message = conversation_reply(conversation=conversation, author=agent, body="Pinned")
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def fake_getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        if host == HOST:
            # Checked once; any later resolution would answer an internal address.
            answer = PUBLIC_IP if lookups.count(HOST) == 1 else "10.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]
        return real_getaddrinfo(host, *args, **kwargs)

    original_connection = urllib3.util.connection.create_connection

    def to_loopback(address, *args, **kwargs):
        # The stand-in public address is served by the loopback test server.
        host, p = address
        assert host == PUBLIC_IP, f"connected to {host}, not the checked address"
        return original_connection(("127.0.0.1", p), *args, **kwargs)

    with (
        mock.patch("socket.getaddrinfo", side_effect=fake_getaddrinfo),
        mock.patch("urllib3.util.connection.create_connection", side_effect=to_loopback),
    ):
        webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get(message=message)
    assert delivery.status == WebhookDelivery.Status.SENT, delivery.last_error
    assert seen == [{"host": f"{HOST}:{port}", "sni": HOST}]
    assert lookups.count(HOST) == 1  # resolved once, at the check


def test_o6_forbidden_ranges_include_metadata_and_mapped_addresses():
    for address in ["169.254.169.254", "::ffff:10.0.0.1", "fd00:ec2::254", "100.64.0.1", "0.0.0.0"]:
        assert urlsafety._forbidden(ipaddress.ip_address(address)), address
    assert not urlsafety._forbidden(ipaddress.ip_address("93.184.215.14"))
