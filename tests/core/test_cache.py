"""Q2: the one outage-tolerant cache call, the one fixed-window counter and the one cache lock."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from core import cache as core_cache
from core.cache import CacheLock, cache_call, count_in_window


class _DownCache:
    """Every operation fails the way a cache client does when Redis is gone."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("cache down")

        return fail


@pytest.fixture
def cache_down(monkeypatch):
    monkeypatch.setattr(core_cache, "cache", _DownCache())


@pytest.mark.django_db
def test_q2_cache_call_answers_the_default_when_the_cache_is_down(cache_down, caplog):
    assert cache_call("get", "k", default="fallback") == "fallback"
    assert cache_call("add", "k", 1, 10, default=True) is True
    assert "Cache unavailable (add)" in caplog.text


@pytest.mark.django_db
def test_q2_cache_call_passes_calls_through():
    assert cache_call("add", "q2-key", "v", 30) is True
    assert cache_call("get", "q2-key") == "v"


@pytest.mark.django_db
def test_q2_count_in_window_counts_per_fixed_window():
    start = 1_000_000 * 60.0  # the start of a minute
    counts = [count_in_window("q2-rate:1", seconds=60, now=start + i).count for i in range(3)]
    assert counts == [1, 2, 3]
    assert count_in_window("q2-rate:2", seconds=60, now=start + 2).count == 1  # its own key
    nxt = count_in_window("q2-rate:1", seconds=60, now=start + 60)
    assert nxt == (1, 60.0)  # a new window starts again at one, a whole window left
    assert count_in_window("q2-rate:1", seconds=60, now=start + 59.5).seconds_left == 0.5


@pytest.mark.django_db
def test_q2_count_in_window_reports_an_outage_as_no_count(cache_down):
    assert count_in_window("q2-rate:1", seconds=60, now=120.0) == (None, 60.0)


@pytest.mark.django_db
def test_q2_cache_lock_has_one_holder_and_only_the_holder_releases_it():
    first, second = CacheLock("q2-lock", seconds=30), CacheLock("q2-lock", seconds=30)
    assert first.take() is True
    assert second.take() is False
    second.release()  # not the holder: nothing happens
    assert first.held() and cache.get("q2-lock") == first.owner
    first.release()
    assert cache.get("q2-lock") is None
    assert second.take() is True


@pytest.mark.django_db
def test_q2_cache_lock_renew_extends_the_owner_s_lease_only():
    lease = CacheLock("q2-lease", seconds=30, owner="listener-a")
    other = CacheLock("q2-lease", seconds=30, owner="listener-b")
    assert lease.renew() is True  # taken
    assert lease.renew() is True  # extended by its owner
    assert other.renew() is False
    assert cache.get("q2-lease") == "listener-a"


@pytest.mark.django_db
def test_q2_cache_lock_leaves_the_outage_decision_to_its_caller(cache_down):
    lock = CacheLock("q2-lock", seconds=30)
    assert lock.take(default=True) is True  # single-flight: lead alone
    assert lock.take(default=None) is None  # token refresh: fall back to the row lock
    assert lock.renew() is False  # a lease is never assumed
    lock.release()  # no error


@pytest.mark.django_db(transaction=True)
def test_q2_concurrent_writers_to_the_database_cache_all_land(settings):
    """The embedded stack's cache is a table in SQLite shared by threads and processes (web,
    worker, listener). Django's database cache writes inside a transaction that reads first; in
    SQLite's default (deferred) mode two such writers can deadlock, and one is refused at once
    ("database is locked", no busy wait), so a set was lost quietly: a lookup not cached, a
    Salesforce change mark dropped. Every set lands."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the SQLite stack's rule (Redis writes do not take table locks)")
    from tests.conftest import run_threads

    writers, each = 6, 40

    def write(i):
        for n in range(each):
            cache.set(f"q2-writer:{i}:{n}", n, 60)
        return True

    results, failures = run_threads(writers, write)
    assert failures == []
    keys = [f"q2-writer:{i}:{n}" for i in range(writers) for n in range(each)]
    assert len(cache.get_many(keys)) == writers * each
