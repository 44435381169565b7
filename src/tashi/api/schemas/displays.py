"""A running VM's display on the wire: VNC sessions and screenshots, asked by users and
answered by agents (see :mod:`tashi.manager.displays`)."""

from __future__ import annotations

from pydantic import Field

from tashi.api.schemas.base import MAX_ID, Int, Wire
from tashi.domain.displays import MAX_SCREENSHOT_BYTES, VNC_PASSWORD_CHARS

#: A screenshot's PNG, base64-encoded: 4 characters for each 3 bytes (and padding).
MAX_PNG_BASE64 = (MAX_SCREENSHOT_BYTES + 2) // 3 * 4


class DesiredDisplayOut(Wire):
    """The display requests an agent has not answered yet (sent to that agent only)."""

    vnc: int = Field(default=0, description="the VNC request to carry out (0: none)")
    vnc_open: bool = Field(default=False, description="open a server (else close it)")
    vnc_password: str = Field(default="", max_length=VNC_PASSWORD_CHARS)
    screenshot: int = Field(default=0, description="the screenshot to take (0: none)")


class VncOut(Wire):
    """Where the instance's VNC server listens, and the password that opens it (given
    to this call's caller only: no other call shows it)."""

    id: int
    name: str
    host: str
    port: int
    password: str


class VncAnswerIn(Wire):
    """An agent's answer to a VNC request: where the server listens (port 0: closed),
    or why it failed."""

    request: Int = Field(ge=1, le=MAX_ID)
    host: str = Field(default="", max_length=255)
    port: Int = Field(default=0, ge=0, le=65535)
    error: str = Field(default="", max_length=2000)


class ScreenshotIn(Wire):
    """An agent's answer to a screenshot request: the PNG (base64), or why there is none."""

    request: Int = Field(ge=1, le=MAX_ID)
    png_base64: str | None = Field(default=None, max_length=MAX_PNG_BASE64,
                                   description=f"at most {MAX_SCREENSHOT_BYTES} bytes once "
                                               "decoded")
    error: str = Field(default="", max_length=2000)
