"""Images and networks."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tashi.api.schemas.base import (
    NetworkName,
    Wire,
)
from tashi.domain.models import ImageFormat, NetworkKind, Visibility


class ImageCopyIn(Wire):
    name: str = Field(max_length=127, description="the copy's name (yours, private)")
    source: str = Field(max_length=255, description="NAME (yours, else public) or OWNER/NAME")


class ImageOut(Wire):
    name: str = Field(description="OWNER/NAME (images made before namespaces: NAME)")
    owner: str
    format: ImageFormat
    size_bytes: int
    virtual_size_bytes: int
    created_at: datetime
    visibility: Visibility = Field(default=Visibility.PRIVATE, description=(
        "private: its owner's only; public (set by admins): every user's"))
    min_memory_mib: int = Field(default=0, description=(
        "the least memory its guest boots with (0: not known); smaller instances "
        "are refused"))


class NetworkCreate(Wire):
    name: NetworkName
    kind: NetworkKind = NetworkKind.USER


class NetworkOut(Wire):
    name: str
    kind: NetworkKind
    created_at: datetime
