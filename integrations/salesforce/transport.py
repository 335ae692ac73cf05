"""HTTP transport for simple-salesforce: honour the instance URL's scheme and give every call a timeout.

simple-salesforce always builds ``https://host[:port]`` URLs from ``instance_url``. A real org is
https anyway; the embedded emulator is plain http on loopback. Rather than patching the library,
the session it is given rewrites the scheme of URLs aimed at the instance host, and nothing else.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import requests

Timeout = float | tuple[float, float]


class InstanceSession(requests.Session):
    """A requests session bound to one Salesforce instance URL.

    - URLs for the instance's host and port are sent with the instance URL's own scheme.
    - Every request gets ``timeout`` unless the caller passes one.
    """

    def __init__(self, instance_url: str, *, timeout: Timeout) -> None:
        super().__init__()
        parts = urlsplit(instance_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("instance_url must be an absolute http(s) URL")
        self.instance_scheme = parts.scheme
        self.instance_netloc = parts.netloc.lower()
        self.default_timeout = timeout

    def request(self, method, url, *args, **kwargs):  # noqa: D102 - requests' signature
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, self._with_instance_scheme(url), *args, **kwargs)

    def _with_instance_scheme(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.netloc.lower() == self.instance_netloc and parts.scheme != self.instance_scheme:
            return urlunsplit((self.instance_scheme, *parts[1:]))
        return url
