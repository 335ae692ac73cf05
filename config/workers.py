"""The production server's worker: uvicorn under gunicorn (issue 22, N1).

``gunicorn config.asgi --worker-class config.workers.UvicornWorker``. ASGI because the live
Inbox holds one Server-Sent Events connection per open page: on the event loop an idle
connection is a parked coroutine, where a threaded WSGI worker would hold a thread for it.
"""

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {
        **_UvicornWorker.CONFIG_KWARGS,
        # Django's ASGI application has no lifespan protocol.
        "lifespan": "off",
        # The client address comes from TRUSTED_PROXY_COUNT alone (config/asgi.py), as under WSGI.
        "proxy_headers": False,
        "server_header": False,
        # Live connections never end by themselves: on shutdown (a deploy) they are closed after
        # 5 s instead of holding the worker; the pages reconnect to the new workers and resume.
        "timeout_graceful_shutdown": 5,
    }
