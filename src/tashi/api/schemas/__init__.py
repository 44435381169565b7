"""Wire schemas of the REST API (pydantic), by resource. The only place, with the store,
where records become dicts. Shared by the server and the typed client."""

from tashi.api.schemas.agents import (
    DesiredDiskOut,
    DesiredInstanceOut,
    DesiredNicOut,
    DesiredOut,
    HeartbeatIn,
    JoinIn,
    ObservationIn,
    ReportIn,
)
from tashi.api.schemas.base import (
    ERROR_RESPONSES,
    MAX_COUNT,
    MAX_ID,
    ErrorOut,
    GroupName,
    HostName,
    ImageName,
    InstanceName,
    NetworkName,
    UserName,
    Wire,
)
from tashi.api.schemas.catalog import ImageOut, NetworkCreate, NetworkOut
from tashi.api.schemas.hosts import (
    CapabilitiesWire,
    HostCreate,
    HostCredentialOut,
    HostLayoutOut,
    HostOut,
    HostSlotsOut,
    HostStateIn,
    JoinTokenOut,
    LayoutInstanceOut,
    SlotsOut,
)
from tashi.api.schemas.instances import (
    AvoidedHostOut,
    BindIn,
    DestroyOut,
    DiskOut,
    EventOut,
    InstanceCreate,
    InstanceOut,
    NicOut,
    StartFailureOut,
)
from tashi.api.schemas.scheduling import (
    MAX_BINDINGS,
    BindingIn,
    BindingOut,
    PendingOut,
    SnapshotOut,
    UnplacedIn,
)
from tashi.api.schemas.users import (
    MAX_TOKEN_LIFETIME_S,
    GivenPassword,
    LoginIn,
    NewPassword,
    PasswordIn,
    TokenCreate,
    TokenCreatedOut,
    TokenLifetime,
    TokenName,
    TokenOut,
    UserCreate,
    UserCredentialOut,
    UserOut,
    WhoAmIOut,
)

__all__ = [
    "ERROR_RESPONSES",
    "MAX_BINDINGS", "MAX_COUNT", "MAX_ID", "MAX_TOKEN_LIFETIME_S", "AvoidedHostOut",
    "BindIn", "BindingIn", "BindingOut", "CapabilitiesWire", "DesiredDiskOut",
    "DesiredInstanceOut", "DesiredNicOut",
    "DesiredOut", "DestroyOut", "DiskOut", "ErrorOut", "EventOut", "GivenPassword",
    "GroupName", "HeartbeatIn", "HostCreate", "HostCredentialOut", "HostLayoutOut",
    "HostName", "HostOut", "HostSlotsOut", "HostStateIn", "ImageName", "ImageOut",
    "InstanceCreate", "InstanceName", "InstanceOut", "JoinIn", "JoinTokenOut",
    "LayoutInstanceOut", "LoginIn", "NetworkCreate", "NetworkName", "NetworkOut",
    "NewPassword", "NicOut", "ObservationIn", "PasswordIn", "PendingOut", "ReportIn",
    "SlotsOut", "SnapshotOut", "StartFailureOut", "TokenCreate", "TokenCreatedOut",
    "TokenLifetime", "TokenName", "TokenOut", "UnplacedIn", "UserCreate",
    "UserCredentialOut", "UserName", "UserOut", "WhoAmIOut", "Wire",
]
