"""Schemathesis against the manager's own OpenAPI spec: a bounded number of generated
requests per operation; no 5xx, and every response matches the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tashi.api.app import create_app
from tashi.common.clock import SystemClock
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.store.sql import open_store

TOKEN: dict[str, str] = {}
#: No 5xx, and every answer as the spec says. (Not "positive data accepted": a
#: schema-valid request may name an image that does not exist, and gets a 400.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("fuzz")
    store = open_store(f"sqlite:///{root}/tashi.db")
    token = ensure_admin(store)
    assert token
    TOKEN["admin"] = token
    ensure_default_network(store)
    core = ManagerCore.build(store, SystemClock(), image_dir=root / "images",
                             heartbeat_timeout_s=30, join_token="join-me", max_wait_s=0.01)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(core))


def test_api_conforms(api_schema: Any) -> None:
    """Every operation, a bounded number of cases each (schemathesis's own pytest
    plugin does not run under this pytest, so operations are walked here)."""
    headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect, so one run reports every bad operation
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
