"""Capacity planning (``plan_capacity`` and ``tashi plan capacity``), numbers by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tashi.cmd.cli import main
from tashi.domain.errors import InvalidInput
from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.capacity import (
    HostGroup,
    InstanceSize,
    groups_of_data,
    hosts_of_groups,
    plan_capacity,
)
from tashi.scheduler.placement import HostSnapshot

# big: 16 cores / 2 = 8, 65536 MiB / 4096 = 16, 50 GiB / 10 = 5 per host
# small: 8 cores / 2 = 4, 8192 MiB / 4096 = 2, no disk per host
GROUPS = [HostGroup("big", 2, 16, 65536, 50), HostGroup("small", 3, 8, 8192)]


def test_counts_per_group_and_the_binding_constraint() -> None:
    hosts, group_of = hosts_of_groups(GROUPS)
    report = plan_capacity(hosts, InstanceSize(2, 4096), group_of=group_of)
    assert report.total == 2 * 8 + 3 * 2
    assert [(g.name, g.hosts, g.instances, g.binding) for g in report.groups] == [
        ("big", 2, 16, "cores"), ("small", 3, 6, "memory")]
    assert report.binding == "memory"
    assert report.bindings == (("memory", 3), ("cores", 2))
    assert [h.instances for h in report.hosts] == [8, 8, 2, 2, 2]
    assert report.stopped.startswith("no host fits: ")
    assert not report.limited


def test_disk_binds_when_asked_for() -> None:
    hosts, group_of = hosts_of_groups(GROUPS)
    report = plan_capacity(hosts, InstanceSize(2, 4096, 10), group_of=group_of, policy="pack")
    assert report.total == 2 * 5
    assert report.binding == "disk"
    assert report.policy == "pack"
    assert report.stopped == "no host fits: 5 lack disk (need 10 GiB, best has 0)"


def test_plans_on_a_cluster_in_use() -> None:
    hosts = [HostSnapshot("used", True, HostState.NORMAL, Resources(8, 8192), Resources(6, 0)),
             HostSnapshot("down", False, HostState.NORMAL, Resources(8, 8192)),
             HostSnapshot("drained", True, HostState.DRAINED, Resources(8, 8192))]
    report = plan_capacity(hosts, InstanceSize(2, 1024))
    assert report.total == 1
    assert [(h.name, h.group, h.instances, h.binding) for h in report.hosts] == [
        ("used", "all", 1, "cores"), ("down", "all", 0, "up"), ("drained", "all", 0, "state")]
    assert report.binding == "cores"  # a resource, not a host that is down


def test_stops_at_the_limit() -> None:
    hosts, _ = hosts_of_groups(GROUPS)
    report = plan_capacity(hosts, InstanceSize(1, 16), limit=5)
    assert (report.total, report.limited) == (5, True)
    assert report.stopped == "the limit of 5 instances was reached"
    assert report.binding == "none"
    assert report.bindings == (("limit", 5),)


def test_no_hosts() -> None:
    report = plan_capacity([], InstanceSize(1, 512))
    assert (report.total, report.binding, report.groups) == (0, "none", ())
    assert report.stopped == "no host fits: no hosts are registered"


@pytest.mark.parametrize(("data", "says"), [
    ({}, 'needs a non-empty list "groups"'),
    ({"groups": [{"name": "a", "count": 1, "cores": 0, "memory_mib": 1}]},
     "group a: cores must be at least 1, got 0"),
    ({"groups": [{"name": "a", "count": 1, "cores": 1}]}, "group a: missing memory_mib"),
    ({"groups": [{"name": "a", "count": True, "cores": 1, "memory_mib": 1}]},
     "group a: count must be a whole number"),
    ({"groups": [{"name": "a", "count": 1, "cores": 1, "memory_mib": 1, "gpus": 2}]},
     "group 1: unknown field gpus"),
    ({"groups": [{"count": 1, "cores": 1, "memory_mib": 1}]}, "group 1: needs a name"),
    ({"groups": [{"name": "a", "count": 1, "cores": 1, "memory_mib": 1}] * 2},
     "group names must differ"),
])
def test_bad_cluster_descriptions(data: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        groups_of_data(data)


# --- the command ---------------------------------------------------------------------------

ALIKE = ["--hosts", "4", "--host-cores", "16", "--host-memory", "65536"]


def run(*args: str, root: tuple[str, ...] = ()) -> Result:
    """``tashi [ROOT...] plan capacity ARGS...``, as a person would run it."""
    return CliRunner().invoke(main, [*root, "plan", "capacity", *args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_alike_hosts() -> None:
    result = run(*ALIKE, "--cores", "2", "--memory", "4096")
    assert result.exit_code == 0, result.output
    assert "fits: 32 instances on 4 hosts" in result.stdout
    assert "binding constraint: cores (on 4 of 4 hosts)" in result.stdout
    assert result.stdout.splitlines()[5].split() == ["hosts", "4", "32", "8.0", "cores"]


def test_cli_json() -> None:
    result = run(*ALIKE, "--host-disk", "100", "--cores", "1", "--memory", "8192",
                 "--disk", "30", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["total"], out["binding"]) == (12, "disk")  # 100 GiB / 30 = 3 per host
    assert out["groups"] == [{"name": "hosts", "hosts": 4, "instances": 12, "binding": "disk"}]
    assert out["bindings"] == {"disk": 4}


def test_cli_honours_the_root_json_flag() -> None:
    result = run(*ALIKE, "--cores", "2", "--memory", "4096", root=("--json",))
    assert json.loads(result.stdout)["total"] == 32


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_cli_cluster_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cluster{suffix}"
    if suffix == ".toml":
        path.write_text('[[groups]]\nname = "big"\ncount = 2\ncores = 16\nmemory_mib = 65536\n'
                        '[[groups]]\nname = "small"\ncount = 3\ncores = 8\nmemory_mib = 8192\n')
    else:
        path.write_text(json.dumps({"groups": [
            {"name": "big", "count": 2, "cores": 16, "memory_mib": 65536},
            {"name": "small", "count": 3, "cores": 8, "memory_mib": 8192}]}))
    result = run("--cluster", str(path), "--cores", "2", "--memory", "4096", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["total"] == 22
    assert [(g["name"], g["instances"]) for g in out["groups"]] == [("big", 16), ("small", 6)]


@pytest.mark.parametrize(("args", "says"), [
    ([*ALIKE, "--cores", "0", "--memory", "512"],
     "tashi: --cores must be between 1 and 256, got 0"),
    ([*ALIKE, "--cores", "1", "--memory", "8"],
     "tashi: --memory must be between 16 and 4194304, got 8"),
    (["--hosts", "0", "--host-cores", "1", "--host-memory", "1", "--cores", "1", "--memory",
      "512"], "tashi: --hosts must be at least 1, got 0"),
    (["--cores", "1", "--memory", "512"], "tashi: describe the cluster: --hosts, --host-cores "
                                          "and --host-memory (or --cluster FILE)"),
    ([*ALIKE, "--cores", "1", "--memory", "512", "--limit", "0"],
     "tashi: --limit must be at least 1, got 0"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    assert one_line_error(run(*args)) == says


def test_cli_bad_cluster_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text("[[groups]\n")
    assert one_line_error(run("--cluster", str(path), "--cores", "1", "--memory", "512")
                          ).startswith(f"tashi: {path}: not valid TOML: ")
    missing = tmp_path / "missing.json"
    assert one_line_error(run("--cluster", str(missing), "--cores", "1", "--memory", "512")
                          ) == f"tashi: {missing}: cannot read: No such file or directory"
