"""Images and networks."""

from __future__ import annotations

from datetime import datetime

from tashi.api.schemas.base import (
    NetworkName,
    Wire,
)
from tashi.domain.models import ImageFormat, NetworkKind


class ImageOut(Wire):
    name: str
    owner: str
    format: ImageFormat
    size_bytes: int
    virtual_size_bytes: int
    created_at: datetime


class NetworkCreate(Wire):
    name: NetworkName
    kind: NetworkKind = NetworkKind.USER


class NetworkOut(Wire):
    name: str
    kind: NetworkKind
    created_at: datetime
