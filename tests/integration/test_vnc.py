"""VNC and screenshots, end to end on the fake driver: API -> display record -> the
agent's desired state -> driver -> the agent's answer -> the caller; and the display
record in every store."""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tashi.agent.drivers.fake import SCREEN, FakeDriver
from tashi.api.limits import MAX_BODY_BYTES
from tashi.api.schemas import MAX_ID, InstanceCreate
from tashi.api.schemas.displays import MAX_PNG_BASE64
from tashi.common.secrets import hash_token
from tashi.domain.displays import (
    MAX_SCREENSHOT_BYTES,
    PNG_SIGNATURE,
    VNC_PASSWORD_CHARS,
    Display,
    rgb_png,
)
from tashi.domain.errors import (
    DriverError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Unavailable,
)
from tashi.manager.displays import DisplayService
from tashi.store.base import Store
from tests.integration.conftest import Rig, raw_client
from tests.integration.test_store_contract import STORES, new_instance, opened


class NoDisplayDriver(FakeDriver):
    """A driver without the optional Vnc protocol."""

    open_vnc = None  # type: ignore[assignment]
    close_vnc = None  # type: ignore[assignment]
    screenshot = None  # type: ignore[assignment]


class BrokenScreenDriver(FakeDriver):
    async def screenshot(self, instance_id: int) -> bytes:
        raise DriverError(f"instance {instance_id}: QMP screendump: no surface")


async def running(rig: Rig, name: str = "web") -> int:
    inst = await rig.admin.create_instance(InstanceCreate(name=name, image="guest"))
    await rig.wait_for(inst.id, "Running")
    return inst.id


def png_dimensions(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def test_vnc_opens_with_a_fresh_password_each_time_shown_only_to_its_caller(
        scheduled: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    first = await scheduled.admin.open_vnc("web")
    assert (first.id, first.name, first.host, first.port) == (iid, "web", "127.0.0.1",
                                                             5900 + iid)
    assert len(first.password) == VNC_PASSWORD_CHARS
    assert first.password.isalnum()
    assert driver.vnc[iid][1] == first.password
    second = await scheduled.admin.open_vnc(iid)
    assert second.password != first.password
    assert driver.vnc[iid] == (driver.vnc[iid][0], second.password)  # the old one is gone
    shown = [(await scheduled.admin.get_instance(iid)).model_dump_json(),
             *(i.model_dump_json() for i in await scheduled.admin.list_instances()),
             *(e.model_dump_json() for e in await scheduled.admin.list_events()),
             repr(scheduled.core.store.get_display(iid)),
             repr(scheduled.core.reports.desired("h1")), caplog.text]
    for password in (first.password, second.password):
        assert not any(password in text for text in shown)
    assert scheduled.core.store.get_display(iid).vnc_password == ""  # blanked once answered
    assert "VNC request 2 on host h1 listening on 127.0.0.1" in caplog.text


async def test_vnc_stop_closes_the_server(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.open_vnc("web")
    assert iid in driver.vnc
    await scheduled.admin.close_vnc("web")
    assert iid not in driver.vnc
    await scheduled.admin.close_vnc("web")  # none runs: done all the same
    assert scheduled.core.reports.desired("h1")[0].display is None  # nothing left to do


async def test_a_screenshot_is_a_png_of_the_display(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    png = await scheduled.admin.screenshot("web")
    assert png_dimensions(png) == SCREEN
    again = await scheduled.admin.screenshot(iid)
    assert again == png
    assert scheduled.core.store.get_screenshot(iid).number == 2  # type: ignore[union-attr]


async def test_display_calls_on_an_instance_not_running_are_409_naming_it(
        scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.operate_instance(iid, "pause")
    await scheduled.wait_for(iid, "Paused")
    with pytest.raises(InvalidTransition, match=r"^cannot vnc web: it is Paused; vnc needs "
                                                "Running$"):
        await scheduled.admin.open_vnc("web")
    with pytest.raises(InvalidTransition, match=r"^cannot screenshot web: it is Paused; "
                                                "screenshot needs Running$"):
        await scheduled.admin.screenshot("web")
    await scheduled.admin.close_vnc("web")  # a paused VM's server can still be closed
    await scheduled.admin.shutdown_instance(iid)
    await scheduled.wait_for(iid, "Exited")
    with pytest.raises(InvalidTransition, match="cannot vnc --stop web: it is Exited"):
        await scheduled.admin.close_vnc("web")
    async with raw_client(base_url=scheduled.url) as raw:
        resp = await raw.post(f"/api/v1/instances/{iid}/vnc",
                              headers={"Authorization": f"Bearer {scheduled.admin_token}"})
    assert resp.status_code == 409
    assert resp.json()["message"] == "cannot vnc web: it is Exited; vnc needs Running"


async def test_a_pending_instance_has_no_display(rig: Rig) -> None:
    inst = await rig.admin.create_instance(InstanceCreate(name="web", image="guest"))
    with pytest.raises(InvalidTransition, match="cannot vnc web: it is Pending"):
        await rig.admin.open_vnc(inst.id)


async def test_a_host_without_a_display_driver_refuses(scheduled: Rig) -> None:
    await scheduled.add_host("h1", NoDisplayDriver())
    await running(scheduled)
    with pytest.raises(InvalidTransition,
                       match=r"cannot vnc web: host h1 cannot \(its fake driver has no display"):
        await scheduled.admin.open_vnc("web")


async def test_a_driver_failure_reaches_the_caller(scheduled: Rig) -> None:
    await scheduled.add_host("h1", BrokenScreenDriver())
    await running(scheduled)
    with pytest.raises(DriverError, match="cannot take a screenshot of web: host h1: "
                                          "instance 1: QMP screendump: no surface"):
        await scheduled.admin.screenshot("web")


async def test_a_request_made_while_the_agent_is_down_is_done_when_it_is_back(
        scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.stop_agent("h1")
    asked = asyncio.create_task(scheduled.admin.open_vnc("web"))
    store = scheduled.core.store
    while store.get_display(iid).vnc_asked < 1:  # the request is in the record
        assert not asked.done(), asked
        await asyncio.sleep(0.02)
    assert iid not in driver.vnc
    await scheduled.start_agent("h1")  # a new agent: it learns the request from the manager
    session = await asked
    assert driver.vnc[iid] == (session_endpoint := driver.vnc[iid][0], session.password)
    assert session_endpoint.port == session.port


async def test_no_answer_in_time_is_503_and_the_request_is_withdrawn(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.stop_agent("h1")
    store = scheduled.core.store
    quick = DisplayService(store, scheduled.core.notifier, scheduled.core.instances,
                           wait_s=0.3)
    admin = store.principal_for_token(hash_token(scheduled.admin_token), datetime.now(UTC))
    assert admin is not None
    with pytest.raises(Unavailable, match=r"^instance web: host h1 did not answer VNC request "
                                          r"1 within 0\.3 s$"):
        await quick.open_vnc(admin, "web")
    left = store.get_display(iid)
    assert (left.vnc_asked, left.vnc_open, left.vnc_password) == (2, False, "")
    pending = scheduled.core.reports.desired("h1")[0].display
    assert pending is not None
    assert (pending.vnc, pending.vnc_open) == (2, False)


async def test_agents_answers_are_checked(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.screenshot("web")
    url = f"/api/v1/agent/hosts/h1/instances/{iid}/screenshot"
    headers = {"Authorization": f"Bearer {scheduled.tokens['h1']}"}
    tiny = rgb_png(2, 2, b"\0" * 12)
    async with raw_client(base_url=scheduled.url, headers=headers) as raw:
        never = await raw.post(url, json={"request": 7, "png_base64": _b64(tiny)})
        assert never.status_code == 400
        assert never.json()["message"] == ("instance 1 (web): screenshot 7 was never asked "
                                           "(the last one is 1)")
        repeat = await raw.post(url, json={"request": 1, "png_base64": _b64(tiny)})
        assert (repeat.status_code, repeat.json()) == (200, {"kept": False})
        scheduled.core.store.ask_screenshot(iid)
        not_png = await raw.post(url, json={"request": 2, "png_base64": _b64(b"GIF89a...")})
        assert not_png.status_code == 400
        assert "the screenshot of instance 1 (web): not a PNG image" in not_png.json()["message"]
        bad = await raw.post(url, json={"request": 2, "png_base64": "%%%"})
        assert bad.status_code == 400
        assert "is not base64" in bad.json()["message"]
        too_big = await raw.post(url, json={"request": 2, "png_base64": "A" * (
            MAX_PNG_BASE64 + 4)})
        assert too_big.status_code in (413, 422)
        wrong = await raw.post(f"/api/v1/agent/hosts/h1/instances/{MAX_ID}/vnc",
                               json={"request": 1, "port": 5900})
        assert wrong.status_code == 404
    assert MAX_PNG_BASE64 + 200 < MAX_BODY_BYTES  # the biggest screenshot fits a body


def test_png_limits_say_so() -> None:
    from tashi.domain.displays import png_size

    with pytest.raises(InvalidInput, match=f"more than the limit of {MAX_SCREENSHOT_BYTES}"):
        png_size(PNG_SIGNATURE + b"\0" * MAX_SCREENSHOT_BYTES, "a screenshot of web")
    assert png_size(rgb_png(3, 2, b"\1" * 18), "x") == (3, 2)
    with pytest.raises(ValueError, match="18 bytes of pixels for 2x2 RGB, not 12"):
        rgb_png(2, 2, b"\1" * 18)


# --- the display record in every store --------------------------------------------------

@pytest.fixture(params=sorted(STORES))
def display_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        yield store


def test_display_requests_are_counted_answered_and_go_with_the_instance(
        display_store: Store) -> None:
    store = display_store
    inst = new_instance(store)
    assert store.get_display(inst.id) == Display()
    assert store.pending_displays([inst.id]) == {}
    assert store.ask_vnc(inst.id, open_it=True, password="s3cretpw") == 1
    assert store.ask_screenshot(inst.id) == 1
    pending = store.pending_displays([inst.id, 999])[inst.id]
    assert (pending.vnc, pending.vnc_open, pending.vnc_password, pending.screenshot) == (
        1, True, "s3cretpw", 1)
    assert "s3cretpw" not in repr(pending) + repr(store.get_display(inst.id))
    assert store.answer_vnc(inst.id, 1, host="10.0.0.1", port=5901, error="")
    assert not store.answer_vnc(inst.id, 1, host="10.0.0.1", port=5901, error="")  # a repeat
    with pytest.raises(InvalidInput, match="VNC request 2 was never asked"):
        store.answer_vnc(inst.id, 2, host="", port=0, error="")
    d = store.get_display(inst.id)
    assert (d.vnc_done, d.vnc_host, d.vnc_port, d.vnc_password) == (1, "10.0.0.1", 5901, "")
    png = rgb_png(2, 1, b"\1\2\3\4\5\6")
    assert store.answer_screenshot(inst.id, 1, png=(png, 2, 1), error="")
    shot = store.get_screenshot(inst.id)
    assert shot is not None
    assert (shot.number, shot.png, shot.width, shot.height) == (
        1, png, 2, 1)
    assert shot.taken_at.utcoffset() is not None
    assert store.pending_displays([inst.id]) == {}
    assert store.ask_screenshot(inst.id) == 2
    assert list(store.pending_displays([inst.id])) == [inst.id]
    store.delete_instance(inst.id, generation=inst.generation)
    assert store.pending_displays([inst.id]) == {}  # its rows went with it
    with pytest.raises(NotFound):
        store.get_screenshot(inst.id)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
