"""Everyday operations over a real cluster (manager, scheduler, agents on the fake
driver): ``tashi vm destroy --force`` for an instance whose host went silent, an agent
that says which VMs it re-adopted, and the manager's front page and offline docs."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from tashi.domain.errors import Conflict, Forbidden
from tests.integration.conftest import Rig, raw_client
from tests.integration.test_cluster_lifecycle import vm


async def test_force_destroy_of_an_instance_on_a_silent_host(scheduled: Rig) -> None:
    """Before --force, an instance destroyed while its host was gone stayed Destroying
    for ever: no agent was left to report its VM killed."""
    await scheduled.add_host("h1")
    await scheduled.admin.create_instance(vm("stuck"))
    await scheduled.wait_for("stuck", "Running")
    alice = scheduled.client((await scheduled.admin.add_user("alice", "user")).token)
    with pytest.raises(Conflict, match="host h1 is up"):  # its agent would do it: no force
        await scheduled.admin.destroy_instance("stuck", force=True)
    await scheduled.stop_agent("h1")
    await scheduled.wait_for("stuck", "Orphaned", timeout_s=5)
    asked = await scheduled.admin.destroy_instance("stuck")
    assert not asked.deleted  # Destroying, waiting for an agent that is not there
    await asyncio.sleep(0.5)
    assert (await scheduled.admin.get_instance("stuck")).state == "Destroying"
    with pytest.raises(Forbidden):  # admins only, even for their own instances
        await alice.destroy_instance("stuck", force=True)
    forced = await scheduled.admin.destroy_instance("stuck", force=True)
    assert (forced.id, forced.name, forced.deleted) == (asked.id, "stuck", True)
    await scheduled.wait_gone(asked.id)
    (event,) = await scheduled.admin.list_events(instance=str(asked.id),
                                                 kind="instance.deleted")
    assert event.actor == "user admin"
    assert "forced by user admin (host h1 is silent" in event.message


async def test_an_agent_logs_the_vms_it_re_adopts(scheduled: Rig,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("kept"))
    await scheduled.wait_for("kept", "Running")
    await scheduled.stop_agent("h1")
    caplog.set_level(logging.INFO, logger="tashi.agent.reconciler")
    caplog.clear()
    await scheduled.start_agent("h1")  # a new agent, the VM still running: re-adopted
    for _ in range(100):
        if "re-adopted" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert (f"instance {inst.id} (kept): its VM from before this agent started is "
            "running: re-adopted") in caplog.text
    assert driver.starts == 1  # taken over, not started again


async def test_the_front_page_says_where_to_go(rig: Rig) -> None:
    async with raw_client(base_url=rig.url) as raw:
        page = await raw.get("/")
        links = await raw.get("/", headers={"Accept": "application/json"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    hrefs = re.findall(r'href="([^"]+)"', page.text)
    assert hrefs == ["/api/v1", "/docs", "/openapi.json", "/healthz"]
    assert "dashboard" in page.text
    assert links.json()["docs"] == "/docs"
    assert links.json()["api"] == "/api/v1"


async def test_the_docs_work_offline(rig: Rig) -> None:
    """Swagger UI's files come from the manager (the swagger-ui-bundle package), so the
    docs work where the browser cannot reach a CDN."""
    async with raw_client(base_url=rig.url) as raw:
        docs = await raw.get("/docs")
        assert docs.status_code == 200
        assert "cdn." not in docs.text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *['"]([^'"]+)['"]""",
                          docs.text)
        wanted = {u for pair in urls for u in pair if u}
        assert not {u for u in wanted if "://" in u}  # nothing from elsewhere
        assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                "/openapi.json"} <= wanted
        for url in wanted:
            got = await raw.get(url)
            assert got.status_code == 200, url
        script = await raw.get("/docs/assets/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in script.text
