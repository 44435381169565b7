"""Text from a guest, made safe to print on the user's terminal.

A guest writes what it likes to its serial console, and ``tashi vm console`` prints it
where the user types: an escape sequence in it could retitle the window, redefine keys,
rewrite what the screen shows (``ESC [2J``, a carriage return over a line), or worse
on some terminals. :func:`printable` keeps text, newlines and tabs, and drops every
escape sequence (7- and 8-bit: CSI, OSC, DCS, SOS, PM, APC and the two-byte ones) and
every other control character. ``--raw`` prints the bytes as they came.
"""

from __future__ import annotations

import re

_ST = r"(?:\x1b\\|\x9c|\x07)"  # string terminator (BEL ends OSC on most terminals)
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    rf"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x1b\x07\x9c]*{_ST}?"  # OSC DCS SOS PM APC
    r"|\x1b[ -/]*[0-~]"  # two-byte (and nF) escapes: ESC c, ESC ( B, ESC 7 ...
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but \t and \n


def printable(text: str) -> str:
    """``text`` without terminal escape sequences or control characters (``\\r\\n``
    becomes ``\\n``; a lone ``\\r``, which would let a line overwrite another, goes)."""
    return _CONTROLS.sub("", _SEQUENCES.sub("", text.replace("\r\n", "\n")))
