"""How the agent ended a VM, kept in its runtime directory (``ending.json``), so that
what is reported about a VM that has exited says whether it powered off after the
power button or was killed after the shutdown timeout, also when the agent that
stopped it is gone. (An agent that did not start a QEMU is not its parent: it never
learns its exit status.)"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

FILE = "ending.json"

How = Literal["power-button", "killed-after-timeout", "killed-power-button-failed"]


@dataclass(frozen=True, slots=True)
class Ending:
    how: How
    timeout_s: float
    pressed_at: float | None = None  # the power button's first press (epoch seconds)
    pid: int | None = None  # of the QEMU it was pressed for

    def pressed_for(self, pid: int) -> float | None:
        """When the power button was first pressed for QEMU ``pid`` (None: it was not)."""
        return self.pressed_at if self.how == "power-button" and self.pid == pid else None


def record_ending(root: Path, how: How, timeout_s: float, *, pressed_at: float | None = None,
                  pid: int | None = None) -> None:
    """Write (atomically) what the agent is about to do to the instance's QEMU (and, for
    the power button, when it was first pressed for which QEMU: an agent restarted
    meanwhile counts the shutdown timeout from there, not anew)."""
    partial = root / (FILE + ".new")
    doc: dict[str, object] = {"how": how, "timeout_s": timeout_s}
    if pressed_at is not None:
        doc.update(pressed_at=pressed_at, pid=pid)
    try:
        partial.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(partial, root / FILE)
    except OSError as exc:  # only the words of a later report depend on it
        log.warning("runtime dir %s: cannot record how the VM was ended: %s", root, exc)


def read_ending(root: Path) -> Ending | None:
    try:
        doc = json.loads((root / FILE).read_text(encoding="utf-8"))
        how = doc["how"]
        if how not in ("power-button", "killed-after-timeout", "killed-power-button-failed"):
            raise ValueError(f"unknown ending {how!r}")
        pressed, pid = doc.get("pressed_at"), doc.get("pid")
        return Ending(how, float(doc["timeout_s"]),
                      None if pressed is None else float(pressed),
                      None if pid is None else int(pid))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("runtime dir %s: cannot read %s: %s", root, FILE, exc)
        return None


def describe(exit_detail: str | None, ending: Ending | None) -> str:
    """What to report about a QEMU that is gone. ``exit_detail``: its exit status in
    words, if this agent was its parent (None otherwise)."""
    if ending is None:
        return exit_detail or ("QEMU process exited (its exit status is unknown: an "
                               "earlier agent started it)")
    if ending.how == "power-button":
        return f"{exit_detail or 'QEMU process exited'} after the power button"
    why = (f"still running {ending.timeout_s:g} s after the power button"
           if ending.how == "killed-after-timeout" else "the power button failed")
    if exit_detail is None:
        return f"QEMU process killed by the agent: {why}"
    return f"{exit_detail} (by the agent: {why})"
