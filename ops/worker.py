"""The polling workers' one loop (`deliver_webhooks`, `route_conversations`) and their stop signal.

A worker calls its round again at once while the round found work, waits ``poll`` seconds when
it found none, and stops after the round in progress on SIGTERM or Ctrl-C. A round that fails
(a database outage, a bug in one row) is logged and retried after the wait; with ``once`` the
worker runs rounds until one finds nothing to do, and a failure is raised.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from django.db import close_old_connections

from . import heartbeat


def on_stop_signal(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM (the orchestrator) or SIGINT (Ctrl-C)."""

    def _handler(signum, frame):
        stop()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def run_rounds(
    do_round: Callable[[], int],
    *,
    once: bool,
    poll: float,
    logger: logging.Logger,
    failed: str,
    heartbeat_kind: str | None = None,
) -> None:
    """Run ``do_round`` (returns how much it did) until stopped; ``failed`` is the log line of a
    failed round. ``heartbeat_kind`` beats before every round (V1: `manage.py probe <kind>`)."""
    stopped = threading.Event()
    on_stop_signal(stopped.set)
    while not stopped.is_set():
        if heartbeat_kind:
            heartbeat.beat(heartbeat_kind)
        close_old_connections()
        done = _round(do_round, once=once, logger=logger, failed=failed)
        if done:
            continue
        if once:
            break
        stopped.wait(poll)
    close_old_connections()


def _round(do_round: Callable[[], int], *, once: bool, logger: logging.Logger, failed: str) -> int:
    try:
        return do_round()
    except Exception:
        logger.exception(failed)
        if once:
            raise
        return 0
