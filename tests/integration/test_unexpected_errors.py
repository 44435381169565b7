"""An unexpected failure in the manager (issue 14): answered 500 with a JSON reason,
logged once, and the keep-alive connection stays usable (it was reset after each 500,
which the client took for an unreachable manager)."""

from __future__ import annotations

import logging

import pytest

from tashi.domain.models import Principal
from tashi.manager.instances import InstanceRequest
from tests.integration.conftest import Rig, raw_client


async def test_a_500_leaves_the_connection_usable_and_is_logged_once(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(principal: Principal, req: InstanceRequest) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rig.core.instances, "create", broken)
    body = {"name": "web", "image": "guest"}
    with caplog.at_level(logging.ERROR):
        async with raw_client(rig.url, headers={
                "Authorization": f"Bearer {rig.admin_token}"}) as http:
            answers = [await http.post("/api/v1/instances", json=body) for _ in range(4)]
            after = await http.get("/api/v1/instances")  # the same connection, still fine
    assert [a.status_code for a in answers] == [500] * 4
    assert answers[0].json() == {"error": "internal",
                                 "message": "internal error; see the manager's log"}
    assert after.status_code == 200
    failures = [r for r in caplog.records if "POST /api/v1/instances failed" in r.message]
    assert len(failures) == 4, [r.message for r in caplog.records]  # once each
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR
                and r not in failures], [r.message for r in caplog.records]
