"""What is reported about a QEMU that is gone: its exit status when this agent was its
parent, and how the agent ended it, from the runtime directory, in any case."""

from __future__ import annotations

from pathlib import Path

import pytest

from tashi.agent.drivers.qemu.ending import Ending, describe, read_ending, record_ending


@pytest.mark.parametrize(("exit_detail", "ending", "says"), [
    ("QEMU process exited with code 0", None, "QEMU process exited with code 0"),
    (None, None, "QEMU process exited (its exit status is unknown: an earlier agent "
                 "started it)"),
    ("QEMU process exited with code 0", Ending("power-button", 60),
     "QEMU process exited with code 0 after the power button"),
    (None, Ending("power-button", 60), "QEMU process exited after the power button"),
    ("QEMU process killed by signal 9", Ending("killed-after-timeout", 2.5),
     "QEMU process killed by signal 9 (by the agent: still running 2.5 s after the power "
     "button)"),
    (None, Ending("killed-after-timeout", 60),
     "QEMU process killed by the agent: still running 60 s after the power button"),
    (None, Ending("killed-power-button-failed", 60),
     "QEMU process killed by the agent: the power button failed"),
])
def test_describe(exit_detail: str | None, ending: Ending | None, says: str) -> None:
    assert describe(exit_detail, ending) == says


def test_record_then_read(tmp_path: Path) -> None:
    assert read_ending(tmp_path) is None
    record_ending(tmp_path, "power-button", 30)
    assert read_ending(tmp_path) == Ending("power-button", 30.0)
    record_ending(tmp_path, "killed-after-timeout", 30)  # replaces it
    assert read_ending(tmp_path) == Ending("killed-after-timeout", 30.0)
    assert [p.name for p in tmp_path.iterdir()] == ["ending.json"]


def test_unreadable_or_unknown_records_are_ignored(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ending.json").write_text('{"how": "exploded", "timeout_s": 1}')
    assert read_ending(tmp_path) is None
    (tmp_path / "ending.json").write_text("not json")
    assert read_ending(tmp_path) is None
    assert "cannot read ending.json" in caplog.text
    record_ending(tmp_path / "gone", "power-button", 1)  # no directory: logged, not raised
    assert "cannot record how the VM was ended" in caplog.text


def test_the_first_press_is_kept_for_its_qemu_only(tmp_path: Path) -> None:
    record_ending(tmp_path, "power-button", 20, pressed_at=1000.5, pid=4242)
    ending = read_ending(tmp_path)
    assert ending == Ending("power-button", 20.0, 1000.5, 4242)
    assert ending.pressed_for(4242) == 1000.5
    assert ending.pressed_for(4243) is None  # another QEMU (the VM started again)
    record_ending(tmp_path, "killed-after-timeout", 20)
    killed = read_ending(tmp_path)
    assert killed is not None
    assert killed.pressed_for(4242) is None
