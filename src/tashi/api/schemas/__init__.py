"""Wire schemas of the REST API (pydantic), by resource. The only place, with the store,
where records become dicts. Shared by the server and the typed client.

Each submodule is imported when one of its names is first asked for
(``from tashi.api.schemas import InstanceOut`` imports ``instances`` only): building
pydantic models costs, and a CLI call needs a few of them. The imports below (for the
type checker) are also the table of which name lives where: add a name there and to
``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tashi.api.schemas.agents import (
        ConsoleIn,
        ConsolesIn,
        DesiredDiskOut,
        DesiredInstanceOut,
        DesiredNicOut,
        DesiredOut,
        DesiredSeedOut,
        HeartbeatIn,
        JoinIn,
        ObservationIn,
        ReportIn,
    )
    from tashi.api.schemas.base import (
        ERROR_RESPONSES,
        MAX_COUNT,
        MAX_ID,
        NEXT_AFTER,
        ErrorOut,
        GroupName,
        HostName,
        ImageName,
        ImageRef,
        InstanceName,
        NetworkName,
        UserName,
        Wire,
    )
    from tashi.api.schemas.catalog import ImageCopyIn, ImageOut, NetworkCreate, NetworkOut
    from tashi.api.schemas.displays import (
        DesiredDisplayOut,
        ScreenshotIn,
        VncAnswerIn,
        VncOut,
    )
    from tashi.api.schemas.hosts import (
        CapabilitiesWire,
        ClaimOut,
        HostCreate,
        HostCredentialOut,
        HostDetailOut,
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
        HaRestartOut,
        InstanceCreate,
        InstanceOut,
        NicOut,
        SeedOut,
        StartFailureOut,
    )
    from tashi.api.schemas.networks import AttachedInstanceOut, NetworkShowOut
    from tashi.api.schemas.quotas import QuotaIn, QuotaLimitsOut, QuotaOut, QuotaUseOut
    from tashi.api.schemas.scheduling import (
        MAX_BINDINGS,
        BindingIn,
        BindingOut,
        PendingOut,
        SnapshotOut,
        UnplacedIn,
    )
    from tashi.api.schemas.usage import UsageIn, UsageOut, UsageReportIn
    from tashi.api.schemas.usage_reports import UsageReportOut, UsageRowOut
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
        TokenSettings,
        UserCreate,
        UserCredentialOut,
        UserOut,
        WhoAmIOut,
    )

__all__ = [
    "ERROR_RESPONSES",
    "MAX_BINDINGS", "MAX_COUNT", "MAX_ID", "MAX_TOKEN_LIFETIME_S", "NEXT_AFTER",
    "AttachedInstanceOut",
    "AvoidedHostOut",
    "BindIn", "BindingIn", "BindingOut", "CapabilitiesWire", "ClaimOut", "ConsoleIn",
    "ConsolesIn", "DesiredDiskOut", "DesiredDisplayOut",
    "DesiredInstanceOut", "DesiredNicOut",
    "DesiredOut", "DesiredSeedOut", "DestroyOut", "DiskOut", "ErrorOut", "EventOut",
    "GivenPassword",
    "GroupName", "HaRestartOut", "HeartbeatIn", "HostCreate", "HostCredentialOut", "HostDetailOut",
    "HostLayoutOut",
    "HostName", "HostOut", "HostSlotsOut", "HostStateIn", "ImageCopyIn", "ImageName",
    "ImageOut", "ImageRef",
    "InstanceCreate", "InstanceName", "InstanceOut", "JoinIn", "JoinTokenOut",
    "LayoutInstanceOut", "LoginIn", "NetworkCreate", "NetworkName", "NetworkOut",
    "NetworkShowOut",
    "NewPassword", "NicOut", "ObservationIn", "PasswordIn", "PendingOut", "QuotaIn",
    "QuotaLimitsOut", "QuotaOut", "QuotaUseOut", "ReportIn",
    "ScreenshotIn",
    "SeedOut", "SlotsOut", "SnapshotOut", "StartFailureOut", "TokenCreate", "TokenCreatedOut",
    "TokenLifetime", "TokenName", "TokenOut", "TokenSettings", "UnplacedIn", "UsageIn",
    "UsageOut", "UsageReportIn", "UsageReportOut", "UsageRowOut", "UserCreate",
    "UserCredentialOut", "UserName", "UserOut", "VncAnswerIn", "VncOut", "WhoAmIOut",
    "Wire",
]



def _where() -> dict[str, str]:
    """Each exported name's submodule, read from the imports above (one table)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    return {alias.asname or alias.name: node.module
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.module is not None and node.module.startswith(__name__ + ".")
            for alias in node.names}


_WHERE: dict[str, str] = {}

if not TYPE_CHECKING:  # the type checker sees the imports above, never a catch-all

    def __getattr__(name: str) -> Any:
        """Import the submodule that holds ``name`` (PEP 562), once."""
        if not _WHERE:
            _WHERE.update(_where())
        module = _WHERE.get(name)
        if module is None or name not in __all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
