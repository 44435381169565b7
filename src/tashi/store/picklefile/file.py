"""The pickle store's file: one pickled plain document, a lock file beside it.

The document (see :mod:`tashi.store.picklefile.rows`; older files hold
:func:`tashi.store.transfer.to_document` of the whole state) is dicts, lists, tuples,
strings, numbers, booleans and None only. Loading refuses every global a pickle
could name, so a file that is not ours cannot make objects (or run code).
Each save writes a temporary file in the same directory, fsyncs it, renames it over
the old one and fsyncs the directory: a crash leaves the old state or the new one.
The lock (``flock`` on ``<file>.lock``) is held from :class:`StateFile` to
:meth:`StateFile.close`, so two managers never share one file.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from tashi.common.files import private_file
from tashi.domain.errors import Conflict, InvalidInput

PROTOCOL = 5


class PlainUnpickler(pickle.Unpickler):
    """An unpickler for plain data: it refuses to look up any class or function."""

    def find_class(self, module: str, name: str) -> type:
        raise pickle.UnpicklingError(f"refused {module}.{name}: the file must hold plain data")


class StateFile:
    """The locked state file at ``path`` (its directory is created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock: io.BufferedRandom | None = open(  # noqa: SIM115
            private_file(self.lock_path), "a+b")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise Conflict(f"the pickle store {path} is in use by another process "
                           f"(it holds {self.lock_path}); stop that manager first") from None

    def load(self) -> Any:
        """The saved document (plain data), or None if there is no file yet."""
        with contextlib.suppress(FileNotFoundError):
            os.chmod(self.path, 0o600)  # saved by an older Tashi with a wider mode
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return PlainUnpickler(io.BytesIO(data)).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
                KeyError, AttributeError, OverflowError) as exc:
            raise InvalidInput(f"{self.path}: not a readable pickle store: {exc}") from exc

    def save(self, doc: dict[str, Any]) -> None:
        """Replace the file with ``doc``, atomically and durably (mode 0600)."""
        data = pickle.dumps(doc, protocol=PROTOCOL)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def close(self) -> None:
        """Release the lock (idempotent)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
