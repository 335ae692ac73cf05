"""The two WSGI apps (login host and instance host) and the threaded werkzeug listeners."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import unquote, unquote_plus

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import control, oauth, pages, rest, schema
from .pubsub import PubSubServer
from .state import State
from .web import html_response, json_response

_ALL = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]


_MISSING_RECORD = (
    "Looks like there's a problem: the record you're trying to view doesn't exist or was deleted."
)


def _found(state: State, sobject: str, record_id: str) -> tuple[str, str, dict[str, Any]] | None:
    """(canonical sObject, org id, row) of a live record in any org, or None."""
    name = schema.canonical_object(sobject)
    found = state.records.find(name, record_id) if name else None
    if not name or not found or found[1].get("IsDeleted"):
        return None
    return name, found[0], found[1]


def _children(
    state: State, org_id: str, child: str, parent_field: str, parent_id: str
) -> list[dict[str, Any]]:
    rows = [
        r
        for r in state.records.table(org_id, child)
        if not r.get("IsDeleted") and (r.get(parent_field) or "")[:15] == parent_id[:15]
    ]
    return sorted(rows, key=lambda r: r.get("LastModifiedDate") or "", reverse=True)


def _record_page(state: State, request: Request, sobject: str, record_id: str) -> Response:
    """``/lightning/r/<Type>/<id>/view``: the record as a Lightning page would show it, with
    links to its related lists (Contact: Cases, Opportunity Contact Roles)."""
    found = _found(state, sobject, record_id)
    if found is None:
        return html_response(pages.not_found_page(_MISSING_RECORD), 404)
    name, org_id, row = found
    fields = [f for f in schema.OBJECTS[name]["fields"] if f["name"] != "IsDeleted"]
    org_name = state.directory.orgs[org_id]["name"]
    related = [
        (
            fdef["child"],
            schema.OBJECTS[child]["labelPlural"],
            len(_children(state, org_id, child, fdef["name"], row["Id"])),
        )
        for child, fdef in schema.CHILDREN[name].values()
    ]
    return html_response(pages.record_page(name, row, fields, org_name, related))


def _column(child: str, path: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """A related-list column: (reference fields to follow, the field, its label)."""
    obj, rels = child, []
    parts = path.split(".")
    for hop in parts[:-1]:
        rel = schema.relationship(obj, hop)
        assert rel is not None, path
        rels.append(rel)
        obj = rel["ref"]
    fdef = schema.field(obj, parts[-1])
    assert fdef is not None, path
    label = fdef["label"]
    if rels and fdef.get("nameField"):
        label = f"{schema.OBJECTS[obj]['label']} {fdef['label']}"
    return rels, fdef, label


def _related_list_page(
    state: State, request: Request, sobject: str, record_id: str, relationship: str
) -> Response:
    """``/lightning/r/<Type>/<id>/related/<Relationship>/view``: all of one related list, newest
    first; the first cell links to its record (a contact role: to its opportunity)."""
    found = _found(state, sobject, record_id)
    if found is None:
        return html_response(pages.not_found_page(_MISSING_RECORD), 404)
    name, org_id, row = found
    child_rel = schema.child_relationship(name, relationship)
    if child_rel is None:
        return html_response(
            pages.not_found_page(f"{name} has no related list named {relationship!r}."), 404
        )
    child, parent_field = child_rel
    columns = [_column(child, path) for path in schema.OBJECTS[child]["list_columns"]]
    rows = []
    for child_row in _children(state, org_id, child, parent_field["name"], row["Id"]):
        values, linked = [], None
        for rels, fdef, _label in columns:
            obj, current = child, child_row
            for rel in rels:
                target = current.get(rel["name"]) if current else None
                current = state.records.get(org_id, rel["ref"], target) if target else None
                obj = rel["ref"]
            values.append(current.get(fdef["name"]) if current else None)
            if linked is None:
                linked = (obj, current["Id"] if current else child_row["Id"])
        assert linked is not None
        rows.append((linked[0], linked[1], values))
    name_field = next(
        (f["name"] for f in schema.OBJECTS[name]["fields"] if f.get("nameField")), "Name"
    )
    return html_response(
        pages.related_list_page(
            name,
            row,
            str(row.get(name_field) or row["Id"]),
            schema.OBJECTS[child]["labelPlural"],
            [
                (path, c[2])
                for path, c in zip(schema.OBJECTS[child]["list_columns"], columns, strict=True)
            ],
            rows,
            state.directory.orgs[org_id]["name"],
        )
    )


def default_field_values(query_string: str) -> dict[str, str]:
    """Decode ``defaultFieldValues`` from a raw query string, as Lightning does.

    Salesforce's form (``encodeDefaultFieldValues``): ``Field=Value`` pairs separated by commas,
    each value URL-encoded (a comma or "=" inside a value is ``%2C`` / ``%3D``), e.g.
    ``defaultFieldValues=FirstName=Ada,LastName=Lovelace,Email=ada%40example.com``. The raw query
    string is read (not a decoded one), so a literal "+" stays a "+" (a phone's) and an encoded
    comma stays inside its value. A parameter encoded as a whole once more (``FirstName%3DAda%2C
    ...``, what a page reference's URL generator produces) is decoded once first.
    """
    raw = None
    for part in query_string.split("&"):
        key, _, value = part.partition("=")
        if unquote_plus(key) == "defaultFieldValues":
            raw = value
    if not raw:
        return {}
    if "=" not in raw:
        raw = unquote(raw)
    out: dict[str, str] = {}
    for pair in raw.split(","):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        out[unquote(key).strip()] = unquote(value)
    return out


def _new_record_page(state: State, request: Request, sobject: str) -> Response:
    """``/lightning/o/<Type>/new?defaultFieldValues=...``: the new-record form, prefilled."""
    name = schema.canonical_object(sobject)
    if name is None or schema.OBJECTS[name].get("readonly"):
        return html_response(pages.not_found_page("The page you requested does not exist."), 404)
    fields = [f for f in schema.OBJECTS[name]["fields"] if schema.is_createable(name, f)]
    received = default_field_values(request.query_string.decode("latin-1"))
    defaults, unknown = {}, []
    for key, value in received.items():
        fdef = schema.field(name, key)
        if fdef is not None and schema.is_createable(name, fdef):
            defaults[fdef["name"]] = value
        else:
            unknown.append(key)
    orgs = list(state.directory.orgs.values())
    org_name = orgs[0]["name"] if len(orgs) == 1 else None
    return html_response(
        pages.new_record_page(
            name, schema.OBJECTS[name]["label"], fields, defaults, unknown, org_name
        )
    )


def _classic(state: State, request: Request, record_id: str) -> Response | None:
    """``/<id>`` (a Classic record URL) redirects to the Lightning page of a known record."""
    obj = schema.PREFIXES.get(record_id[:3])
    if obj and state.records.find(obj, record_id):
        return redirect(f"/lightning/r/{obj}/{record_id}/view", code=302)
    return None


def _not_found(request: Request) -> Response:
    if request.path.startswith("/services/"):
        return json_response(rest.NOT_FOUND, 404)
    return html_response(pages.not_found_page("The page you requested does not exist."), 404)


class _App:
    """A WSGI app over a routing map; logs OAuth/REST requests to the shared state.

    Each rule's endpoint is a function ``(state, request, **values) -> Response`` (``None``: the
    app's not-found answer); endpoints in ``unlogged`` stay out of the request log.
    """

    name = ""
    url_map: Map
    unlogged: frozenset[Any] = frozenset()

    def __init__(self, state: State) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.time()  # a slow answer is logged when it ends: "started" dates the ask
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception:  # noqa: BLE001 - NotFound, MethodNotAllowed, RequestRedirect
            endpoint, values = None, {}
        response = endpoint(self.state, request, **values) if endpoint else None
        if response is None:
            response = self.not_found(request)
        if endpoint and endpoint not in self.unlogged:
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
                    "started": started,
                    "listener": self.name,
                    "host": request.host,
                    **environ.get("sfemu.log", {}),
                }
            )
        return response(environ, start_response)

    def not_found(self, request: Request) -> Response:
        return _not_found(request)


class LoginApp(_App):
    name = "login"
    url_map = Map(
        [
            Rule("/services/oauth2/authorize", endpoint=oauth.authorize, methods=["GET", "POST"]),
            Rule("/services/oauth2/token", endpoint=oauth.token, methods=_ALL),
            Rule("/services/oauth2/revoke", endpoint=oauth.revoke, methods=["GET", "POST"]),
            Rule("/services/oauth2/userinfo", endpoint=oauth.userinfo, methods=["GET", "POST"]),
            Rule("/id/<org_id>/<user_id>", endpoint=oauth.identity, methods=["GET", "POST"]),
            Rule("/__emulator__/<path:op>", endpoint=control.handle, methods=_ALL),
        ],
        strict_slashes=False,
    )
    unlogged = frozenset({control.handle})

    def not_found(self, request: Request) -> Response:
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
            Rule("/services/data", endpoint=rest.versions, methods=["GET", "HEAD"]),
            Rule("/services/data/", endpoint=rest.versions, methods=["GET", "HEAD"]),
            Rule(
                "/services/data/v<version>",
                endpoint=rest.handle,
                methods=_ALL,
                defaults={"rest": ""},
            ),
            Rule("/services/data/v<version>/<path:rest>", endpoint=rest.handle, methods=_ALL),
            Rule(
                "/services/data/v<version>/",
                endpoint=rest.handle,
                methods=_ALL,
                defaults={"rest": ""},
            ),
            Rule("/services/oauth2/userinfo", endpoint=oauth.userinfo, methods=["GET", "POST"]),
            Rule("/lightning/r/<sobject>/<record_id>/view", endpoint=_record_page),
            Rule(
                "/lightning/r/<sobject>/<record_id>/related/<relationship>/view",
                endpoint=_related_list_page,
            ),
            Rule("/lightning/o/<sobject>/new", endpoint=_new_record_page),
            Rule("/<record_id>", endpoint=_classic),
        ],
        strict_slashes=False,
        merge_slashes=False,
        redirect_defaults=False,  # /services/data/v62.0/ answers, as on Salesforce
    )
    unlogged = frozenset({_record_page, _related_list_page, _new_record_page, _classic})


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        pass


class Emulator:
    """Both listeners sharing one state. ``port=0`` / ``instance_port=0`` pick free ports.

    With ``pubsub_port`` (0: a free port) the Pub/Sub API's gRPC listener runs too, on the same
    state; ``pubsub_target`` is then its ``host:port``.
    """

    def __init__(
        self,
        state: State,
        host: str = "127.0.0.1",
        port: int = 8765,
        instance_port: int | None = None,
        *,
        quiet: bool = True,
        public_host: str | None = None,
        pubsub_port: int | None = None,
        pubsub_min_ping_seconds: float = 300.0,
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
        self.pubsub: PubSubServer | None = None
        if pubsub_port is not None:
            self.pubsub = PubSubServer(
                state, host, pubsub_port, min_ping_seconds=pubsub_min_ping_seconds
            )
        self.pubsub_target = self.pubsub.target if self.pubsub else ""

    def start(self) -> Emulator:
        for server in (self.login_server, self.instance_server):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.pubsub:
            self.pubsub.start()
        return self

    def stop(self) -> None:
        if self.pubsub:
            self.pubsub.stop()
        for server in (self.login_server, self.instance_server):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
