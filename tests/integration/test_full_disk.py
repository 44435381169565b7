"""A full disk under the store (issue 14): a tmpfs of 8 MiB holds the sqlite store, and
a file fills it. Writes are answered 507 naming the cause (not 500 "internal error"),
reads go on, /healthz says degraded and why, a metric counts it; once space frees, the
next write works, by itself. Needs root (mount)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import add_guest_image, raw_client, start_rig, stop_rig


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: it needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """A file taking every free byte of ``path``'s filesystem."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:  # no space left
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_is_answered_507_and_the_store_recovers(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "8m") as root:
        rig, server, serving = await start_rig(root, store_url=f"sqlite:///{root}/tashi.db")
        try:
            add_guest_image(rig)
            async with raw_client(rig.url, headers={
                    "Authorization": f"Bearer {rig.admin_token}"}) as http:
                first = await http.post("/api/v1/instances", json={"name": "a",
                                                                   "image": "guest"})
                assert first.status_code == 201, first.text
                filler = fill(root)
                refused = []
                for n in range(20):  # sqlite may have room in its file for a few rows
                    answer = await http.post("/api/v1/instances",
                                             json={"name": f"b{n}", "image": "guest"})
                    if answer.status_code != 201:
                        refused.append(answer)
                        break
                assert refused, "a full disk never refused a write"
                assert refused[0].status_code == 507, refused[0].text
                assert refused[0].json()["error"] == "store_full"
                assert "disk is full" in refused[0].json()["message"]
                listed = await http.get("/api/v1/instances")  # reads go on
                assert listed.status_code == 200
                assert "a" in [i["name"] for i in listed.json()]
                health = (await http.get("/healthz")).json()
                assert health["status"] == "degraded"
                assert "disk is full" in health["store"]
                scraped = (await http.get("/metrics")).text
                assert 'tashi_manager_store_failures_total{kind="full"}' in scraped
                filler.unlink()
                again = await http.post("/api/v1/instances", json={"name": "c",
                                                                   "image": "guest"})
                assert again.status_code == 201, again.text
        finally:
            await stop_rig(rig, server, serving)
