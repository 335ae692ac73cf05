"""``python -m salesforce_emulator``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from . import policy
from .server import Emulator
from .state import DEMO_DATA, FAULT_KINDS, EmulatorError, State, load_data_file


def parse_fault(spec: str) -> tuple[str, object, str | None]:
    """``KIND[=VALUE][@ORG_ID_OR_USERNAME]`` -> (kind, value, scope)."""
    scope = None
    if "@" in spec and not spec.startswith("@"):
        kind_value, _, scope = spec.partition("@")
        # usernames contain "@": split on the first "@" after the kind/value part only
        if "=" not in kind_value and kind_value not in FAULT_KINDS:
            kind_value, scope = spec, None
    else:
        kind_value = spec
    kind, _, raw = kind_value.partition("=")
    value: object = True
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = raw
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
    return kind, value, scope


def parse_policy(spec: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); VALUE is JSON (true, 2, null) or else a plain string."""
    key, sep, raw = spec.partition("=")
    if not sep or key not in policy.DEFAULTS:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY one of {', '.join(sorted(policy.DEFAULTS))}"
        )
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m salesforce_emulator",
        description="A local, Salesforce-compatible OAuth + REST server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="login host port (0 = free port)")
    parser.add_argument(
        "--instance-port", type=int, default=None, help="instance host port (default port + 1)"
    )
    parser.add_argument("--data", default=str(DEMO_DATA), help="JSON data file")
    parser.add_argument("--allow-loopback-callbacks", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to REST calls")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=parse_fault,
        metavar="KIND[=VALUE][@ORG_ID|USERNAME]",
        help=f"switch a fault on (repeatable); kinds: {', '.join(sorted(FAULT_KINDS))}",
    )
    parser.add_argument(
        "--token-policy",
        action="append",
        default=[],
        type=parse_policy,
        metavar="KEY=VALUE",
        help="override a token policy key for every app (repeatable; kept across resets), e.g. "
        "session_timeout_seconds=2, refresh_token_rotation=false, "
        "refresh_token_policy=specific_inactivity:7:DAYS",
    )
    parser.add_argument(
        "--pubsub-port",
        type=int,
        default=None,
        help="run Salesforce's Pub/Sub API (gRPC, Change Data Capture) on this port (0 = free "
        "port; default: off)",
    )
    parser.add_argument(
        "--pubsub-keepalive",
        type=float,
        default=270.0,
        metavar="SECONDS",
        help="seconds without events before Subscribe sends an empty keepalive (Salesforce: 270)",
    )
    parser.add_argument(
        "--pubsub-min-ping-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="the gRPC server's ping policy: pings closer than this earn strikes, and after 2 "
        "the connection gets GOAWAY too_many_pings (gRPC's default: 300)",
    )
    parser.add_argument(
        "--pubsub-idle-close",
        type=float,
        default=70.0,
        metavar="SECONDS",
        help="close a Subscribe stream that has nothing requested for this long (Salesforce: ~70)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log each HTTP request")
    args = parser.parse_args(argv)

    state = State(load_data_file(args.data))
    if args.token_policy:
        state.startup_policy = dict(args.token_policy)
        try:
            state.reset()
        except EmulatorError as exc:
            parser.error(str(exc))
    state.allow_loopback_callbacks = args.allow_loopback_callbacks
    if args.pubsub_keepalive <= 0:
        parser.error("--pubsub-keepalive must be > 0")
    state.events.startup_keepalive_seconds = args.pubsub_keepalive
    if args.pubsub_idle_close <= 0 or args.pubsub_min_ping_interval <= 0:
        parser.error("--pubsub-idle-close and --pubsub-min-ping-interval must be > 0")
    state.events.startup_idle_close_seconds = args.pubsub_idle_close
    for kind, value, scope in args.fault:
        if scope is None:
            state.startup_faults.append((kind, value, None, None))
        elif scope in state.directory.orgs:
            state.startup_faults.append((kind, value, scope, None))
        else:
            user = state.directory.user_by_username(scope)
            if user is None:
                parser.error(f"--fault scope {scope!r} is neither an org id nor a username")
            state.startup_faults.append((kind, value, None, user["id"]))
    if args.latency:
        state.startup_faults.append(("latency", args.latency, None, None))
    state.reset()  # applies the startup faults; /__emulator__/reset returns to this state
    emulator = Emulator(
        state,
        args.host,
        args.port,
        args.instance_port,
        quiet=not args.log_requests,
        pubsub_port=args.pubsub_port,
        pubsub_min_ping_seconds=args.pubsub_min_ping_interval,
    ).start()
    print(f"Salesforce emulator login URL:    {emulator.login_url}", flush=True)
    print(f"Salesforce emulator instance URL: {emulator.instance_url}", flush=True)
    if emulator.pubsub_target:
        print(f"Salesforce emulator Pub/Sub API:  {emulator.pubsub_target}", flush=True)
    print(f"Connected App client_id: {state.apps.default['client_id']}", flush=True)
    print(f"Token policy: {json.dumps(state.apps.default['token_policy'])}", flush=True)

    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop.wait(0.5):
        pass
    emulator.stop()
    print("Salesforce emulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
