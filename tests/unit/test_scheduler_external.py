"""An operator's placement program: a real script, run with this Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.placement import ExternalPolicy, HostSnapshot, PlacementRequest, Placer

ALLOCATOR = """\
import json, sys, time
mode = sys.argv[1]
data = json.load(sys.stdin)
if mode == "first-fit":  # the first host with enough free memory
    need = data["request"]["memory_mib"]
    fit = [h["name"] for h in data["hosts"]
           if h["up"] and h["memory_mib"] - h["used_memory_mib"] >= need]
    print(json.dumps({"host": fit[0] if fit else None, "reason": "nothing fits"}))
elif mode == "record":
    with open(sys.argv[2], "w") as f:
        json.dump(data, f)
    print(json.dumps({"host": data["hosts"][0]["name"]}))
elif mode == "name":
    print(json.dumps({"host": sys.argv[2]}))
elif mode == "refuse":
    print(json.dumps({"host": None, "reason": "maintenance   window"}))
elif mode == "sleep":
    time.sleep(30)
elif mode == "garbage":
    print("hello, scheduler")
elif mode == "list":
    print("[1, 2]")
elif mode == "fail":
    print("no config file", file=sys.stderr)
    sys.exit(3)
"""


@pytest.fixture
def allocator(tmp_path: Path) -> Path:
    path = tmp_path / "allocator.py"
    path.write_text(ALLOCATOR)
    return path


def policy(allocator: Path, *args: str, timeout_s: float = 10.0) -> ExternalPolicy:
    return ExternalPolicy((sys.executable, str(allocator), *args), timeout_s)


def host(name: str, mem: int = 4096, up: bool = True) -> HostSnapshot:
    return HostSnapshot(name, up, HostState.NORMAL, Resources(4, mem))


def req(i: int = 1, mem: int = 1024) -> PlacementRequest:
    return PlacementRequest(i, f"vm{i}", Resources(1, mem), owner="alice")


HOSTS = [host("a", mem=1024), host("b", mem=4096), host("c", up=False)]


def test_a_good_answer_is_used_and_counted(allocator: Path) -> None:
    placer = Placer(HOSTS, policy(allocator, "first-fit"))
    assert placer.does_io
    got = [placer.place(req(i, mem=1024)) for i in range(3)]
    assert [d.host for d in got] == ["a", "b", "b"]  # the program sees usage grow
    assert got[0].reason.startswith("external policy (")
    assert got[0].reason.endswith(" chose it")


def test_the_program_gets_hosts_and_request_as_json(allocator: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    Placer(HOSTS, policy(allocator, "record", str(seen))).place(req(5, mem=512))
    data = json.loads(seen.read_text())
    assert set(data) == {"hosts", "request"}
    assert data["hosts"][1] == {
        "name": "b", "up": True, "state": "Normal", "cores": 4, "memory_mib": 4096,
        "disk_gib": 0, "used_cores": 0, "used_memory_mib": 0, "used_disk_gib": 0,
        "instances": 0, "reserved_for": [], "networks": [], "groups": []}
    assert data["request"]["id"] == 5
    assert data["request"]["owner"] == "alice"
    assert data["request"]["memory_mib"] == 512


def test_a_refusal_passes_its_reason_on(allocator: Path) -> None:
    decision = Placer(HOSTS, policy(allocator, "refuse")).place(req())
    assert decision.host is None
    assert decision.reason.endswith(": no host: maintenance window")


def test_a_timeout_is_a_refusal(allocator: Path) -> None:
    decision = Placer(HOSTS, policy(allocator, "sleep", timeout_s=0.5)).place(req())
    assert decision.host is None
    assert decision.reason.endswith(": no answer within 0.5 s")


@pytest.mark.parametrize(("mode", "says"), [
    ("garbage", "answer is not JSON: 'hello, scheduler'"),
    ("list", 'answer lacks "host": \'[1, 2]\''),
    ("fail", "exited with status 3: no config file"),
])
def test_a_bad_answer_is_a_refusal(allocator: Path, mode: str, says: str) -> None:
    decision = Placer(HOSTS, policy(allocator, mode)).place(req())
    assert decision.host is None
    assert decision.reason.endswith(says)


def test_a_program_that_cannot_run(tmp_path: Path) -> None:
    missing = ExternalPolicy((str(tmp_path / "nowhere"),))
    decision = Placer(HOSTS, missing).place(req())
    assert decision.host is None
    assert "cannot run" in decision.reason


@pytest.mark.parametrize(("name", "says"), [
    ("zz", "chose host zz, which is not registered"),
    ("c", "chose host c, which is refused: 1 down"),
    ("a", "chose host a, which is refused: 1 lack memory (need 2048 MiB, best has 1024)"),
])
def test_a_host_failing_the_hard_filters_is_refused(allocator: Path, name: str,
                                                    says: str) -> None:
    decision = Placer(HOSTS, policy(allocator, "name", name)).place(req(mem=2048))
    assert decision.host is None
    assert decision.reason.endswith(says)


def test_an_empty_command_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no program"):
        ExternalPolicy(())
