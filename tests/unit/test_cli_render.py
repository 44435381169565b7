"""Tables, sizes, ages, JSON, and following a console's scrolling tail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tashi.api.schemas import UserOut
from tashi.cli.render import age, fields, jsonable, mib, size, table, truncate
from tashi.common.consoletail import new_part
from tashi.domain.states import Role

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("n_bytes", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * 2**20, "10 MiB"),
    (196_608, "192 KiB"), (2 * 2**30, "2.0 GiB"), (5 * 2**50, "5.0 PiB"),
])
def test_size(n_bytes: int, text: str) -> None:
    assert size(n_bytes) == text


def test_mib() -> None:
    assert (mib(0), mib(128), mib(4096)) == ("0 MiB", "128 MiB", "4.0 GiB")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (12, "12s"), (59, "59s"), (300, "5m"), (3 * 3600 + 59, "3h"),
    (2 * 86400, "2d"), (-5, "0s"),
])
def test_age(seconds: int, text: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == text


def test_age_of_never() -> None:
    assert age(None, NOW) == "-"


def test_table_aligns_columns_and_strips_trailing_space() -> None:
    assert table(["ID", "NAME", "MSG"], [["1", "web-1", ""], ["10", "x", "ok"]]) == (
        "ID  NAME   MSG\n"
        "1   web-1\n"
        "10  x      ok"
    )


def test_table_with_no_rows_is_its_header() -> None:
    assert table(["A", "B"], []) == "A  B"


def test_fields_align_values() -> None:
    assert fields([("id", "1"), ("message", "")]) == "id:      1\nmessage:"


def test_truncate() -> None:
    assert truncate("a  b\nc", 10) == "a b c"
    assert truncate("abcdefghij", 5) == "abcd…"


def test_jsonable_models_in_dicts_and_lists() -> None:
    user = UserOut(name="ann", role=Role.ADMIN, created_at=NOW)
    data = jsonable({"users": [user], "n": 1})
    assert json.loads(json.dumps(data)) == {
        "users": [{"name": "ann", "role": "admin", "created_at": "2024-05-01T12:00:00Z",
                   "source": "local"}],
        "n": 1}


@pytest.mark.parametrize(("old", "new", "part"), [
    ("", "boot\n", "boot\n"),
    ("boot\n", "boot\n", ""),
    ("boot\n", "boot\nlogin: ", "login: "),
    ("boot\nlogin: ", "oot\nlogin: root\n", "root\n"),  # the tail scrolled by one
    ("abc", "cd", "d"),  # an overlap shorter than the probe
    ("x" * 100 + "tail", "x" * 90 + "tail" + "more", "more"),
    ("old console", "fresh", "fresh"),  # reset: no overlap
])
def test_new_part(old: str, new: str, part: str) -> None:
    assert new_part(old, new) == part
