"""The two WSGI apps (login host and instance host) and the threaded werkzeug listeners."""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import control, oauth, pages, rest, schema
from .state import State
from .web import html_response, json_response

_ALL = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]


class _App:
    """A WSGI app over a routing map; logs OAuth/REST requests to the shared state."""

    url_map: Map

    def __init__(self, state: State) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception:  # noqa: BLE001 - NotFound, MethodNotAllowed, RequestRedirect
            endpoint, values = None, {}
        response = self.dispatch(request, endpoint, values)
        if endpoint and endpoint not in ("control", "record_page", "classic"):
            args = request.args
            self.state.logs.add_request(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": args.get("q") if "q" in args else request.query_string.decode(),
                    "org_id": environ.get("sfemu.org_id"),
                    "user_id": environ.get("sfemu.user_id"),
                    "status": response.status_code,
                    "ts": time.time(),
                    "listener": self.name,
                    **environ.get("sfemu.log", {}),
                }
            )
        return response(environ, start_response)

    name = ""

    def dispatch(self, request: Request, endpoint: str | None, values: dict) -> Response:
        raise NotImplementedError


class LoginApp(_App):
    name = "login"
    url_map = Map(
        [
            Rule("/services/oauth2/authorize", endpoint="authorize", methods=["GET", "POST"]),
            Rule("/services/oauth2/token", endpoint="token", methods=_ALL),
            Rule("/services/oauth2/revoke", endpoint="revoke", methods=["GET", "POST"]),
            Rule("/services/oauth2/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
            Rule("/id/<org_id>/<user_id>", endpoint="identity", methods=["GET", "POST"]),
            Rule("/__emulator__/<path:op>", endpoint="control", methods=_ALL),
        ],
        strict_slashes=False,
    )

    def dispatch(self, request: Request, endpoint: str | None, values: dict) -> Response:
        state = self.state
        if endpoint == "authorize":
            return oauth.authorize(state, request)
        if endpoint == "token":
            return oauth.token(state, request)
        if endpoint == "revoke":
            return oauth.revoke(state, request)
        if endpoint == "userinfo":
            return oauth.userinfo(state, request)
        if endpoint == "identity":
            return oauth.identity(state, request, values["org_id"], values["user_id"])
        if endpoint == "control":
            return control.handle(state, request, values["op"])
        if request.path in ("/", ""):
            return html_response(
                pages.not_found_page(
                    "Salesforce emulator login host. Start an OAuth flow at "
                    "/services/oauth2/authorize."
                ),
                200,
            )
        return html_response(pages.not_found_page("The page you requested does not exist."), 404)


class InstanceApp(_App):
    name = "instance"
    url_map = Map(
        [
            Rule("/services/data", endpoint="versions", methods=["GET", "HEAD"]),
            Rule("/services/data/", endpoint="versions", methods=["GET", "HEAD"]),
            Rule("/services/data/v<version>", endpoint="rest", methods=_ALL, defaults={"rest": ""}),
            Rule("/services/data/v<version>/<path:rest>", endpoint="rest", methods=_ALL),
            Rule(
                "/services/data/v<version>/", endpoint="rest", methods=_ALL, defaults={"rest": ""}
            ),
            Rule("/services/oauth2/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
            Rule("/lightning/r/<sobject>/<record_id>/view", endpoint="record_page"),
            Rule("/<record_id>", endpoint="classic"),
        ],
        strict_slashes=False,
        merge_slashes=False,
        redirect_defaults=False,  # /services/data/v62.0/ answers, as on Salesforce
    )

    def dispatch(self, request: Request, endpoint: str | None, values: dict) -> Response:
        state = self.state
        if endpoint == "versions":
            return rest.versions(state, request)
        if endpoint == "rest":
            return rest.handle(state, request, values["version"], values.get("rest", ""))
        if endpoint == "userinfo":
            return oauth.userinfo(state, request)
        if endpoint == "record_page":
            return self.record_page(values["sobject"], values["record_id"])
        if endpoint == "classic":
            rid = values["record_id"]
            obj = schema.PREFIXES.get(rid[:3])
            if obj and state.records.find(obj, rid):
                return redirect(f"/lightning/r/{obj}/{rid}/view", code=302)
        if request.path.startswith("/services/"):
            return json_response(rest.NOT_FOUND, 404)
        return html_response(pages.not_found_page("The page you requested does not exist."), 404)

    def record_page(self, sobject_name: str, record_id: str) -> Response:
        sobject = schema.canonical_object(sobject_name)
        found = self.state.records.find(sobject, record_id) if sobject else None
        if not found or found[1].get("IsDeleted"):
            return html_response(
                pages.not_found_page(
                    "Looks like there's a problem: the record you're trying to view doesn't "
                    "exist or was deleted."
                ),
                404,
            )
        org_id, row = found
        assert sobject is not None
        fields = [f for f in schema.OBJECTS[sobject]["fields"] if f["name"] != "IsDeleted"]
        org_name = self.state.directory.orgs[org_id]["name"]
        return html_response(pages.record_page(sobject, row, fields, org_name))


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        pass


class Emulator:
    """Both listeners sharing one state. ``port=0`` / ``instance_port=0`` pick free ports."""

    def __init__(
        self,
        state: State,
        host: str = "127.0.0.1",
        port: int = 8765,
        instance_port: int | None = None,
        *,
        quiet: bool = True,
        public_host: str | None = None,
    ) -> None:
        self.state = state
        self.host = host
        if instance_port is None:
            instance_port = port + 1 if port else 0
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self.login_server: BaseWSGIServer = make_server(
            host, port, LoginApp(state), threaded=True, request_handler=handler
        )
        self.instance_server: BaseWSGIServer = make_server(
            host, instance_port, InstanceApp(state), threaded=True, request_handler=handler
        )
        shown = public_host or ("127.0.0.1" if host in ("0.0.0.0", "", "::") else host)  # noqa: S104
        self.login_url = f"http://{shown}:{self.login_server.server_port}"
        self.instance_url = f"http://{shown}:{self.instance_server.server_port}"
        state.login_url = self.login_url
        state.instance_url = self.instance_url
        self._threads: list[threading.Thread] = []

    def start(self) -> Emulator:
        for server in (self.login_server, self.instance_server):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self.login_server, self.instance_server):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
