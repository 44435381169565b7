"""The image catalogue and the image directory it describes.

Uploads are streamed to a temporary file inside the image directory, inspected
with ``qemu-img info``, and renamed into place only once they are known good: a
failed upload leaves nothing behind. An image file is named exactly as the image,
whose name can hold no path (see :func:`tashi.domain.names.check_image_name`).
Images with a backing file are refused: it could point anywhere on the host.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from tashi.common.qemu_img import ImageInfo, QemuImgError, image_info
from tashi.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tashi.domain.models import Image, ImageFormat, Principal
from tashi.domain.names import check_image_name
from tashi.manager.access import require_user
from tashi.store.base import NewImage, Store

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 2 * 1024**4  # 2 TiB


class ImageService:
    def __init__(self, store: Store, image_dir: Path) -> None:
        self._store = store
        self._dir = image_dir
        image_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, name: str) -> Path:
        return self._dir / check_image_name(name)

    async def upload(self, principal: Principal, name: str,
                     chunks: AsyncIterator[bytes]) -> Image:
        user = require_user(principal)
        check_image_name(name)
        if await run_in_threadpool(self._exists, name):
            raise Conflict(f"image {name!r} already exists")
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=self._dir)
        tmp = Path(tmp_name)
        try:
            await _receive(fd, chunks)
            info = await self._inspect(tmp, name)
            return await run_in_threadpool(self._commit, tmp, name, user.name, info)
        finally:
            await run_in_threadpool(tmp.unlink, True)

    def _exists(self, name: str) -> bool:
        try:
            self._store.get_image(name)
        except NotFound:
            return False
        return True

    async def _inspect(self, path: Path, name: str) -> ImageInfo:
        try:
            info = await image_info(path)
        except QemuImgError as exc:
            raise InvalidInput(f"image {name!r} is not a readable disk image: "
                               f"{exc.stderr}") from exc
        if info.format not in {f.value for f in ImageFormat}:
            raise InvalidInput(f"image {name!r} is {info.format}; use qcow2 or raw")
        if info.backing_file:
            raise InvalidInput(f"image {name!r} has a backing file; flatten it first "
                               "(qemu-img convert)")
        return info

    def _commit(self, tmp: Path, name: str, owner: str, info: ImageInfo) -> Image:
        """File first, then the record: the catalogue never lists a missing file."""
        final = self.path_of(name)
        if final.exists():
            raise Conflict(f"image file {name!r} already exists in the image directory")
        os.replace(tmp, final)
        try:
            image = self._store.create_image(NewImage(
                name=name, owner=owner, format=ImageFormat(info.format),
                size_bytes=info.actual_size_bytes, virtual_size_bytes=info.virtual_size_bytes))
        except Exception:
            final.unlink(missing_ok=True)
            raise
        log.info("image %s: imported by %s (%s, %d bytes)", name, owner, info.format,
                 info.actual_size_bytes)
        return image

    def delete(self, principal: Principal, name: str) -> None:
        user = require_user(principal)
        image = self._store.get_image(check_image_name(name))
        if image.owner != user.name and not user.is_admin:
            raise Forbidden(f"image {name!r} belongs to {image.owner}")
        if any(d.image == name for i in self._store.list_instances() for d in i.spec.disks):
            raise Conflict(f"image {name!r} is used by an instance")
        self._store.delete_image(name)
        self.path_of(name).unlink(missing_ok=True)
        log.info("image %s: deleted by %s", name, user.name)


async def _receive(fd: int, chunks: AsyncIterator[bytes]) -> None:
    total = 0
    with os.fdopen(fd, "wb") as out:
        async for chunk in chunks:
            total += len(chunk)
            if total > MAX_IMAGE_BYTES:
                raise InvalidInput(f"image larger than {MAX_IMAGE_BYTES} bytes")
            await run_in_threadpool(out.write, chunk)
        await run_in_threadpool(out.flush)
        await run_in_threadpool(os.fsync, out.fileno())
