"""`tashi up --hosts N`: the names, ids and subnets of the hosts' network, the agents'
settings, and the refusal without root (the real namespaces: tests/e2e/test_up_hosts.py)."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from tashi.agent.settings import AgentSettings
from tashi.cmd.cli import main
from tashi.domain.errors import Conflict, Forbidden, InvalidInput
from tashi.embedded import hosts, netns
from tashi.embedded.netns import Layout


def test_without_root_more_than_one_host_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["up", "--hosts", "3", "--data-dir", str(data),
                                       "--driver", "fake"])
    assert result.exit_code == Forbidden.exit_code != 0
    [line] = result.output.strip().splitlines()
    assert line.startswith("tashi: --hosts 3 needs root: ")
    assert "network namespace" in line
    assert not data.exists()  # refused before anything was made
    with pytest.raises(Forbidden):
        hosts.require_root(2)
    hosts.require_root(1)  # one host: the in-process agent, no root needed


def test_the_cluster_id_is_short_stable_and_per_directory(tmp_path: Path) -> None:
    cid = netns.cluster_id(tmp_path / "a")
    assert cid == netns.cluster_id(tmp_path / "a")
    assert cid != netns.cluster_id(tmp_path / "b")
    assert len(cid) == 6
    assert int(cid, 16) >= 0


def test_names_addresses_and_interface_lengths() -> None:
    layout = Layout("ab12cd", IPv4Network("10.20.30.0/24"), 3)
    assert layout.lan_ns == "tashi-ab12cd-lan"
    assert [layout.host_ns(i) for i in (1, 3)] == ["tashi-ab12cd-h1", "tashi-ab12cd-h3"]
    assert [layout.host_name(i) for i in (1, 2)] == ["h1", "h2"]
    assert str(layout.gateway) == "10.20.30.1"
    assert [str(layout.address(i)) for i in (1, 2, 3)] == [
        "10.20.30.11", "10.20.30.12", "10.20.30.13"]
    biggest = Layout("ffffff", IPv4Network("10.20.30.0/24"), hosts.MAX_HOSTS)
    for name in (biggest.bridge, biggest.lan_port(hosts.MAX_HOSTS), netns.HOST_IFACE):
        assert len(name) <= netns.IFNAMSIZ, name
    with pytest.raises(InvalidInput):
        Layout("ab12cd", IPv4Network("10.20.30.0/28"), 5)


def test_derived_subnets_are_10_x_y_and_move_on_per_attempt() -> None:
    first = netns.derived_subnet("ab12cd")
    assert first.prefixlen == 24
    assert first.subnet_of(IPv4Network("10.0.0.0/8"))
    assert not first.subnet_of(IPv4Network("10.0.0.0/12"))  # clear of 10.0-10.15
    assert netns.derived_subnet("ab12cd") == first
    assert netns.derived_subnet("ab12cd", 1) != first
    assert netns.derived_subnet("ffffff", 1).prefixlen == 24  # wraps, stays valid


def test_choose_subnet_avoids_routed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    first = netns.derived_subnet("ab12cd")
    routed = [(IPv4Network(first), "network namespace other")]
    monkeypatch.setattr(netns, "routed_subnets", lambda skip_prefix: routed)
    assert netns.choose_subnet("ab12cd", 3) == netns.derived_subnet("ab12cd", 1)
    assert netns.choose_subnet("ab12cd", 3, recorded="10.99.1.0/24") == \
        IPv4Network("10.99.1.0/24")  # the one it had, still free
    assert netns.choose_subnet("ab12cd", 3, recorded=str(first)) == \
        netns.derived_subnet("ab12cd", 1)  # the one it had is routed elsewhere now
    with pytest.raises(Conflict, match="overlaps"):
        netns.choose_subnet("ab12cd", 3, given=str(first))
    assert netns.choose_subnet("ab12cd", 3, given="192.168.77.0/24") == \
        IPv4Network("192.168.77.0/24")
    for bad in ("10.1.2.3/24", "nonsense", "10.1.2.0/29"):
        with pytest.raises(InvalidInput):
            netns.choose_subnet("ab12cd", 3, given=bad)


def test_each_agent_gets_its_host_settings(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    layout = Layout("ab12cd", IPv4Network("10.20.30.0/24"), 2)
    [_, h2] = hosts.plan_hosts(tmp_path, layout)
    assert h2.state_dir == tmp_path / "hosts" / "h2"
    options = hosts.AgentOptions(manager_url="http://10.20.30.1:8470",
                                 image_dir=tmp_path / "images",
                                 suspend_dir=tmp_path / "suspend", driver="qemu",
                                 accel="auto", heartbeat_interval_s=10.0)
    env = hosts.agent_env(h2, options, {"TASHI_AGENT_TOKEN": "secret", "PATH": "/bin",
                                        "TASHI_AGENT_DISK_GIB": "5"})
    assert "TASHI_AGENT_TOKEN" not in env  # its own credential, from its state directory
    assert env["PATH"] == "/bin"
    assert env["TASHI_AGENT_DISK_GIB"] == "5"
    for name, value in env.items():  # as the agent process reads them
        if name.startswith("TASHI_AGENT_"):
            monkeypatch.setenv(name, value)
    settings = AgentSettings()
    assert settings.host == "h2"
    assert settings.manager_url == "http://10.20.30.1:8470"
    assert settings.state_dir == tmp_path / "hosts" / "h2"
    assert settings.image_dir == tmp_path / "images"
    assert settings.vnc_listen == settings.address == "10.20.30.12"
    argv = hosts.agent_argv(h2)
    assert argv[:4] == ["ip", "netns", "exec", "tashi-ab12cd-h2"]
    assert argv[-2:] == ["-m", "tashi.cmd.agent"]


def test_the_agent_address_setting_is_an_ip_address() -> None:
    assert AgentSettings().address == ""
    assert AgentSettings().reachable_address == "127.0.0.1"
    assert AgentSettings(address="10.1.2.3").reachable_address == "10.1.2.3"
    assert AgentSettings(address="fd00::1").address == "fd00::1"
    with pytest.raises(ValueError, match="not an IP address"):
        AgentSettings(address="host.example")
