"""Sign-in throttling behind a proxy: the client's address, not the proxy's (issue 6)."""

import importlib
import io

import pytest


@pytest.mark.parametrize("count,expected", [(0, "10.0.0.1"), (1, "203.0.113.9")])
def test_remote_addr_comes_from_the_trusted_proxy(settings, count, expected):
    settings.TRUSTED_PROXY_COUNT = count
    import config.wsgi

    wsgi = importlib.reload(config.wsgi)
    seen = {}

    def inner(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        start_response("204 No Content", [])
        return [b""]

    app = wsgi.application
    if hasattr(app, "app"):  # ProxyFix wraps Django's handler: put a probe in its place
        app.app = inner
    else:
        app = inner
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_X_FORWARDED_FOR": "203.0.113.9",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
    }
    app(environ, lambda *a: None)
    assert seen["addr"] == expected
