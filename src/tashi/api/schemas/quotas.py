"""Quotas: a user's limits and what the user uses (see :mod:`tashi.domain.quotas`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tashi.api.schemas.base import Int, Wire
from tashi.domain.quotas import MAX_LIMIT, Quota, QuotaField

#: A limit: a whole number from 0 (JSON ``1.5``, ``"2"``, ``true`` are none), or null.
Limit = Annotated[Int | None, Field(ge=0, le=MAX_LIMIT)]
_KEEP = "left out: kept as it is; null: no limit"


class QuotaIn(Wire):
    """The limits to change; those left out keep their value, null removes one."""

    instances: Limit = Field(default=None, description=f"instances; {_KEEP}")
    cores: Limit = Field(default=None, description=f"cores; {_KEEP}")
    memory_mib: Limit = Field(default=None, description=f"memory, MiB; {_KEEP}")
    disk_gib: Limit = Field(default=None, description=f"blank and scratch disk, GiB; {_KEEP}")
    machines: Limit = Field(default=None, description=f"physical machines; {_KEEP}")

    def changes(self) -> dict[QuotaField, int | None]:
        """The limits the body names (a field sent as null included), in field order."""
        return {f: getattr(self, f.value) for f in QuotaField if f.value in self.model_fields_set}


class QuotaLimitsOut(Wire):
    instances: int | None = Field(description="null: no limit (so for each field)")
    cores: int | None
    memory_mib: int | None
    disk_gib: int | None
    machines: int | None


class QuotaUseOut(Wire):
    instances: int = Field(description="its instances in a state that counts (not Exited, "
                                        "Suspended or Destroying), and what they ask")
    cores: int
    memory_mib: int
    disk_gib: int
    machines: int


class QuotaOut(Wire):
    user: str
    limits: QuotaLimitsOut
    use: QuotaUseOut

    @classmethod
    def of(cls, quota: Quota) -> QuotaOut:
        return cls(user=quota.user,
                   limits=QuotaLimitsOut(**{f.value: quota.limits.of(f) for f in QuotaField}),
                   use=QuotaUseOut(**{f.value: quota.use.of(f) for f in QuotaField}))
