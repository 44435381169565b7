"""Image references: how users name images, and which image a name means to whom.

Images live in their owner's namespace. An image's *key* (its record's ``name``, and
what an instance's disk holds) is ``OWNER/NAME``, its file ``OWNER/NAME`` in the image
directory; images made before namespaces keep their bare key (``NAME``, a file at the
top of the directory) and are still their owner's.

A user names an image as ``OWNER/NAME`` (exactly that image) or as ``NAME``: the
caller's own image of that name, else the one public image of that name. Another
user's private image is invisible: named, it is "not found", never "forbidden".
Admins see every image by its full name, but a bare name means the same to them as
to anyone (their own, then public), so nobody's private image is picked by surprise.
"""

from __future__ import annotations

from collections.abc import Iterable

from tashi.domain.errors import InvalidInput, NotFound
from tashi.domain.models import Image, Principal, Visibility
from tashi.domain.names import IMAGE_MAX_LENGTH, check_image_name, check_name


def key_of(owner: str, name: str) -> str:
    """The key of ``owner``'s image ``name``."""
    key = f"{check_name('user', owner)}/{check_image_name(name)}"
    if len(key) > IMAGE_MAX_LENGTH:
        raise InvalidInput(f"image name {name!r} is too long: with its owner's name "
                           f"({key}) it must fit in {IMAGE_MAX_LENGTH} characters")
    return key


def split(ref: str) -> tuple[str | None, str]:
    """``OWNER/NAME`` as (owner, name); a bare ``NAME`` as (None, name). InvalidInput for
    anything else: never a path (one '/' at most, no '..', nothing hidden)."""
    owner, slash, name = ref.rpartition("/")
    if not slash:
        return None, check_image_name(ref)
    if "/" in owner:
        raise InvalidInput(f"invalid image name {ref!r}: use NAME or OWNER/NAME")
    try:
        check_name("user", owner)
    except InvalidInput:
        raise InvalidInput(f"invalid image name {ref!r}: {owner!r} is not a user name "
                           "(use NAME or OWNER/NAME)") from None
    return owner, check_image_name(name)


def check_key(key: str) -> str:
    """``key`` if it is a valid image key (``NAME`` or ``OWNER/NAME``): safe to join to
    the image directory."""
    split(key)
    return key


def short_name(image: Image) -> str:
    """The image's name within its owner's namespace."""
    return image.name.rpartition("/")[2]


def full_name(image: Image) -> str:
    """``OWNER/NAME``: what names this image to anyone allowed to see it."""
    return f"{image.owner}/{short_name(image)}"


def may_see(principal: Principal, image: Image) -> bool:
    user = principal.user
    if user is None:
        return False
    return user.is_admin or image.owner == user.name or image.visibility is Visibility.PUBLIC


def resolve(principal: Principal, ref: str, images: Iterable[Image]) -> Image:
    """The image ``ref`` names for ``principal`` among ``images``; NotFound if none it
    may see, InvalidInput if a bare name fits several public images."""
    owner, name = split(ref)
    user = principal.user
    named = [i for i in images if short_name(i) == name]
    if owner is not None:
        found = [i for i in named if i.owner == owner and may_see(principal, i)]
    else:
        me = None if user is None else user.name
        found = ([i for i in named if i.owner == me]
                 or [i for i in named if i.visibility is Visibility.PUBLIC])
    if not found:
        raise NotFound(f"image {ref!r} not found (see: tashi image list)")
    if len(found) > 1:
        names = ", ".join(sorted(full_name(i) for i in found))
        raise InvalidInput(f"image name {ref!r} fits several public images ({names}): "
                           "name one as OWNER/NAME")
    return found[0]
