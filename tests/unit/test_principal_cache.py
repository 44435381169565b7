"""The store's cache of token answers: short-lived, bounded by the token's expiry, and
never keeping an answer read before a change to tokens or users."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tashi.domain.models import Principal
from tashi.store.principals import PrincipalCache

AGENT = Principal(host="node1")


def test_an_answer_is_kept_for_its_ttl() -> None:
    cache = PrincipalCache(ttl_s=0.05)
    now = datetime.now(UTC)
    assert cache.get("h", now) is None
    cache.put("h", AGENT, None, cache.epoch)
    assert cache.get("h", now) is AGENT
    time.sleep(0.06)
    assert cache.get("h", now) is None


def test_never_past_the_tokens_expiry() -> None:
    cache = PrincipalCache(ttl_s=60)
    now = datetime.now(UTC)
    cache.put("h", AGENT, now + timedelta(seconds=1), cache.epoch)
    assert cache.get("h", now) is AGENT
    assert cache.get("h", now + timedelta(seconds=1)) is None


def test_clear_drops_answers_and_refuses_those_read_before_it() -> None:
    cache = PrincipalCache(ttl_s=60)
    now = datetime.now(UTC)
    cache.put("h", AGENT, None, cache.epoch)
    read_at = cache.epoch  # a lookup starts reading the store...
    cache.clear()  # ...a token is revoked meanwhile...
    assert cache.get("h", now) is None
    cache.put("h2", AGENT, None, read_at)  # ...so what it read is not kept
    assert cache.get("h2", now) is None
    cache.put("h2", AGENT, None, cache.epoch)
    assert cache.get("h2", now) is AGENT
