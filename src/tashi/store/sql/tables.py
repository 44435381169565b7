"""The SQL schema, as SQLAlchemy 2 declarative tables.

This module describes the schema for queries; the database itself is created and
changed only by the Alembic revisions in ``tashi/store/migrations/versions``, which
must be kept in step with it.

Datetimes are stored as UTC and always come back timezone-aware (see
:class:`UTCDateTime`). An instance keeps its bound host in its own indexed column
and the rest of its spec and its status as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    LargeBinary,
    Select,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tashi.domain.models import DiskSpec

NAME = 127  # longest name of anything (image names are the longest, see domain.names)
JSON_DOC = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime in, a timezone-aware UTC datetime out.

    sqlite keeps no offset, so values are stored as naive UTC there and ``UTC``
    is re-attached when read. Naive datetimes are refused: they are a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Tashi stores timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


#: Tables no model maps: kept by database triggers, read with plain SQL (sqlite's
#: ``store_epoch``, migration 0017; PostgreSQL keeps the epoch in a sequence instead).
TRIGGER_KEPT = frozenset({"store_epoch"})


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32), default="local", server_default="local")
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)  # argon2


class TokenRow(Base):
    __tablename__ = "tokens"
    __table_args__ = (
        CheckConstraint(
            "(user_name IS NULL) <> (host_name IS NULL)", name="ck_tokens_one_holder"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(NAME))
    user_name: Mapped[str | None] = mapped_column(
        String(NAME), ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    # No foreign key: a host's credential may be issued before the host registers.
    host_name: Mapped[str | None] = mapped_column(String(NAME), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class SettingRow(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class HostRow(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    state: Mapped[str] = mapped_column(String(32))
    cores: Mapped[int]
    memory_mib: Mapped[int]
    disk_gib: Mapped[int] = mapped_column(default=0)
    last_heartbeat: Mapped[datetime | None]
    agent_version: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime]
    hypervisor: Mapped[str] = mapped_column(String(64), default="")
    reserved_for: Mapped[list[str]] = mapped_column(JSON_DOC, default=list)
    silent: Mapped[bool] = mapped_column(default=False)  # stopped heartbeating (liveness)
    # what its drivers can do, as its agent last reported (store.capabilities); None: never
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOC, default=None)


class ImageRow(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    owner: Mapped[str] = mapped_column(String(NAME))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    virtual_size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    min_memory_mib: Mapped[int] = mapped_column(default=0)


class NetworkRow(Base):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class InstanceRow(Base):
    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("owner", "name", name="uq_instances_owner_name"),
        Index("ix_instances_state", "state"),
        Index("ix_instances_host", "host"),
        {"sqlite_autoincrement": True},  # never reuse the id of a deleted instance
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME))
    owner: Mapped[str] = mapped_column(String(NAME))
    state: Mapped[str] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(String(NAME))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON_DOC)
    status: Mapped[dict[str, Any]] = mapped_column(JSON_DOC)
    generation: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DiskRow(Base):
    """Each instance's disks, also in its spec: kept apart so that who uses an image
    (see :mod:`tashi.store.imageuse`) is an indexed lookup, not a scan of every spec."""

    __tablename__ = "instance_disks"
    __table_args__ = (Index("ix_instance_disks_image", "image", "persistent"),)

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    image: Mapped[str] = mapped_column(String(NAME))
    persistent: Mapped[bool]


def disk_rows(instance_id: int, disks: Sequence[DiskSpec]) -> list[dict[str, Any]]:
    """The rows of ``instance_disks`` for an instance with these disks (those made from
    an image: blank and scratch disks use none)."""
    return [{"instance_id": instance_id, "position": n, "image": d.image,
             "persistent": d.persistent} for n, d in enumerate(disks) if not d.empty]


class IdempotencyRow(Base):
    """A create's ``Idempotency-Key``: what the request was, what it made (migration 0018)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    owner: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    instance_ids: Mapped[list[int]] = mapped_column(JSON_DOC)
    created_at: Mapped[datetime]


class ClaimRow(Base):
    """What an instance holds on a host (:mod:`tashi.domain.claims`): kept beside the
    instance by every write that changes it, summed per host for usage."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_host", "host"),)

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME))
    cores: Mapped[int]
    memory_mib: Mapped[int]
    disk_gib: Mapped[int]
    since: Mapped[datetime]


class ConsoleRow(Base):
    __tablename__ = "consoles"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)


class DisplayRow(Base):
    """An instance's VNC and screenshot requests and their answers (domain.displays)."""

    __tablename__ = "displays"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    vnc_asked: Mapped[int] = mapped_column(default=0)
    vnc_open: Mapped[bool] = mapped_column(default=False)
    vnc_password: Mapped[str] = mapped_column(String(16), default="")  # until answered
    vnc_done: Mapped[int] = mapped_column(default=0)
    vnc_host: Mapped[str] = mapped_column(String(NAME), default="")
    vnc_port: Mapped[int] = mapped_column(default=0)
    vnc_error: Mapped[str] = mapped_column(Text, default="")
    shots_asked: Mapped[int] = mapped_column(default=0)
    shots_done: Mapped[int] = mapped_column(default=0)
    shot_error: Mapped[str] = mapped_column(Text, default="")


class ScreenshotRow(Base):
    """The last screenshot of an instance's display (a PNG)."""

    __tablename__ = "screenshots"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int]
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int]
    height: Mapped[int]
    taken_at: Mapped[datetime]


class UsageRow(Base):
    """The latest usage figures of an instance's VM (:mod:`tashi.domain.usage`), replaced
    by each sample its host's agent sends; they go with the instance."""

    __tablename__ = "usage"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(NAME))
    at: Mapped[datetime]
    started_at: Mapped[datetime]
    cpu_seconds: Mapped[float]
    memory_rss_bytes: Mapped[int] = mapped_column(BigInteger)
    disk_read_bytes: Mapped[int] = mapped_column(BigInteger)
    disk_written_bytes: Mapped[int] = mapped_column(BigInteger)
    net_rx_bytes: Mapped[int | None] = mapped_column(BigInteger)
    net_tx_bytes: Mapped[int | None] = mapped_column(BigInteger)


class QuotaRow(Base):
    """A user's limits (:mod:`tashi.domain.quotas`; NULL: no limit), locked by the
    writes that check them; it goes with its user."""

    __tablename__ = "quotas"

    user_name: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True
    )
    instances: Mapped[int | None]
    cores: Mapped[int | None]
    memory_mib: Mapped[int | None]
    disk_gib: Mapped[int | None]
    machines: Mapped[int | None]
    updated_at: Mapped[datetime]



class AllocationRow(Base):
    """The ledger (:mod:`tashi.domain.accounting`): what an instance held, where, from
    ``since`` to ``until`` (epoch seconds; NULL: held now). Host ``''`` is the suspend
    directory. No foreign key: the ledger outlives its instance."""

    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_instance", "instance_id", "role"),
                      Index("ix_allocations_until", "until"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_id: Mapped[int]
    instance: Mapped[str] = mapped_column(String(NAME))
    user_name: Mapped[str] = mapped_column(String(NAME))
    host: Mapped[str] = mapped_column(String(NAME))
    role: Mapped[str] = mapped_column(String(16))
    cores: Mapped[int]
    memory_mib: Mapped[int]
    disk_gib: Mapped[int]
    since: Mapped[float] = mapped_column(Double)
    until: Mapped[float | None] = mapped_column(Double)


class _Figures:
    """The figures of a usage record, and of every sum of records."""

    core_seconds: Mapped[float] = mapped_column(Double, server_default="0")
    memory_mib_seconds: Mapped[float] = mapped_column(Double, server_default="0")
    disk_gib_seconds: Mapped[float] = mapped_column(Double, server_default="0")
    cpu_seconds_used: Mapped[float] = mapped_column(Double, server_default="0")
    disk_read_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    disk_written_bytes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    net_rx_bytes: Mapped[int | None] = mapped_column(BigInteger)
    net_tx_bytes: Mapped[int | None] = mapped_column(BigInteger)


class _UsageFigures(_Figures):
    """The columns of a usage record (per interval) and of a day's sums alike."""

    instance_id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    start_s: Mapped[float] = mapped_column(Double, primary_key=True)
    length_s: Mapped[int]
    instance: Mapped[str] = mapped_column(String(NAME))
    user_name: Mapped[str] = mapped_column(String(NAME))


class UsageRecordRow(_UsageFigures, Base):
    """Per instance, host and interval: allocated (set when the interval closes) and
    consumed (added by each report) figures; no foreign key: records outlive."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_start", "start_s"),
                      Index("ix_usage_records_user", "user_name", "start_s"),
                      Index("ix_usage_records_host", "host", "start_s"))


class UsageDayRow(_UsageFigures, Base):
    """The closed records of one UTC day summed per instance and host."""

    __tablename__ = "usage_days"
    __table_args__ = (Index("ix_usage_days_start", "start_s"),
                      Index("ix_usage_days_user", "user_name", "start_s"),
                      Index("ix_usage_days_host", "host", "start_s"))


class UsageUserDayRow(_Figures, Base):
    """The closed records of one UTC day summed per user (reports per user read these)."""

    __tablename__ = "usage_user_days"

    start_s: Mapped[float] = mapped_column(Double, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class UsageHostDayRow(_Figures, Base):
    """The closed records of one UTC day summed per host (reports per host read these)."""

    __tablename__ = "usage_host_days"

    start_s: Mapped[float] = mapped_column(Double, primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class UsageClosingRow(Base):
    """One row: the intervals' length, the end of the last closed one (epoch seconds;
    NULL: none yet)."""

    __tablename__ = "usage_closing"
    __table_args__ = (CheckConstraint("id = 1", name="ck_usage_closing_one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    closed_until: Mapped[float | None] = mapped_column(Double)
    length_s: Mapped[int]  # of every interval; changed only while there is no record


class UsageSenderRow(Base):
    """Per host: its agent's sender id and the sequence number of its last report."""

    __tablename__ = "usage_senders"

    host: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("hosts.name", ondelete="CASCADE"), primary_key=True
    )
    sender: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


class LeaseRow(Base):
    """A lease (:mod:`tashi.domain.leases`): its holder, fencing token and expiry (epoch
    seconds by the database's clock)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(NAME + 64))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Double)


class EventRow(Base):
    """No foreign key to instances: events outlive the instance they tell about."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(index=True)
    host: Mapped[str | None] = mapped_column(String(NAME), index=True)
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32), default="note", index=True)
    actor: Mapped[str] = mapped_column(String(NAME + 16), default="")
    user_name: Mapped[str | None] = mapped_column(String(NAME), index=True)
    old_state: Mapped[str | None] = mapped_column(String(32))
    new_state: Mapped[str | None] = mapped_column(String(32))
    resources: Mapped[dict[str, int] | None] = mapped_column(JSON_DOC)


def plain(model: type[Base]) -> Select[Any]:
    """All columns of ``model``'s table as plain rows, not ORM objects: lists of
    thousands (hosts, instances) read several times faster."""
    return select(*model.__table__.columns)
