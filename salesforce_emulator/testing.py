"""Helpers to run the emulator from tests and benchmarks, and to steer it over HTTP.

- :class:`EmulatorControl` talks to the control endpoint of any running emulator (same process
  or another one), so tests, benchmarks and browser tests share one client.
- :class:`EmulatorServer` / :func:`running_emulator` start both listeners in this process on
  free ports.
- :func:`spawn_emulator` starts ``python -m salesforce_emulator`` as a subprocess on free ports.

Both start the Pub/Sub API (gRPC) listener too, on a free port: ``pubsub_target`` is its
``host:port``, ``pubsub_channel()`` a channel to it, ``pubsub_metadata(...)`` the auth metadata,
and ``edit_record(...)`` changes a record over REST as a user would "in Salesforce" (its change
event is published).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import requests

from .server import Emulator
from .state import State, load_data_file


class EmulatorControl:
    """Client for ``/__emulator__/...`` on the login listener at ``login_url``."""

    def __init__(self, login_url: str, *, timeout: float = 10.0) -> None:
        self.login_url = login_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._info: dict[str, Any] | None = None

    # -- plumbing
    def _call(self, method: str, op: str, body: dict[str, Any] | None = None, **params: Any):
        response = self._http.request(
            method,
            f"{self.login_url}/__emulator__/{op}",
            json=body,
            params={k: v for k, v in params.items() if v is not None},
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"emulator control {op} failed: {response.text}")
        return response.json()

    # -- introspection
    def info(self) -> dict[str, Any]:
        self._info = self._call("GET", "info")
        return self._info

    def _cached(self) -> dict[str, Any]:
        return self._info or self.info()

    @property
    def instance_url(self) -> str:
        return self._cached()["instance_url"]

    @property
    def client_id(self) -> str:
        return self._cached()["connected_app"]["client_id"]

    @property
    def client_secret(self) -> str:
        return self._cached()["connected_app"]["client_secret"]

    @property
    def authorize_url(self) -> str:
        return f"{self.login_url}/services/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    def org_id(self, name: str) -> str:
        """The id of the org called ``name``."""
        for org in self.info()["orgs"]:
            if org["name"] == name:
                return org["id"]
        raise KeyError(name)

    def user_id(self, username: str) -> str:
        for org in self.info()["orgs"]:
            for user in org["users"]:
                if user["username"] == username:
                    return user["id"]
        raise KeyError(username)

    # -- per-org enterprise switches (issue 24; see stores/org_settings.py)
    def org_settings(self, org_id: str) -> dict[str, Any]:
        return self._call("GET", "org-settings", org_id=org_id)

    def set_org_settings(self, org_id: str, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "org-settings", {"org_id": org_id, **changes})

    def enable_client_credentials(
        self, username: str | None, client_id: str | None = None
    ) -> dict[str, Any]:
        """E4: the app's client credentials flow runs as ``username`` (None: off)."""
        return self._call(
            "POST", "client-credentials", {"client_id": client_id, "username": username}
        )

    def move_my_domain(self, org_id: str, instance_url: str) -> dict[str, Any]:
        """E5: the org's instance moves; token answers name ``instance_url`` from now on."""
        return self.set_org_settings(org_id, instance_url=instance_url)

    # -- faults
    def set_fault(
        self,
        kind: str,
        *,
        org_id: str | None = None,
        username: str | None = None,
        value: Any = True,
    ) -> None:
        body = {"kind": kind, "value": value, "org_id": org_id, "username": username}
        self._call("POST", "faults", body)

    def hide_objects(
        self, *sobjects: str, org_id: str | None = None, username: str | None = None
    ) -> None:
        """The user (``username``), every user of ``org_id``, or everyone loses read access to
        these sObjects (the ``hide_object`` fault); no names: that level sees them all again.

        Hiding Opportunity hides OpportunityContactRole too (its access follows its opportunity).
        A query on a hidden object answers 400 INVALID_TYPE, a subquery on its relationship
        "Didn't understand relationship ...", its describe and records 404, and describes leave
        out the child relationships to it. Levels add up (user + org + global).
        """
        self.set_fault(
            "hide_object", org_id=org_id, username=username, value=list(sobjects) or None
        )

    def clear_faults(self, *, org_id: str | None = None, username: str | None = None) -> None:
        self._call("POST", "faults/clear", {"org_id": org_id, "username": username})

    def expire_sessions(self, org_id: str | None = None, *, username: str | None = None) -> int:
        return self._call("POST", "expire-sessions", {"org_id": org_id, "username": username})[
            "count"
        ]

    def revoke_refresh_tokens(
        self, org_id: str | None = None, *, username: str | None = None
    ) -> int:
        body = {"org_id": org_id, "username": username}
        return self._call("POST", "revoke-refresh-tokens", body)["count"]

    # -- token policy and clock
    def token_policy(self, client_id: str | None = None) -> dict[str, Any]:
        """The app's token policy (default: the data file's first app)."""
        return self._call("GET", "token-policy", client_id=client_id)

    def set_token_policy(self, client_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change some token policy keys at run time; returns the whole policy.

        Keys: ``refresh_token_rotation``, ``refresh_token_policy``, ``session_timeout_seconds``,
        ``max_approvals_per_user`` (see ``salesforce_emulator/policy.py``). ``reset()`` restores
        the data file's policy.
        """
        body: dict[str, Any] = dict(changes)
        if client_id:
            body["client_id"] = client_id
        return self._call("POST", "token-policy", body)

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock forward; returns the total offset in seconds."""
        return self._call("POST", "clock", {"advance_seconds": seconds})["offset_seconds"]

    def token_families(self) -> list[dict[str, Any]]:
        """One entry per approval (token family), without token values."""
        return self._call("GET", "token-families")

    def token_summary(self, org_id: str | None = None) -> dict[str, int]:
        """Counts from the request log: refresh grants (all / ok / refused), code grants,
        reuse detections and revoked token families (reuse, approval limit, revoke endpoint)."""
        summary = dict.fromkeys(
            (
                "refresh_grants",
                "refresh_grants_ok",
                "refresh_grants_refused",
                "code_grants",
                "reuse_detected",
                "revoked_families",
            ),
            0,
        )
        for entry in self.request_log(org_id):
            if entry["path"] == "/services/oauth2/token":
                if entry.get("grant_type") == "refresh_token":
                    summary["refresh_grants"] += 1
                    ok = entry.get("outcome") == "ok"
                    summary["refresh_grants_ok" if ok else "refresh_grants_refused"] += 1
                elif entry.get("grant_type") == "authorization_code":
                    summary["code_grants"] += 1
                summary["reuse_detected"] += bool(entry.get("reuse_detected"))
            if entry["path"] in ("/services/oauth2/token", "/services/oauth2/revoke"):
                summary["revoked_families"] += entry.get("revoked_families") or 0
        return summary

    # -- logs
    def request_log(self, org_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "requests", org_id=org_id)

    def reset_log(self) -> None:
        self._call("DELETE", "requests")

    def writes(self) -> list[dict[str, Any]]:
        return self._call("GET", "writes")

    # -- data
    def update_record(
        self, sobject: str, record_id: str, *, org_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Change (or, with ``org_id``, create) a record without API use or a logged write."""
        body: dict[str, Any] = {"fields": fields}
        if org_id:
            body["org_id"] = org_id
        return self._call("POST", f"records/{sobject}/{record_id}", body)

    def set_api_usage(
        self, org_id: str, *, used: int | None = None, limit: int | None = None
    ) -> dict[str, int]:
        return self._call("POST", "usage", {"org_id": org_id, "used": used, "limit": limit})

    def reset(self) -> None:
        """Back to the loaded data: records, tokens, usage, faults, logs, token policy, clock,
        change events, CDC selection, delivery allocation and keepalive interval."""
        self._call("POST", "reset")

    def delete_record(self, sobject: str, record_id: str) -> None:
        """Delete a record without API use (its DELETE change event is published)."""
        self._call("DELETE", f"records/{sobject}/{record_id}")

    def edit_record(
        self, access_token: str, sobject: str, record_id: str, *, version: str = "62.0", **fields
    ) -> None:
        """``PATCH /services/data/vXX.X/sobjects/<T>/<id>`` with a user's access token: the edit
        an admin makes "in Salesforce" (API use, a logged write, an UPDATE change event)."""
        response = self._http.patch(
            f"{self.instance_url}/services/data/v{version}/sobjects/{sobject}/{record_id}",
            json=fields,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=self.timeout,
        )
        if response.status_code != 204:
            raise RuntimeError(
                f"PATCH {sobject} {record_id} answered {response.status_code}: {response.text}"
            )

    # -- Pub/Sub API (Change Data Capture)
    @property
    def pubsub_target(self) -> str:
        """``host:port`` of the Pub/Sub API listener ("" when it does not run)."""
        return self._cached()["pubsub_target"]

    def pubsub_channel(self) -> grpc.Channel:
        """A new plaintext gRPC channel to the Pub/Sub API listener (close it when done)."""
        if not self.pubsub_target:
            raise RuntimeError("this emulator runs without the Pub/Sub API")
        return grpc.insecure_channel(self.pubsub_target)

    def pubsub_metadata(self, access_token: str, org_id: str) -> tuple[tuple[str, str], ...]:
        """The call metadata the Pub/Sub API authenticates with."""
        return (
            ("accesstoken", access_token),
            ("instanceurl", self.instance_url),
            ("tenantid", org_id),
        )

    def cdc_entities(self, org_id: str) -> list[str]:
        return self._call("GET", "pubsub/cdc-entities", org_id=org_id)["entities"]

    def set_cdc_entities(self, org_id: str, *entities: str) -> list[str]:
        """Select the entities ``org_id`` publishes change events for (none: nothing)."""
        body = {"org_id": org_id, "entities": list(entities)}
        return self._call("POST", "pubsub/cdc-entities", body)["entities"]

    def set_event_allocation(self, org_id: str, remaining: int | None) -> None:
        """Event deliveries left for the org (None: no cap; 0: the allocation is spent)."""
        self._call("POST", "pubsub/allocation", {"org_id": org_id, "remaining": remaining})

    def set_pubsub_keepalive(self, seconds: float) -> None:
        """Subscribe's keepalive interval (Salesforce: 270 s); ``reset()`` restores it."""
        self._call("POST", "pubsub/keepalive", {"seconds": seconds})

    def stall_pubsub(self, org_id: str) -> None:
        """Every Subscribe stream of the org open now goes silent without closing (E6)."""
        self._call("POST", "pubsub/stall", {"org_id": org_id})

    def set_pubsub_idle_close(self, seconds: float) -> None:
        """How long a stream with nothing requested stays open (Salesforce: ~70 s)."""
        self._call("POST", "pubsub/idle-close", {"seconds": seconds})

    def pubsub_stats(self) -> dict[str, Any]:
        """Pub/Sub RPC calls since reset (``calls``), Subscribe streams open now per org
        (``open_streams``), events delivered and deliveries left per org."""
        return self._call("GET", "pubsub/stats")

    def change_events(self, org_id: str) -> list[dict[str, Any]]:
        """The org's kept change events: replay_id (hex), entity, schema_id, header,
        changed_fields (names)."""
        return self._call("GET", "pubsub/events", org_id=org_id)


class EmulatorServer(EmulatorControl):
    """Both listeners in this process, on free ports (or the given ones)."""

    def __init__(
        self,
        data: dict[str, Any] | str | Path | None = None,
        *,
        allow_loopback_callbacks: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        instance_port: int | None = None,
        pubsub_port: int | None = 0,
        pubsub_min_ping_seconds: float = 300.0,
    ) -> None:
        if isinstance(data, (str, Path)):
            data = load_data_file(data)
        self.state = State(data)
        self.state.allow_loopback_callbacks = allow_loopback_callbacks
        self.emulator = Emulator(
            self.state,
            host,
            port,
            instance_port,
            pubsub_port=pubsub_port,
            pubsub_min_ping_seconds=pubsub_min_ping_seconds,
        )
        super().__init__(self.emulator.login_url)
        self.emulator.start()

    @property
    def instance_url(self) -> str:
        return self.emulator.instance_url

    @property
    def client_id(self) -> str:
        return self.state.apps.default["client_id"]

    @property
    def pubsub_target(self) -> str:
        return self.emulator.pubsub_target

    @property
    def client_secret(self) -> str:
        return self.state.apps.default["client_secret"]

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_emulator(
    data: dict[str, Any] | str | Path | None = None,
    allow_loopback_callbacks: bool = True,
    host: str = "127.0.0.1",
    pubsub_port: int | None = 0,
    pubsub_min_ping_seconds: float = 300.0,
) -> Iterator[EmulatorServer]:
    server = EmulatorServer(
        data,
        allow_loopback_callbacks=allow_loopback_callbacks,
        host=host,
        pubsub_port=pubsub_port,
        pubsub_min_ping_seconds=pubsub_min_ping_seconds,
    )
    try:
        yield server
    finally:
        server.stop()


class SpawnedEmulator(EmulatorControl):
    """An emulator in a child process (``python -m salesforce_emulator``)."""

    def __init__(self, process: subprocess.Popen, login_url: str, output: Path) -> None:
        super().__init__(login_url)
        self.process = process
        self.output = output

    def terminate(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        with contextlib.suppress(OSError):
            self.output.unlink()

    stop = terminate

    def __enter__(self) -> SpawnedEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()


def spawn_emulator(
    data: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    instance_port: int | None = None,
    allow_loopback_callbacks: bool = True,
    latency: float | None = None,
    faults: list[str] | None = None,
    token_policy: dict[str, Any] | None = None,
    pubsub_port: int | None = 0,
    pubsub_keepalive: float | None = None,
    pubsub_min_ping_seconds: float | None = None,
    pubsub_idle_close: float | None = None,
    python: str | None = None,
    startup_timeout: float = 20.0,
) -> SpawnedEmulator:
    """Start ``python -m salesforce_emulator`` (free ports by default) and wait until it answers.

    ``token_policy`` overrides token policy keys for every app (``--token-policy``), kept across
    resets, e.g. ``{"session_timeout_seconds": 2}`` for a soak. ``pubsub_port`` (None: off)
    and ``pubsub_keepalive`` (seconds) start the Pub/Sub API listener.
    """
    fd, name = tempfile.mkstemp(prefix="sf-emulator-", suffix=".log")
    output = Path(name)
    cmd = [python or sys.executable, "-m", "salesforce_emulator", "--host", host]
    cmd += ["--port", str(port)]
    if instance_port is not None:
        cmd += ["--instance-port", str(instance_port)]
    if data is not None:
        cmd += ["--data", str(data)]
    if allow_loopback_callbacks:
        cmd.append("--allow-loopback-callbacks")
    if latency:
        cmd += ["--latency", str(latency)]
    for fault in faults or []:
        cmd += ["--fault", fault]
    if pubsub_port is not None:
        cmd += ["--pubsub-port", str(pubsub_port)]
    if pubsub_keepalive is not None:
        cmd += ["--pubsub-keepalive", str(pubsub_keepalive)]
    if pubsub_min_ping_seconds is not None:
        cmd += ["--pubsub-min-ping-interval", str(pubsub_min_ping_seconds)]
    if pubsub_idle_close is not None:
        cmd += ["--pubsub-idle-close", str(pubsub_idle_close)]
    for key, value in (token_policy or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        cmd += ["--token-policy", f"{key}={text}"]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        cmd, stdout=fd, stderr=subprocess.STDOUT, env=env
    )
    os.close(fd)
    deadline = time.monotonic() + startup_timeout
    login_url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited early:\n{output.read_text()}")
        match = re.search(r"login URL:\s+(\S+)", output.read_text())
        if match:
            login_url = match.group(1)
            try:
                requests.get(f"{login_url}/__emulator__/info", timeout=2).raise_for_status()
                return SpawnedEmulator(process, login_url, output)
            except requests.RequestException:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"emulator did not start in {startup_timeout}s:\n{output.read_text()}")


def consent(
    authorize_url: str,
    *,
    username: str,
    decision: str = "allow",
    http: requests.Session | None = None,
) -> str:
    """Sign in and answer the consent page as a browser would; return the redirect Location.

    ``authorize_url`` is the full ``/services/oauth2/authorize?...`` URL a client sent the person
    to. Tests, benchmarks and scripts share this instead of scraping the pages themselves.
    """
    http = http or requests.Session()
    page = http.get(authorize_url, timeout=10)
    if page.status_code != 200:
        raise AssertionError(f"authorize page answered {page.status_code}: {page.text[:300]}")
    match = re.search(r'name="pending" value="([^"]+)"', page.text)
    if match is None:
        raise AssertionError("the authorize page has no pending authorization")
    action = authorize_url.split("?", 1)[0]
    step = http.post(
        action,
        data={"pending": match.group(1), "step": "login", "username": username},
        timeout=10,
    )
    if "Allow Access?" not in step.text:
        raise AssertionError(f"no consent page after signing in as {username}")
    answer = http.post(
        action,
        data={"pending": match.group(1), "step": "consent", "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise AssertionError(f"consent answered {answer.status_code}: {answer.text[:300]}")
    return answer.headers["Location"]
