"""The agent's settings: flags, ``TASHI_AGENT_*`` environment variables, defaults."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tashi.agent.metrics import parse_listen
from tashi.domain.errors import InvalidInput

WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", "*"})  # every address: none to name


def default_host_name() -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", socket.gethostname().split(".")[0].lower())
    return name.strip("-")[:63] or "host"


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASHI_AGENT_", extra="ignore")

    manager_url: str = "http://127.0.0.1:8470"
    host: str = Field(default_factory=default_host_name)
    token: SecretStr | None = Field(default=None, description="this host's credential")
    join_token: SecretStr | None = Field(default=None, description="for auto registration")
    state_dir: Path = Path("./agent-state")
    image_dir: Path = Path("./images")
    suspend_dir: Path = Field(default=Path("./suspend"), description="where suspended VMs are "
                              "saved: a directory every host sees, like the image directory")
    driver: Literal["qemu", "fake"] = "qemu"
    accel: Literal["auto", "kvm", "tcg"] = "auto"
    disk_gib: int | None = Field(default=None, ge=0, description="room for instance disks "
                                 "(default: the size of the state directory's filesystem)")
    cpu_ratio: float = Field(default=1.0, gt=0, le=64, allow_inf_nan=False,
                             description="virtual cores offered per core (above 1: CPU "
                             "overcommitted, as Nova's cpu_allocation_ratio)")
    heartbeat_interval_s: float = Field(default=10.0, gt=0, allow_inf_nan=False,
                                        description="seconds between heartbeats")
    poll_wait_s: float = 20.0
    resync_s: float = 1.0
    report_every_s: float = 30.0
    usage_every_s: float = Field(default=60.0, gt=0, allow_inf_nan=False,
                                 description="seconds between usage reports of the VMs "
                                 "(also sent before a VM stops, is destroyed or suspended)")
    ca: Path | None = Field(default=None, description="CA file to verify the manager with")
    vnc_listen: str = Field(default="127.0.0.1", min_length=1, max_length=255,
                            description="the address of this host VMs' VNC servers listen "
                            "on, and users connect to (not a wildcard such as 0.0.0.0)")
    metrics_listen: str = Field(default="", max_length=300,
                                description="ADDRESS:PORT to serve Prometheus metrics on "
                                "(/metrics, no token: an address only Prometheus reaches); "
                                "empty (the default): not served")
    address: str = Field(default="", max_length=64,
                         description="the IP address other hosts reach this host on "
                         "(migration traffic); empty (the default): 127.0.0.1")
    log_level: str = "INFO"

    @field_validator("vnc_listen")
    @classmethod
    def _one_address(cls, value: str) -> str:
        if value in WILDCARDS:
            raise ValueError(f"vnc_listen {value!r} names no address users can connect to: "
                             "give one of this host's addresses")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _address_and_port(cls, value: str) -> str:
        if value:
            try:
                parse_listen(value)
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("address")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"address {value!r} is not an IP address") from None
        return value

    @property
    def reachable_address(self) -> str:
        """The address other hosts reach this host on (``address``, or loopback)."""
        return self.address or "127.0.0.1"
