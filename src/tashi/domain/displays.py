"""A running VM's display: a VNC server on it, and screenshots of it. Pure: no I/O.

Both are asked of the bound host's agent the level-triggered way, as reboots are: the
manager counts the requests of each kind (:class:`Display`, one record per instance,
kept apart from the spec so that no password ever reaches ``vm show``, a list or an
event), the desired record carries the requests the agent has not answered
(:class:`DesiredDisplay`), and the agent answers each with its number. A VNC request
carries the password it sets: made by the manager, at most
:data:`VNC_PASSWORD_CHARS` characters (VNC's own limit), it is kept only until the
agent has answered, then blanked.
"""

from __future__ import annotations

import secrets
import string
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tashi.domain.errors import InvalidInput, InvalidTransition
from tashi.domain.states import InstanceState

VNC_PASSWORD_CHARS = 8  # VNC authentication (DES) uses the first 8 bytes only
PASSWORD_ALPHABET = string.ascii_letters + string.digits
MAX_SCREENSHOT_BYTES = 720 * 1024  # one PNG: base64 in a JSON body under the API's 1 MiB limit
MAX_SCREEN_SIDE = 8192  # pixels: a bigger display is refused, not shipped
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

S = InstanceState


class DisplayAction(StrEnum):
    VNC = "vnc"  # open a VNC server (a new password each time)
    VNC_STOP = "vnc --stop"  # close it
    SCREENSHOT = "screenshot"


#: What each action starts from: a VNC server and a screenshot need a running guest;
#: a server is closed wherever the VM's process still lives.
NEEDS: dict[DisplayAction, frozenset[InstanceState]] = {
    DisplayAction.VNC: frozenset({S.RUNNING}),
    DisplayAction.VNC_STOP: frozenset({S.RUNNING, S.PAUSING, S.PAUSED, S.UNPAUSING}),
    DisplayAction.SCREENSHOT: frozenset({S.RUNNING}),
}


def check_display_action(action: DisplayAction, name: str, state: InstanceState) -> None:
    """InvalidTransition (409) naming the instance and its state when ``action`` cannot
    be done in it: ``cannot vnc web: it is Paused; vnc needs Running``."""
    allowed = NEEDS[action]
    if state not in allowed:
        needs = " or ".join(s.value for s in S if s in allowed)
        raise InvalidTransition(f"cannot {action} {name}: it is {state}; {action} needs {needs}")


def new_password() -> str:
    """A fresh VNC password: :data:`VNC_PASSWORD_CHARS` random letters and digits."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(VNC_PASSWORD_CHARS))


@dataclass(frozen=True, slots=True)
class Display:
    """The display requests of one instance and their answers (all 0 and empty: none).

    ``vnc_asked`` counts VNC requests (open or close: ``vnc_open`` says which the last
    one is), ``vnc_done`` is the number of the last one its agent answered, with where
    the server listens (``vnc_host``, ``vnc_port``; 0: closed) or why it failed. The
    same for screenshots; the image itself is a :class:`Screenshot`."""

    vnc_asked: int = 0
    vnc_open: bool = False
    vnc_password: str = field(default="", repr=False)  # blanked once answered
    vnc_done: int = 0
    vnc_host: str = ""
    vnc_port: int = 0
    vnc_error: str = ""
    shots_asked: int = 0
    shots_done: int = 0
    shot_error: str = ""

    def pending(self) -> DesiredDisplay | None:
        """What its agent still has to do (None: nothing)."""
        vnc = self.vnc_asked if self.vnc_asked > self.vnc_done else 0
        shot = self.shots_asked if self.shots_asked > self.shots_done else 0
        if not vnc and not shot:
            return None
        return DesiredDisplay(vnc=vnc, vnc_open=self.vnc_open,
                              vnc_password=self.vnc_password if vnc else "", screenshot=shot)


@dataclass(frozen=True, slots=True)
class DesiredDisplay:
    """The display requests the bound host's agent has not answered yet (part of its
    :class:`~tashi.domain.desired.DesiredInstance`). ``vnc``: the number of the VNC
    request to carry out (0: none), opening a server with ``vnc_password`` or closing
    it; ``screenshot``: the number of the screenshot to take (0: none)."""

    vnc: int = 0
    vnc_open: bool = False
    vnc_password: str = field(default="", repr=False)
    screenshot: int = 0


@dataclass(frozen=True, slots=True)
class VncSession:
    """What a VNC request answers its caller (and nobody else): where to connect, and
    the password that opens it."""

    instance_id: int
    name: str
    host: str
    port: int
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Screenshot:
    """The last screenshot of an instance's display that its agent sent."""

    instance_id: int
    number: int
    png: bytes = field(repr=False)
    taken_at: datetime
    width: int
    height: int


def png_size(data: bytes, what: str) -> tuple[int, int]:
    """The width and height of PNG ``data``; InvalidInput (naming ``what``) when it is
    not a PNG, is too big (:data:`MAX_SCREENSHOT_BYTES`) or has absurd dimensions."""
    if len(data) > MAX_SCREENSHOT_BYTES:
        raise InvalidInput(f"{what}: {len(data)} bytes, more than the limit of "
                           f"{MAX_SCREENSHOT_BYTES} bytes")
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise InvalidInput(f"{what}: not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_SCREEN_SIDE and 0 < height <= MAX_SCREEN_SIDE):
        raise InvalidInput(f"{what}: a PNG of {width}x{height} pixels; each side must be "
                           f"1 to {MAX_SCREEN_SIDE}")
    return width, height


def rgb_png(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG (8-bit RGB, not interlaced) of ``rgb``: ``height`` rows of ``width`` pixels
    of 3 bytes each. ValueError when the sizes do not match."""
    if not (0 < width <= MAX_SCREEN_SIDE and 0 < height <= MAX_SCREEN_SIDE):
        raise ValueError(f"a picture of {width}x{height} pixels; each side must be 1 to "
                         f"{MAX_SCREEN_SIDE}")
    stride = width * 3
    if len(rgb) != stride * height:
        raise ValueError(f"{len(rgb)} bytes of pixels for {width}x{height} RGB, not "
                         f"{stride * height}")
    raw = b"".join(b"\0" + rgb[row:row + stride] for row in range(0, len(rgb), stride))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
