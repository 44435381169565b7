"""The image catalogue and the image directory it describes.

Uploads are streamed to a temporary file inside the image directory, inspected
with ``qemu-img info``, and renamed into place only once they are known good. An
image file is named exactly as the image, whose name can hold no path and never
starts with a dot (see :func:`tashi.domain.names.check_image_name`): the dot
files (``.upload-*`` temporaries, the ``.locks`` directory) can never be images.

Only self-contained qcow2 and raw images are accepted: a backing file or an
external data file could point anywhere on the host. QEMU is always told an
image's format (the one recorded here), never left to probe it.

Crash consistency. The invariant is "a record has its file"; a file without a
record is harmless and is replaced by the next upload of that name. Finalizing an
upload and deleting an image hold a per-name file lock (across the processes of
this machine); under it, an upload renames its file into place, then inserts the
record, and a delete removes the record, then the file. Temporaries of uploads
whose process died are removed when the service starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path

from tashi.common.filelock import hold, locked, remove_unheld
from tashi.common.qemu_img import ImageInfo, QemuImgError, UnsafeImageError, image_info
from tashi.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tashi.domain.models import Image, ImageFormat, Principal
from tashi.domain.names import check_image_name
from tashi.identity.access import require_user
from tashi.store.base import NewImage, Store

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 2 * 1024**4  # 2 TiB
UPLOAD_PREFIX = ".upload-"
LOCK_DIR = ".locks"
#: A temporary this young may be one whose uploader has not locked it yet.
STALE_UPLOAD_S = 60.0


class ImageService:
    def __init__(self, store: Store, image_dir: Path) -> None:
        self._store = store
        self._dir = image_dir
        image_dir.mkdir(parents=True, exist_ok=True)
        self.remove_stale_uploads()

    def path_of(self, name: str) -> Path:
        return self._dir / check_image_name(name)

    def remove_stale_uploads(self) -> int:
        """Remove the temporaries of uploads whose process is gone; return how many."""
        removed = 0
        for tmp in self._dir.glob(f"{UPLOAD_PREFIX}*"):
            try:
                if time.time() - tmp.lstat().st_mtime < STALE_UPLOAD_S:
                    continue
            except FileNotFoundError:
                continue
            if remove_unheld(tmp):
                log.info("image directory %s: removed %s, left by an interrupted upload",
                         self._dir, tmp.name)
                removed += 1
        return removed

    async def upload(self, principal: Principal, name: str,
                     chunks: AsyncIterator[bytes]) -> Image:
        user = require_user(principal)
        check_image_name(name)
        if await asyncio.to_thread(self._exists, name):
            raise Conflict(f"image {name!r} already exists")
        fd, tmp_name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, dir=self._dir)
        tmp = Path(tmp_name)
        try:
            hold(fd)  # while it is held, remove_stale_uploads leaves it alone
            await _receive(fd, name, chunks)
            info = await self._inspect(tmp, name)
            return await asyncio.to_thread(self._commit, tmp, name, user.name, info)
        finally:
            await asyncio.to_thread(_discard, fd, tmp)

    def _exists(self, name: str) -> bool:
        try:
            self._store.get_image(name)
        except NotFound:
            return False
        return True

    def _lock(self, name: str) -> AbstractContextManager[None]:
        return locked(self._dir / LOCK_DIR / f"{check_image_name(name)}.lock")

    async def _inspect(self, path: Path, name: str) -> ImageInfo:
        try:
            info = await image_info(path)
        except UnsafeImageError as exc:
            raise InvalidInput(_unsafe(name, exc.reason)) from exc
        except QemuImgError as exc:
            raise InvalidInput(f"image {name!r} is not a readable disk image: "
                               f"{exc.stderr}") from exc
        if info.format not in {f.value for f in ImageFormat}:
            raise InvalidInput(f"image {name!r} is in the unsupported format {info.format!r}; "
                               "use qcow2 or raw")
        if info.backing_file:
            raise InvalidInput(_unsafe(name, "has a backing file"))
        if info.data_file:
            raise InvalidInput(_unsafe(name, "has an external data file"))
        return info

    def _commit(self, tmp: Path, name: str, owner: str, info: ImageInfo) -> Image:
        """Under the name's lock: the file into place, then the record."""
        final = self.path_of(name)
        with self._lock(name):
            if self._exists(name):
                raise Conflict(f"image {name!r} already exists")
            if final.exists() or final.is_symlink():
                log.warning("image %s: replacing %s, a file without a record (left by an "
                            "interrupted upload or delete)", name, final)
            os.replace(tmp, final)
            _sync_dir(self._dir)
            try:
                image = self._store.create_image(NewImage(
                    name=name, owner=owner, format=ImageFormat(info.format),
                    size_bytes=info.actual_size_bytes,
                    virtual_size_bytes=info.virtual_size_bytes))
            except BaseException:
                self._drop_unrecorded(name, final)
                raise
        log.info("image %s: imported by %s (%s, %d bytes)", name, owner, info.format,
                 info.actual_size_bytes)
        return image

    def _drop_unrecorded(self, name: str, final: Path) -> None:
        """After a failed insert: remove the file, unless its record may exist after all
        (an insert can fail after committing); a stray file is harmless, a record
        without its file is not."""
        try:
            recorded = self._exists(name)
        except Exception:  # the store is down: it cannot say
            log.exception("image %s: cannot tell whether its record exists", name)
            recorded = True
        if recorded:
            log.warning("image %s: insert failed, but a record exists: keeping %s", name, final)
        else:
            final.unlink(missing_ok=True)

    def list_images(self, principal: Principal) -> list[Image]:
        """Every image (any user may see them all: they are what instances are made from)."""
        require_user(principal)
        return self._store.list_images()

    def get(self, principal: Principal, name: str) -> Image:
        """Image ``name``; NotFound if there is none."""
        require_user(principal)
        return self._store.get_image(check_image_name(name))

    def delete(self, principal: Principal, name: str) -> None:
        user = require_user(principal)
        check_image_name(name)
        with self._lock(name):
            image = self._store.get_image(name)
            if image.owner != user.name and not user.is_admin:
                raise Forbidden(f"image {name!r} belongs to {image.owner}")
            users = [i for i in self._store.list_instances()
                     if any(d.image == name for d in i.spec.disks)]
            if users:
                more = f" and {len(users) - 1} more" if len(users) > 1 else ""
                raise Conflict(f"image {name!r} is used by instance {users[0].name!r} "
                               f"(id {users[0].id}){more}; delete those first")
            self._store.delete_image(name)
            self.path_of(name).unlink(missing_ok=True)
            _sync_dir(self._dir)
        log.info("image %s: deleted by %s", name, user.name)


def _unsafe(name: str, reason: str) -> str:
    return (f"image {name!r} {reason}, which could expose host files to a VM; "
            "make it self-contained first (qemu-img convert)")


def _discard(fd: int, tmp: Path) -> None:
    """Remove an upload's temporary (gone already if it was committed), then unlock it."""
    try:
        tmp.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _sync_dir(directory: Path) -> None:
    """Make the renames and removals in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _receive(fd: int, name: str, chunks: AsyncIterator[bytes]) -> None:
    total = 0
    with os.fdopen(fd, "wb", closefd=False) as out:
        async for chunk in chunks:
            total += len(chunk)
            if total > MAX_IMAGE_BYTES:
                raise InvalidInput(f"image {name!r} is larger than {MAX_IMAGE_BYTES} bytes")
            await asyncio.to_thread(out.write, chunk)
        await asyncio.to_thread(out.flush)
        await asyncio.to_thread(os.fsync, out.fileno())
