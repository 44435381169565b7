"""Resource arithmetic and the limits every request is checked against."""

from __future__ import annotations

from dataclasses import dataclass

from tashi.domain.errors import InvalidInput

MAX_CORES = 256
MIN_MEMORY_MIB = 16
MAX_MEMORY_MIB = 4 * 1024 * 1024  # 4 TiB


@dataclass(frozen=True, slots=True)
class Resources:
    cores: int
    memory_mib: int

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cores + other.cores, self.memory_mib + other.memory_mib)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cores - other.cores, self.memory_mib - other.memory_mib)

    def fits_in(self, other: Resources) -> bool:
        return self.cores <= other.cores and self.memory_mib <= other.memory_mib


ZERO = Resources(0, 0)


def check_request(cores: int, memory_mib: int) -> Resources:
    """Reject zero, negative or absurd sizes with a reason."""
    if not 1 <= cores <= MAX_CORES:
        raise InvalidInput(f"cores must be between 1 and {MAX_CORES}, got {cores}")
    if not MIN_MEMORY_MIB <= memory_mib <= MAX_MEMORY_MIB:
        raise InvalidInput(
            f"memory_mib must be between {MIN_MEMORY_MIB} and {MAX_MEMORY_MIB}, got {memory_mib}"
        )
    return Resources(cores, memory_mib)
