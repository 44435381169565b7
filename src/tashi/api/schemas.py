"""Wire schemas of the REST API (pydantic). The only place, with the store, where
records become dicts. Shared by the server and the typed client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
)

from tashi.common.passwords import MAX_LENGTH as PASSWORD_MAX
from tashi.common.passwords import MIN_LENGTH as PASSWORD_MIN
from tashi.common.passwords import check_password
from tashi.domain.errors import InvalidInput
from tashi.domain.lifecycle import Directive, Observed
from tashi.domain.models import ImageFormat, NetworkKind
from tashi.domain.names import (
    IMAGE_MAX_LENGTH,
    IMAGE_PATTERN,
    NAME_PATTERN,
    check_image_name,
    check_name,
)
from tashi.domain.resources import MAX_CORES, MAX_MEMORY_MIB, MIN_MEMORY_MIB
from tashi.domain.states import HostState, InstanceState, Role

MAX_ID = 2**63 - 1  # ids are 64-bit integers in every store


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """Our own name rules, their message kept (pydantic reports ValueErrors)."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    return validate


_NAME_SCHEMA = WithJsonSchema({"type": "string", "pattern": NAME_PATTERN, "maxLength": 63})
InstanceName = Annotated[str, AfterValidator(_checked(partial(check_name, "instance"))),
                         _NAME_SCHEMA]
HostName = Annotated[str, AfterValidator(_checked(partial(check_name, "host"))), _NAME_SCHEMA]
NetworkName = Annotated[str, AfterValidator(_checked(partial(check_name, "network"))),
                        _NAME_SCHEMA]
UserName = Annotated[str, AfterValidator(_checked(partial(check_name, "user"))), _NAME_SCHEMA]
GroupName = Annotated[str, AfterValidator(_checked(partial(check_name, "group"))), _NAME_SCHEMA]
MAX_COUNT = 1000  # instances per create
ImageName = Annotated[str, AfterValidator(_checked(check_image_name)),
                      WithJsonSchema({"type": "string", "pattern": IMAGE_PATTERN,
                                      "maxLength": IMAGE_MAX_LENGTH})]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorOut(Wire):
    error: str = Field(description="machine-readable code, e.g. not_found")
    message: str = Field(description="one readable line saying what went wrong")


#: Every route may answer these, always as an :class:`ErrorOut`.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}


# --- instances -----------------------------------------------------------------------


class InstanceCreate(Wire):
    name: InstanceName = Field(examples=["web-1"])
    image: ImageName = Field(examples=["tashi-guest"])
    cores: int = Field(default=1, ge=1, le=MAX_CORES, description="virtual CPUs")
    memory_mib: int = Field(default=128, ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB,
                            description="memory in MiB")
    persistent: bool = Field(default=False, description="write to the image itself")
    networks: list[NetworkName] = Field(default=["default"], min_length=1, max_length=8)
    shutdown_timeout_s: int = Field(default=60, ge=1, le=3600)
    disk_gib: int = Field(default=0, ge=0, le=1_000_000,
                          description="scratch disk on the host, GiB (a request field for now)")
    host: HostName | None = Field(default=None, description="the host to run on")
    allow_elsewhere: bool = Field(default=False,
                                  description="another host when the asked one does not fit")
    group: GroupName | None = Field(default=None, description="an instance group of yours")
    anti_affinity: bool = Field(default=False, description="no two members of the group on "
                                "one host (without a group: the name is the group)")
    count: int = Field(default=1, ge=1, le=MAX_COUNT, description="how many: more than one "
                       "are named NAME-1 ... NAME-N, created all or none (POST /instances/bulk)")


class DiskOut(Wire):
    image: str
    persistent: bool


class NicOut(Wire):
    network: str
    mac: str
    model: str


class StartFailureOut(Wire):
    host: str
    reason: str
    at: datetime


class AvoidedHostOut(Wire):
    host: str
    until: datetime


class InstanceOut(Wire):
    id: int
    name: str
    owner: str
    state: InstanceState
    host: str | None
    cores: int
    memory_mib: int
    disks: list[DiskOut]
    nics: list[NicOut]
    shutdown_timeout_s: int
    disk_gib: int = 0
    target_host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = None
    anti_affinity: bool = False
    generation: int
    message: str = Field(description="why it is in its state")
    observed: str
    observed_at: datetime | None
    attempts: int = Field(default=0, description="how many starts failed")
    failures: list[StartFailureOut] = Field(default_factory=list)
    avoid: list[AvoidedHostOut] = Field(default_factory=list, description="hosts placement avoids")
    retry_at: datetime | None = Field(default=None, description="when Held goes back to "
                                      "Pending")
    created_at: datetime
    updated_at: datetime


class DestroyOut(Wire):
    id: int
    name: str
    deleted: bool = Field(description="true: gone already; false: being destroyed")
    instance: InstanceOut | None


class EventOut(Wire):
    at: datetime
    message: str
    instance_id: int | None
    host: str | None


class BindIn(Wire):
    host: HostName
    generation: int = Field(ge=0, le=MAX_ID)


# --- hosts, images, networks, users ---------------------------------------------------


class HostCreate(Wire):
    name: HostName


class HostOut(Wire):
    name: str
    state: HostState
    up: bool
    cores: int
    memory_mib: int
    used_cores: int
    used_memory_mib: int
    instances: int
    agent_version: str
    last_heartbeat: datetime | None
    hypervisor: str = Field(default="", description='as its agent reports it; "fake '
                            '(simulation)" for simulated hosts')
    reserved_for: list[str] = Field(default_factory=list, description="empty: anyone's instances")
    networks: list[str] = Field(default_factory=list, description="those it reaches; empty: all")
    groups: list[str] = Field(default_factory=list, description="owner/group of its instances")


class HostStateIn(Wire):
    state: HostState | None = Field(default=None,
                                    description="Normal, or Drained to take no new instances")
    reserved_for: list[UserName] | None = Field(
        default=None, max_length=100,
        description="take only these users' instances; [] for anyone's again")


class HostSlotsOut(Wire):
    name: str
    slots: int
    why: str = Field(description="what limits it: cores, memory, down, Drained ...")


class SlotsOut(Wire):
    cores: int
    memory_mib: int
    total: int
    hosts: list[HostSlotsOut]


class LayoutInstanceOut(Wire):
    id: int
    name: str
    owner: str
    state: InstanceState
    cores: int
    memory_mib: int


class HostLayoutOut(Wire):
    host: HostOut
    instances: list[LayoutInstanceOut]


class JoinTokenOut(Wire):
    enabled: bool = Field(description="whether agents may register with a join token")
    token: str | None = Field(default=None, description="a new join token; shown once")


class HostCredentialOut(Wire):
    host: HostOut
    token: str = Field(description="the agent's credential; shown once")


class ImageOut(Wire):
    name: str
    owner: str
    format: ImageFormat
    size_bytes: int
    virtual_size_bytes: int
    created_at: datetime


class NetworkCreate(Wire):
    name: NetworkName
    kind: NetworkKind = NetworkKind.USER


class NetworkOut(Wire):
    name: str
    kind: NetworkKind
    created_at: datetime


def _new_password(value: SecretStr) -> SecretStr:
    _checked(check_password)(value.get_secret_value())
    return value


_PASSWORD_SCHEMA = {"type": "string", "format": "password", "writeOnly": True}
_REVEALED = PlainSerializer(lambda v: v.get_secret_value(), return_type=str, when_used="json")
#: A password: hidden in repr and logs, sent as itself in JSON.
NewPassword = Annotated[SecretStr, AfterValidator(_new_password), _REVEALED, WithJsonSchema(
    {**_PASSWORD_SCHEMA, "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX})]
GivenPassword = Annotated[SecretStr, Field(max_length=PASSWORD_MAX), _REVEALED,
                          WithJsonSchema({**_PASSWORD_SCHEMA, "maxLength": PASSWORD_MAX})]
TokenName = Annotated[str, AfterValidator(_checked(partial(check_name, "token"))), _NAME_SCHEMA]
MAX_TOKEN_LIFETIME_S = 10 * 365 * 86400
TokenLifetime = Annotated[int | None, Field(ge=1, le=MAX_TOKEN_LIFETIME_S,
                                            description="seconds; none: never expires")]


class UserCreate(Wire):
    name: UserName
    role: Role = Role.USER
    password: NewPassword | None = Field(default=None, description="to log in with (optional)")


class UserOut(Wire):
    name: str
    role: Role
    created_at: datetime


class UserCredentialOut(Wire):
    user: UserOut
    token: str = Field(description="an API token for the new user; shown once")


class PasswordIn(Wire):
    password: NewPassword
    current_password: GivenPassword | None = Field(
        default=None, description="needed to change your own (admins: not needed)")


class LoginIn(Wire):
    user: str = Field(max_length=63)
    password: GivenPassword
    token_name: TokenName | None = Field(default=None, description="default: login-<time>")
    expires_in_s: TokenLifetime = None


class TokenCreate(Wire):
    name: TokenName
    expires_in_s: TokenLifetime = None


class TokenOut(Wire):
    id: int
    name: str
    user: str | None = Field(description="whose it is (none: a host agent's credential)")
    created_at: datetime
    expires_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the API token; shown once")


# --- agents ------------------------------------------------------------------------------


class JoinIn(Wire):
    host: HostName
    join_token: str = Field(max_length=256)


class HeartbeatIn(Wire):
    cores: int = Field(ge=0, le=100_000)
    memory_mib: int = Field(ge=0)
    agent_version: str = Field(max_length=64)
    hypervisor: str = Field(max_length=64)


class DesiredDisk(Wire):
    image: str
    format: ImageFormat
    persistent: bool


class DesiredNic(Wire):
    network: str
    network_kind: NetworkKind
    mac: str
    model: str


class DesiredInstance(Wire):
    id: int
    name: str
    state: InstanceState
    directive: Directive
    may_start: bool
    cores: int
    memory_mib: int
    disks: list[DesiredDisk]
    nics: list[DesiredNic]
    shutdown_timeout_s: int
    generation: int


class DesiredOut(Wire):
    revision: str
    instances: list[DesiredInstance]


class Observation(Wire):
    id: int = Field(ge=1, le=MAX_ID)
    observed: Observed
    detail: str = Field(default="", max_length=2000)
    console: str | None = Field(default=None, max_length=65536,
                                description="the console tail, when it changed")


class ReportIn(Wire):
    instances: list[Observation] = Field(max_length=10_000)


# --- scheduler -----------------------------------------------------------------------------


class PendingOut(Wire):
    id: int
    name: str
    owner: str
    cores: int
    memory_mib: int
    generation: int
    disk_gib: int = 0
    target_host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = Field(default=None, description="owner/group")
    anti_affinity: bool = False
    persistent_images: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    avoid_hosts: list[str] = Field(default_factory=list,
                                   description="where its start failed lately")
    message: str = Field(default="", description="its status message (the last reason)")


class SnapshotOut(Wire):
    revision: str
    hosts: list[HostOut]
    pending: list[PendingOut]
    persistent_images_in_use: list[str] = Field(default_factory=list)


MAX_BINDINGS = 5000  # per request


class BindingIn(Wire):
    id: int = Field(ge=1, le=MAX_ID)
    host: HostName
    generation: int = Field(ge=0, le=MAX_ID)
    reason: str = Field(default="", max_length=1000, description="why this host")


class UnplacedIn(Wire):
    id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(max_length=1000, description="why no host takes it now")


class BindingOut(Wire):
    id: int
    host: str
    result: Literal["bound", "conflict", "not_found"]
    message: str = Field(default="", description="why not, when not bound")


class WhoAmIOut(Wire):
    kind: str
    name: str
    role: Role | None
