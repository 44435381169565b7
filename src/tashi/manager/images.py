"""The image catalogue and the image directory it describes.

Images live in their owner's namespace (:mod:`tashi.domain.imagerefs`): alice's
``debian-12`` is the record ``alice/debian-12`` and the file ``alice/debian-12`` in the
image directory (images made before namespaces keep their bare name and file). Only
admins make an image public; a user's image is private, and invisible to other users.

Uploads are streamed to a temporary file inside the image directory, inspected
with ``qemu-img info``, and renamed into place only once they are known good. An
image file is named exactly as the image's key, which can hold no path but its
owner's directory and never starts with a dot (see
:func:`tashi.domain.names.check_image_name`): the dot files (``.upload-*``
temporaries, the ``.locks`` directory) can never be images.

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
from tashi.domain import imagerefs
from tashi.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tashi.domain.models import Image, ImageFormat, Principal, User, Visibility
from tashi.domain.names import check_image_name
from tashi.domain.resources import MAX_MEMORY_MIB
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
        image_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.remove_stale_uploads()

    def path_of(self, key: str) -> Path:
        """The file of the image whose key (record name) is ``key``."""
        return self._dir / imagerefs.check_key(key)

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

    async def upload(self, principal: Principal, name: str, chunks: AsyncIterator[bytes],
                     *, visibility: Visibility = Visibility.PRIVATE,
                     min_memory_mib: int = 0) -> Image:
        """Import the caller's image ``name`` (a bare name: always in the caller's own
        namespace); ``public`` by admins only."""
        user = require_user(principal)
        check_image_name(name)
        if visibility is Visibility.PUBLIC and not user.is_admin:
            raise Forbidden(f"user {user.name} may not make images public (admins only)")
        if not 0 <= min_memory_mib <= MAX_MEMORY_MIB:
            raise InvalidInput(f"min_memory_mib must be between 0 and {MAX_MEMORY_MIB}, "
                               f"got {min_memory_mib}")
        key = imagerefs.key_of(user.name, name)
        if await asyncio.to_thread(self._own, user, name) is not None:
            raise _taken(user, name)
        fd, tmp_name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, dir=self._dir)
        tmp = Path(tmp_name)
        try:
            hold(fd)  # while it is held, remove_stale_uploads leaves it alone
            await _receive(fd, name, chunks)
            info = await self._inspect(tmp, name)
            new = NewImage(name=key, owner=user.name, format=ImageFormat(info.format),
                           size_bytes=info.actual_size_bytes,
                           virtual_size_bytes=info.virtual_size_bytes,
                           visibility=visibility, min_memory_mib=min_memory_mib)
            return await asyncio.to_thread(self._commit, tmp, user, name, new)
        finally:
            await asyncio.to_thread(_discard, fd, tmp)

    async def copy(self, principal: Principal, source: str, name: str) -> Image:
        """Copy the image ``source`` names for the caller into the caller's own image
        ``name`` (private; its minimum memory kept): checked and committed as an upload
        is, so a copy is never half there."""
        src = await asyncio.to_thread(self.get, principal, source)
        log.info("image %s: being copied to %s by %s", src.name, name, principal.label)
        return await self.upload(principal, name, _read(self.path_of(src.name)),
                                 min_memory_mib=src.min_memory_mib)

    def _own(self, user: User, name: str) -> Image | None:
        """``user``'s own image ``name`` (with or without its namespace), if any."""
        return next((i for i in self._store.list_images()
                     if i.owner == user.name and imagerefs.short_name(i) == name), None)

    def _exists(self, key: str) -> bool:
        try:
            self._store.get_image(key)
        except NotFound:
            return False
        return True

    def _lock(self, owner: str, name: str) -> AbstractContextManager[None]:
        """The lock of ``owner``'s image ``name``, whichever its key."""
        return locked(self._dir / LOCK_DIR / f"{owner}@{check_image_name(name)}.lock")

    async def _inspect(self, path: Path, name: str) -> ImageInfo:
        try:
            info = await image_info(path)
        except UnsafeImageError as exc:
            raise InvalidInput(_unsafe(name, exc.reason)) from exc
        except QemuImgError as exc:
            said = exc.stderr.replace(str(path), name)  # the temporary is no one's business
            raise InvalidInput(f"image {name!r} is not a readable disk image: {said}") from exc
        if info.format not in {f.value for f in ImageFormat}:
            raise InvalidInput(f"image {name!r} is in the unsupported format {info.format!r}; "
                               "use qcow2 or raw")
        if info.backing_file:
            raise InvalidInput(_unsafe(name, "has a backing file"))
        if info.data_file:
            raise InvalidInput(_unsafe(name, "has an external data file"))
        if info.virtual_size_bytes == 0:
            raise InvalidInput(f"image {name!r} is empty (0 bytes): not a disk image a guest "
                               "can boot")
        return info

    def _commit(self, tmp: Path, user: User, name: str, new: NewImage) -> Image:
        """Under the name's lock: the file into place, then the record."""
        key = new.name
        final = self.path_of(key)
        with self._lock(user.name, name):
            if self._own(user, name) is not None:
                raise _taken(user, name)
            if final.exists() or final.is_symlink():
                log.warning("image %s: replacing %s, a file without a record (left by an "
                            "interrupted upload or delete)", key, final)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            _sync_dir(final.parent)
            try:
                image = self._store.create_image(new)
            except BaseException:
                self._drop_unrecorded(key, final)
                raise
        log.info("image %s: imported by %s (%s, %d bytes, %s%s)", key, user.name,
                 new.format.value, new.size_bytes, new.visibility.value,
                 f", needs {new.min_memory_mib} MiB" if new.min_memory_mib else "")
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
        """The images the caller may see: its own and the public ones (admins: all)."""
        require_user(principal)
        return [i for i in self._store.list_images() if imagerefs.may_see(principal, i)]

    def get(self, principal: Principal, ref: str) -> Image:
        """The image ``ref`` names for the caller (``NAME``: its own, else a public one;
        ``OWNER/NAME``); NotFound if there is none it may see."""
        require_user(principal)
        return imagerefs.resolve(principal, ref, self._store.list_images())

    def delete(self, principal: Principal, ref: str) -> None:
        user = require_user(principal)
        found = self.get(principal, ref)
        with self._lock(found.owner, imagerefs.short_name(found)):
            image = self.get(principal, ref)
            name = image.name
            if image.owner != user.name and not user.is_admin:
                raise Forbidden(f"image {ref!r} belongs to {image.owner}")
            users = [i for i in self._store.list_instances()
                     if any(d.image == name for d in i.spec.disks)]
            if users:
                more = f" and {len(users) - 1} more" if len(users) > 1 else ""
                raise Conflict(f"image {name!r} is used by instance {users[0].name!r} "
                               f"(id {users[0].id}){more}; delete those first")
            self._store.delete_image(name)
            path = self.path_of(name)
            path.unlink(missing_ok=True)
            _sync_dir(path.parent)
        log.info("image %s: deleted by %s", name, user.name)


def _taken(user: User, name: str) -> Conflict:
    return Conflict(f"image {name!r} already exists (yours: {user.name}/{name}); delete "
                    "it first or pick another name")


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


async def _read(path: Path, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """The bytes of ``path``, a chunk at a time, read off the event loop."""
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, chunk_bytes):
            yield chunk


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
