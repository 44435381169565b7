"""Resource vectors, their arithmetic, and the limits every request is checked against.

A :class:`Resources` holds one amount per resource class (:data:`CLASSES`): what a
host offers, what its claims use, what an instance asks. Adding a class (a whole
physical machine, say) is adding a field here: the arithmetic, :meth:`Resources.fits_in`
and :meth:`Resources.lacking` go over every class."""

from __future__ import annotations

from dataclasses import dataclass

from tashi.domain.errors import InvalidInput

MAX_CORES = 256
MIN_MEMORY_MIB = 16
MAX_MEMORY_MIB = 4 * 1024 * 1024  # 4 TiB
MAX_DISKS = 16  # per instance, the boot disk included
MAX_DISK_GIB = 64 * 1024  # 64 TiB, one blank or scratch disk


#: The resource classes, in the order explanations name them.
CLASSES = ("cores", "memory_mib", "disk_gib")
#: Each class in words, with its unit.
UNITS = {"cores": "cores", "memory_mib": "MiB", "disk_gib": "GiB"}
WORDS = {"cores": "cores", "memory_mib": "memory", "disk_gib": "disk"}


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of each resource class; ``disk_gib`` is scratch and overlay space."""

    cores: int
    memory_mib: int
    disk_gib: int = 0

    def amount(self, cls: str) -> int:
        return int(getattr(self, cls))

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(self.amount(c) + other.amount(c) for c in CLASSES))

    def __sub__(self, other: Resources) -> Resources:
        return Resources(*(self.amount(c) - other.amount(c) for c in CLASSES))

    def fits_in(self, other: Resources) -> bool:
        return not self.lacking(other)

    def lacking(self, room: Resources) -> tuple[str, ...]:
        """The classes of which ``room`` has less than this asks (those asked: > 0)."""
        return tuple(c for c in CLASSES if 0 < self.amount(c) > room.amount(c))


ZERO = Resources(0, 0, 0)


def check_request(cores: int, memory_mib: int) -> Resources:
    """Reject zero, negative or absurd sizes with a reason."""
    if not 1 <= cores <= MAX_CORES:
        raise InvalidInput(f"cores must be between 1 and {MAX_CORES}, got {cores}")
    if not MIN_MEMORY_MIB <= memory_mib <= MAX_MEMORY_MIB:
        raise InvalidInput(
            f"memory_mib must be between {MIN_MEMORY_MIB} and {MAX_MEMORY_MIB}, got {memory_mib}"
        )
    return Resources(cores, memory_mib)
