"""The newest store epoch an agent acted on (see migration 0017): a desired state of an
older epoch comes from a store that went back in time (restored from an older backup,
or another cluster's), and acting on it could destroy VMs that store never knew of. So
the agent refuses it, says so, and leaves its VMs as they are until an answer of its
epoch or newer comes. Kept in the state directory: a restarted agent remembers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.common.files import write_private

log = logging.getLogger(__name__)

EPOCH_FILE = "epoch"


class EpochGuard:
    def __init__(self, host: str, path: Path | None = None) -> None:
        """``path``: where the epoch is kept across restarts (None: in memory)."""
        self._host = host
        self._path = path
        self.highest = self._load()
        self.refused: int | None = None  # the epoch of the answer last refused, if any

    def _load(self) -> int:
        if self._path is None:
            return 0
        try:
            return int(self._path.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.error("host %s: %s unreadable; taking the manager's epoch as it comes",
                      self._host, self._path)
            return 0

    def accept(self, epoch: int, manager: str) -> bool:
        """Whether a desired state of ``epoch`` (from ``manager``) may be acted on."""
        if epoch < self.highest:
            if self.refused != epoch:
                log.error("host %s: %s sent a desired state of store epoch %d, older than "
                          "epoch %d this agent acted on: refused, its VMs left as they are "
                          "(a store restored from an older backup? If that is meant, stop "
                          "the agent and remove %s)", self._host, manager, epoch,
                          self.highest, self._path or "its state")
            self.refused = epoch
            return False
        if self.refused is not None:
            log.warning("host %s: %s is at store epoch %d again; its desired state is "
                        "taken", self._host, manager, epoch)
            self.refused = None
        if epoch > self.highest:
            self.highest = epoch
            if self._path is not None:
                write_private(self._path, f"{epoch}\n")
        return True
