"""``examples/showback.py`` against a real manager whose store holds the usage of
:mod:`tests.integration.usage_ledger`: each user's bill for a month, to the cent."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.integration.usage_ledger import fill
from tests.unit import test_cli_commands as cli

manager = cli.manager  # the fixture: a manager served in a thread
Manager = cli.Manager
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path) -> None:
    """The usage, written before the manager fixture opens the same store."""
    fill(f"sqlite:///{tmp_path}/t.db")


@pytest.fixture
def showback(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example, imported from its file (examples are no package)."""
    spec = importlib.util.spec_from_file_location("showback", EXAMPLES / "showback.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "showback", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(manager: Manager, showback: ModuleType, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """showback's main with the manager found as the CLI finds it (the environment)."""
    monkeypatch.setenv("TASHI_URL", manager.url)
    monkeypatch.setenv("TASHI_TOKEN", manager.token)

    def call(*argv: str) -> tuple[int, str, str]:
        code = showback.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_each_users_bill_for_november(run: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = run("--prices", str(EXAMPLES / "prices.toml"), "--month", "2030-11")
    assert (code, err) == (0, "")
    assert [line.split() for line in out.splitlines()] == [
        ["bills", "for", "2030-11"],
        ["USER", "CORE-H", "MEM", "GIB-H", "DISK", "GIB-H", "NET", "GIB", "EUR"],
        # 8 core-h at 0.05, 4 GiB-h at 0.01, 4 GiB (3 received, 1 sent) at 0.10
        ["alice", "8.00", "4.00", "0.00", "4.00", "0.84"],
        ["bob", "2.00", "1.00", "0.00", "1.00", "0.21"],  # 0.10 + 0.01 + 0.10
        ["TOTAL", "1.05"],
    ]


def test_a_month_not_over_says_so(run: Callable[..., tuple[int, str, str]],
                                  tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('currency = "USD"\ncore_hour = 1\nmemory_gib_hour = 0\n'
                      'disk_gib_hour = 0\nnetwork_gib = 0.5\n')
    code, out, _ = run("--prices", str(prices), "--month", "2030-12")
    assert code == 0
    assert [line.split() for line in out.splitlines()[2:]] == [
        ["alice", "5.00", "2.50", "0.00", "2.00", "6.00"],  # 5 core-h + 2 GiB at 0.5
        ["TOTAL", "6.00"],
        ["(not", "final:", "usage", "is", "counted", "up", "to", "2030-12-01", "03:00",
         "UTC)"],
    ]


def test_a_bad_price_file_is_one_line(run: Callable[..., tuple[int, str, str]],
                                      tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('currency = "EUR"\ncore_hour = 1\n')
    assert run("--prices", str(prices), "--month", "2030-11") == (
        1, "", f"showback: price file {prices}: no memory_gib_hour, disk_gib_hour, "
               "network_gib\n")
