"""Validation of user-supplied names: a safe alphabet, so a name never reaches a
shell, never escapes a directory, and reads well in a table."""

from __future__ import annotations

import re

from tashi.domain.errors import InvalidInput

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: Letters and digits, joined by runs of '-'/'_' or by single dots: never '..', never '/'.
IMAGE_PATTERN = r"^[a-zA-Z0-9]+(?:(?:[_-]+|\.)[a-zA-Z0-9]+)*$"
IMAGE_MAX_LENGTH = 127
_NAME = re.compile(NAME_PATTERN)
_IMAGE = re.compile(IMAGE_PATTERN)


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid name for a ``kind`` (instance, host, user, network)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-63 of a-z, 0-9, '-', '_', "
            "starting with a letter or digit"
        )
    return name


def check_image_name(name: str) -> str:
    """Image names may carry dots (``debian-12.qcow2``) but never a path: no '/', no '..'."""
    if len(name) > IMAGE_MAX_LENGTH or not _IMAGE.fullmatch(name):
        raise InvalidInput(
            f"invalid image name {name!r}: use 1-127 of A-Z, a-z, 0-9, '.', '-', '_', "
            "starting and ending with a letter or digit, with no '..' and no '/'"
        )
    return name
