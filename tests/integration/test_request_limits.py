"""Hardening: bodies too large for their route are refused before they are read."""

from __future__ import annotations

import httpx

from tests.integration.conftest import Rig, raw_client


async def test_oversized_json_is_refused_with_413(rig: Rig) -> None:
    huge = {"name": "x", "image": "guest", "networks": ["a" * 60] * 20_000}
    async with raw_client(base_url=rig.url, headers={
            "Authorization": f"Bearer {rig.admin_token}"}) as raw:
        resp = await raw.post("/api/v1/instances", json=huge)
        assert resp.status_code == 413
        assert resp.json()["error"] == "too_large"

        async def chunks() -> httpx.AsyncByteStream:  # type: ignore[misc]
            for _ in range(40):
                yield b" " * 65536  # 2.5 MiB, no Content-Length

        resp = await raw.post("/api/v1/instances", content=chunks(),
                              headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
    assert await rig.admin.list_instances() == []


async def test_normal_requests_and_image_uploads_pass(rig: Rig) -> None:
    async with raw_client(base_url=rig.url, headers={
            "Authorization": f"Bearer {rig.admin_token}"}) as raw:
        resp = await raw.put("/api/v1/images/big.raw", content=b"\0" * (3 * 1024 * 1024))
        assert resp.status_code == 201, resp.text
        resp = await raw.post("/api/v1/instances", json={"name": "ok", "image": "big.raw"})
        assert resp.status_code == 201, resp.text
