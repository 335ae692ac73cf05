"""Q2: the polling workers' one loop (ops/worker.py), used by `deliver_webhooks` and
`route_conversations`; their own tests drive it through the commands (tests/api/test_webhooks.py,
tests/integrations/salesforce/test_owner_routing.py, tests/ops/test_health.py)."""

from __future__ import annotations

import logging
import signal

import pytest

from ops import worker

log = logging.getLogger("tests.worker")


@pytest.fixture
def handlers(monkeypatch):
    """The signal handlers the loop installs, kept here instead of in the test process."""
    installed: dict[int, object] = {}
    monkeypatch.setattr(
        signal, "signal", lambda signum, handler: installed.__setitem__(signum, handler)
    )
    return installed


def test_q2_once_runs_rounds_until_one_finds_nothing(handlers):
    answers = iter([3, 1, 0, 7])
    worker.run_rounds(lambda: next(answers), once=True, poll=0, logger=log, failed="failed")
    assert next(answers) == 7  # the round after the idle one never ran


def test_q2_a_failed_round_is_logged_and_retried_until_a_signal_stops_the_worker(handlers, caplog):
    calls = []

    def do_round():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            handlers[signal.SIGTERM](signal.SIGTERM, None)  # the orchestrator stops it
        return 1

    with caplog.at_level(logging.ERROR, logger="tests.worker"):
        worker.run_rounds(do_round, once=False, poll=0, logger=log, failed="Round failed")
    assert len(calls) == 3  # the round in progress finished, no other started
    assert [r.getMessage() for r in caplog.records] == ["Round failed"]
    assert set(handlers) == {signal.SIGTERM, signal.SIGINT}


def test_q2_with_once_a_failed_round_is_raised(handlers):
    def do_round():
        raise RuntimeError("bug in one row")

    with pytest.raises(RuntimeError):
        worker.run_rounds(do_round, once=True, poll=0, logger=log, failed="failed")


def test_q2_the_worker_beats_its_heartbeat_every_round(handlers, monkeypatch):
    beats = []
    monkeypatch.setattr(worker.heartbeat, "beat", beats.append)
    answers = iter([1, 0])
    worker.run_rounds(
        lambda: next(answers), once=True, poll=0, logger=log, failed="f", heartbeat_kind="worker"
    )
    assert beats == ["worker", "worker"]
