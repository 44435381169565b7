"""A guest's console text reaches the user's terminal without escape sequences unless
``--raw`` (issue 9 §4)."""

from __future__ import annotations

import json

import pytest

from tashi.cli.terminal import printable
from tests.unit.test_cli_commands import Manager, image, manager, ok, tashi

__all__ = ["image", "manager"]  # fixtures, used by name

HOSTILE = ("boot ok\r\n"
           "\x1b]0;owned title\x07"  # OSC: retitle the window
           "\x1b]52;c;ZWNobyBoaQ==\x1b\\"  # OSC 52: write the clipboard
           "\x1b[2J\x1b[H"  # CSI: clear the screen, cursor home
           "\x1bP+q544e\x1b\\"  # DCS: ask the terminal things
           "\x9b31mred\x9b0m"  # 8-bit CSI
           "login:\x08\x08\x08\x08\x08\x08secret\rhidden\x1bc\n")


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain text\twith a tab\n", "plain text\twith a tab\n"),
    ("crlf\r\nline\r\n", "crlf\nline\n"),
    ("\x1b[1;31mbold red\x1b[0m", "bold red"),
    ("\x1b]0;title\x07text", "text"),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("a\rb", "ab"),
    ("bell\x07 nul\x00 del\x7f", "bell nul del"),
    ("\x1b(B\x1b7saved\x1b8", "saved"),
    ("ünïcode ✓ 漢字", "ünïcode ✓ 漢字"),
])
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_leaves_no_escape_or_control_character() -> None:
    out = printable(HOSTILE)
    assert out == "boot ok\nredlogin:secrethidden\n"
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f for c in out)


def test_vm_console_drops_escapes_unless_raw(manager: Manager, image: str) -> None:
    created = json.loads(ok(tashi(manager, "--json", "vm", "create", "c", "--image", image)))
    manager.core.store.put_console(created["id"], HOSTILE)
    assert ok(tashi(manager, "vm", "console", "c")) == printable(HOSTILE)
    raw = ok(tashi(manager, "vm", "console", "c", "--raw"))
    assert "\x1b]0;owned title\x07" in raw
    assert json.loads(ok(tashi(manager, "--json", "vm", "console", "c"))) == {
        "console": HOSTILE}  # JSON escapes them: the data as it is
