"""``tashi vm create … --disk SPEC`` (repeatable): one extra disk, one of::

    image=NAME[,persistent]   a disk from another image (an overlay over it, or the image
                              itself when persistent: your own images only)
    size=GiB                  a blank qcow2 disk of that size
    scratch=GiB               a sparse scratch file of that size in the host's scratch space
    GiB                       the same as scratch=GiB

each optionally with ``bus=virtio|scsi|ide`` and ``cache=writeback|none|writethrough|
directsync|unsafe``. The values are checked by the API's schema (DiskCreate).
"""

from __future__ import annotations

from typing import Any

from tashi.domain.errors import InvalidInput

HELP = ("An extra disk (repeatable): image=NAME[,persistent], size=GiB (blank), "
        "scratch=GiB (sparse scratch file), each with optional bus=virtio|scsi|ide and "
        "cache=MODE; a bare number is scratch=GiB.")
_KEYS = {"image": "image", "size": "size_gib", "scratch": "scratch_gib", "bus": "bus",
         "cache": "cache"}


def parse_disk(text: str) -> dict[str, Any]:
    """The fields of a DiskCreate from ``text``; InvalidInput naming the bad part."""
    if text.isascii() and text.isdigit():
        return {"scratch_gib": int(text)}
    fields: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        key, eq, value = part.partition("=")
        if part == "persistent":
            fields["persistent"] = True
            continue
        if not eq or key not in _KEYS or not value:
            raise InvalidInput(f"--disk {text!r}: {part!r} is not image=NAME, persistent, "
                               "size=GiB, scratch=GiB, bus=BUS or cache=MODE")
        if _KEYS[key] in fields:
            raise InvalidInput(f"--disk {text!r}: {key} is given twice")
        if key in ("size", "scratch"):
            if not value.isascii() or not value.isdigit():
                raise InvalidInput(f"--disk {text!r}: {key} must be a whole number of GiB, "
                                   f"not {value!r}")
            fields[_KEYS[key]] = int(value)
        else:
            fields[_KEYS[key]] = value
    return fields
