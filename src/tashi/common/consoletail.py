"""A console kept as its tail: what a newer tail adds to an older one."""

from __future__ import annotations

_PROBE = 64


def new_part(old: str, new: str) -> str:
    """What ``new`` adds to ``old``. Only the console's tail is kept, so the start of
    ``old`` may have scrolled away: the new part follows the longest suffix of ``old``
    that starts ``new``. With no overlap, the console was reset: all of ``new``."""
    if new.startswith(old):
        return new[len(old):]
    probe = new[:_PROBE]
    at = old.find(probe)
    while at >= 0:  # overlaps at least as long as the probe, longest first
        if new.startswith(old[at:]):
            return new[len(old) - at:]
        at = old.find(probe, at + 1)
    for overlap in range(min(len(old), len(probe) - 1), 0, -1):
        if old.endswith(new[:overlap]):
            return new[overlap:]
    return new
