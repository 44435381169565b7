"""References to resources as users type them, checked before they go into a URL."""

from __future__ import annotations

from tashi.domain.imagerefs import check_key
from tashi.domain.names import check_image_name, check_name


def instance_ref(ref: str) -> str:
    """An instance's id or name."""
    return ref if ref.isascii() and ref.isdigit() else check_name("instance", ref)


def image_name(name: str) -> str:
    """An image's name: never a path."""
    return check_image_name(name)


def image_ref(ref: str) -> str:
    """An image as users name it: NAME (yours, else a public one) or OWNER/NAME."""
    return check_key(ref)
