"""Image import and delete over HTTP: what is refused, and that the catalogue and the
image directory stay one file per record through duplicates, races and crashes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tashi.api.schemas import InstanceCreate
from tashi.common import qemu_img as qemu_img_module
from tashi.common.filelock import hold, locked
from tashi.common.qemu_img import QemuImgError, image_info, run_qemu_img
from tashi.manager.images import ImageService
from tests.integration.conftest import Rig


@asynccontextmanager
async def http(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{rig.url}/api/v1", timeout=30, headers={
            "Authorization": f"Bearer {rig.admin_token}"}) as client:
        yield client


def qemu_img(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def entries(directory: Path) -> list[str]:
    """The image directory's files (``OWNER/NAME`` in owners' directories); its lock
    directory, if any, must be empty."""
    locks = directory / ".locks"
    assert not locks.exists() or list(locks.iterdir()) == []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() and locks not in p.parents)


def tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.name.startswith("tashi.db")}


async def listed(client: httpx.AsyncClient) -> list[str]:
    resp = await client.get("/images")
    assert resp.status_code == 200, resp.text
    return sorted(i["name"] for i in resp.json())


@pytest.mark.parametrize(("raw_data", "header_check"),
                         [("on", True), ("off", True), ("on", False)])
async def test_qcow2_with_an_external_data_file_is_refused(
        rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw_data: str,
        header_check: bool) -> None:
    host_file = tmp_path / "host-secret"
    image = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={host_file},data_file_raw={raw_data}",
             image, "1M")
    host_file.write_bytes(b"secret" * 1000)
    if not header_check:  # then qemu-img's own report must be enough
        monkeypatch.setattr(qemu_img_module, "_check_header", lambda head, argv: None)
        assert (await image_info(image)).data_file == str(host_file)
    async with http(rig) as client:
        resp = await client.put("/images/evil.qcow2", content=image.read_bytes())
        assert resp.status_code == 400, resp.text
        assert "'evil.qcow2' has an external data file" in resp.json()["message"]
        assert await listed(client) == ["guest"]
    assert entries(rig.image_dir) == ["guest"]
    assert host_file.read_bytes() == b"secret" * 1000


async def test_qcow2_with_a_backing_file_is_refused(rig: Rig, tmp_path: Path) -> None:
    image = tmp_path / "child.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", image)
    async with http(rig) as client:
        resp = await client.put("/images/child.qcow2", content=image.read_bytes())
        assert resp.status_code == 400, resp.text
        assert "'child.qcow2' has a backing file" in resp.json()["message"]
        assert await listed(client) == ["guest"]
    assert entries(rig.image_dir) == ["guest"]


async def test_junk_and_unsupported_formats_are_refused(rig: Rig, tmp_path: Path) -> None:
    vmdk = tmp_path / "disk.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", vmdk, "1M")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # qemu-img would hang opening it as an extent
    descriptor = (f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                  f'createType="monolithicFlat"\n\nRW 2048 FLAT "{fifo}" 0\n').encode()
    truncated_qcow2 = b"QFI\xfb\0\0\0\3" + b"\0" * 200
    cases = [
        ("junk.qcow2", truncated_qcow2, "'junk.qcow2' is not a readable disk image"),
        ("disk.vmdk", vmdk.read_bytes(), "'disk.vmdk' is in the unsupported format 'vmdk'"),
        ("desc.vmdk", descriptor, "'desc.vmdk' is a VMDK descriptor"),
        ("nothing.raw", b"", "'nothing.raw' is empty (0 bytes): not a disk image"),
    ]
    async with http(rig) as client:
        for name, content, message in cases:
            started = time.monotonic()
            resp = await client.put(f"/images/{name}", content=content)
            assert resp.status_code == 400, resp.text
            assert message in resp.json()["message"]
            assert time.monotonic() - started < 10
        assert await listed(client) == ["guest"]
    assert entries(rig.image_dir) == ["guest"]


async def test_a_method_not_allowed_says_which_are(rig: Rig) -> None:
    async with http(rig) as client:
        resp = await client.patch("/images/guest")
    assert resp.status_code == 405, resp.text
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PUT", "DELETE"}
    assert resp.json()["error"] == "http_error"


async def test_a_duplicate_name_is_a_conflict_and_the_first_image_stays(rig: Rig) -> None:
    first, second = os.urandom(64 * 1024), os.urandom(32 * 1024)
    async with http(rig) as client:
        assert (await client.put("/images/dup.raw", content=first)).status_code == 201
        resp = await client.put("/images/dup.raw", content=second)
        assert resp.status_code == 409, resp.text
        assert "image 'dup.raw' already exists" in resp.json()["message"]
        record = (await client.get("/images/dup.raw")).json()
    assert (rig.image_dir / "admin" / "dup.raw").read_bytes() == first
    assert record["virtual_size_bytes"] == len(first)
    assert entries(rig.image_dir) == ["admin/dup.raw", "guest"]


async def test_a_stray_file_without_a_record_does_not_block_an_upload(rig: Rig) -> None:
    (rig.image_dir / "admin").mkdir()
    (rig.image_dir / "admin" / "stray.raw").write_bytes(b"left by a crash" * 100)
    content = os.urandom(16 * 1024)
    async with http(rig) as client:
        resp = await client.put("/images/stray.raw", content=content)
        assert resp.status_code == 201, resp.text
        assert await listed(client) == ["admin/stray.raw", "guest"]
    assert (rig.image_dir / "admin" / "stray.raw").read_bytes() == content


@pytest.mark.parametrize("name", ["..%2Fx", "a;b", ".hidden", "a..b", "%2E%2E", "x%00"])
async def test_names_with_path_characters_are_refused(rig: Rig, tmp_path: Path,
                                                      name: str) -> None:
    before = tree(tmp_path)
    async with http(rig) as client:
        resp = await client.put(f"/images/{name}", content=b"\0" * 1024)
        assert 400 <= resp.status_code < 500, resp.text
        assert await listed(client) == ["guest"]
    assert tree(tmp_path) == before


async def test_failed_and_aborted_uploads_leave_no_temporary_file(rig: Rig) -> None:
    async def aborted() -> AsyncIterator[bytes]:
        yield b"\0" * 65536
        await asyncio.sleep(0.2)
        raise RuntimeError("client gave up")

    async with http(rig) as client:
        resp = await client.put("/images/bad.qcow2", content=b"QFI\xfb\0\0\0\3junk")
        assert resp.status_code == 400
        assert entries(rig.image_dir) == ["guest"]
        with pytest.raises(RuntimeError, match="client gave up"):
            await client.put("/images/aborted.raw", content=aborted())
    deadline = time.monotonic() + 5
    while entries(rig.image_dir) != ["guest"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert entries(rig.image_dir) == ["guest"]


async def test_a_failed_insert_removes_the_file(rig: Rig,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(rig.core.store, "create_image", broken)
    async with http(rig) as client:
        resp = await client.put("/images/lost.raw", content=b"\0" * 4096)
        assert resp.status_code == 500
    assert entries(rig.image_dir) == ["guest"]


def test_stale_upload_temporaries_are_removed_at_start(rig: Rig) -> None:
    stale, young, held = (rig.image_dir / f".upload-{n}" for n in ("stale", "young", "held"))
    for path in (stale, young, held):
        path.write_bytes(b"partial")
    for path in (stale, held):
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fd = os.open(held, os.O_RDONLY)
    try:
        hold(fd)  # an upload still running, in some process
        ImageService(rig.core.store, rig.image_dir)
        assert entries(rig.image_dir) == [".upload-held", ".upload-young", "guest"]
    finally:
        os.close(fd)


async def test_concurrent_uploads_of_one_name_leave_one_image_whose_file_matches(
        rig: Rig) -> None:
    payloads = [os.urandom(256 * 1024 + 4096 * i) for i in range(4)]

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(data), 65536):
            yield data[at:at + 65536]
            await asyncio.sleep(0)

    async with http(rig) as client:
        answers = await asyncio.gather(*(client.put("/images/race.raw", content=chunked(p))
                                         for p in payloads))
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409], [r.text for r in answers]
        winner = payloads[[r.status_code for r in answers].index(201)]
        record = (await client.get("/images/race.raw")).json()
        assert await listed(client) == ["admin/race.raw", "guest"]
    on_disk = (rig.image_dir / "admin" / "race.raw").read_bytes()
    assert hashlib.sha256(on_disk).digest() == hashlib.sha256(winner).digest()
    assert record["virtual_size_bytes"] == len(winner)
    assert entries(rig.image_dir) == ["admin/race.raw", "guest"]


async def test_an_image_in_use_cannot_be_deleted(rig: Rig) -> None:
    await rig.admin.create_instance(InstanceCreate(name="user-of-guest", image="guest"))
    async with http(rig) as client:
        resp = await client.delete("/images/guest")
        assert resp.status_code == 409, resp.text
        assert "image 'guest' is used by instance 'user-of-guest'" in resp.json()["message"]
        assert await listed(client) == ["guest"]
    assert (rig.image_dir / "guest").exists()


async def test_delete_removes_record_file_and_lock_and_the_name_is_reusable(rig: Rig) -> None:
    async with http(rig) as client:
        assert (await client.put("/images/temp.raw", content=b"\1" * 4096)).status_code == 201
        assert (await client.delete("/images/temp.raw")).status_code == 204
        assert (await client.delete("/images/temp.raw")).status_code == 404
        assert entries(rig.image_dir) == ["guest"]
        assert (await client.put("/images/temp.raw", content=b"\2" * 4096)).status_code == 201
    assert (rig.image_dir / "admin" / "temp.raw").read_bytes() == b"\2" * 4096


def test_the_name_lock_holds_across_processes(tmp_path: Path) -> None:
    lock = tmp_path / ".locks" / "x.lock"
    script = ("import sys, time; from pathlib import Path; "
              "from tashi.common.filelock import locked\n"
              "with locked(Path(sys.argv[1])): print(time.monotonic(), flush=True)")
    with locked(lock):
        child = subprocess.Popen([sys.executable, "-c", script, str(lock)],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert child.poll() is None  # still waiting for the lock
        released = time.monotonic()
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 0
    assert float(out) >= released
    assert not lock.exists()


async def test_a_stuck_qemu_img_is_killed(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it blocks until a writer comes: none will
    started = time.monotonic()
    with pytest.raises(QemuImgError, match=r"no answer within 0\.5 s"):
        await run_qemu_img(["info", "-f", "raw", str(fifo)], timeout_s=0.5)
    assert time.monotonic() - started < 5
