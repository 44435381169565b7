"""Display requests (VNC, screenshots) and the last screenshot: that part of
:class:`~tashi.store.sql.SqlStore`.

A mixin, as :mod:`tashi.store.sql.users` is. A request bumps its counter in a
transaction that holds the instance's display row (locked on PostgreSQL; sqlite has
one writer at a time), so two callers never get the same number. An answer is kept
only for a request that was asked and not answered yet; the answer to the last VNC
request blanks its password. The rows go with their instance (foreign keys that
cascade), and are no part of a snapshot: requests and screenshots are passing things.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.displays import DesiredDisplay, Display, Screenshot
from tashi.domain.errors import InvalidInput, NotFound
from tashi.store.sql.tables import DisplayRow, InstanceRow, ScreenshotRow


class SqlDisplays:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]
    _clock: Callable[[], datetime]

    def get_display(self, instance_id: int) -> Display:
        with self._read.begin() as s:
            _name(s, instance_id)
            return _display(s.get(DisplayRow, instance_id))

    def pending_displays(self, instance_ids: Collection[int]) -> dict[int, DesiredDisplay]:
        if not instance_ids:
            return {}
        stmt = select(DisplayRow).where(
            DisplayRow.instance_id.in_(list(instance_ids)),
            or_(DisplayRow.vnc_asked > DisplayRow.vnc_done,
                DisplayRow.shots_asked > DisplayRow.shots_done))
        with self._read.begin() as s:
            pending = {r.instance_id: _display(r).pending() for r in s.scalars(stmt)}
        return {i: p for i, p in pending.items() if p is not None}

    def ask_vnc(self, instance_id: int, *, open_it: bool, password: str) -> int:
        with self._write.begin() as s:
            row = _locked(s, instance_id)
            row.vnc_asked += 1
            row.vnc_open = open_it
            row.vnc_password = password
            return row.vnc_asked

    def ask_screenshot(self, instance_id: int) -> int:
        with self._write.begin() as s:
            row = _locked(s, instance_id)
            row.shots_asked += 1
            return row.shots_asked

    def answer_vnc(self, instance_id: int, number: int, *, host: str, port: int,
                   error: str) -> bool:
        with self._write.begin() as s:
            row = _locked(s, instance_id)
            if not _answerable(s, row, number, row.vnc_asked, row.vnc_done, "VNC request"):
                return False
            row.vnc_done, row.vnc_host, row.vnc_port, row.vnc_error = number, host, port, error
            if number == row.vnc_asked:
                row.vnc_password = ""  # its caller has it; nobody else needs it any more
            return True

    def answer_screenshot(self, instance_id: int, number: int, *,
                          png: tuple[bytes, int, int] | None, error: str) -> bool:
        with self._write.begin() as s:
            row = _locked(s, instance_id)
            if not _answerable(s, row, number, row.shots_asked, row.shots_done, "screenshot"):
                return False
            row.shots_done, row.shot_error = number, error
            if png is not None:
                data, width, height = png
                _upsert(s, {"instance_id": instance_id, "number": number, "png": data,
                            "width": width, "height": height, "taken_at": self._clock()})
            return True

    def get_screenshot(self, instance_id: int) -> Screenshot | None:
        with self._read.begin() as s:
            _name(s, instance_id)
            r = s.get(ScreenshotRow, instance_id)
            if r is None:
                return None
            return Screenshot(instance_id=r.instance_id, number=r.number, png=r.png,
                              taken_at=r.taken_at, width=r.width, height=r.height)


def _name(s: Session, instance_id: int) -> str:
    name = s.scalar(select(InstanceRow.name).where(InstanceRow.id == instance_id))
    if name is None:
        raise NotFound(f"instance {instance_id} not found")
    return name


def _locked(s: Session, instance_id: int) -> DisplayRow:
    """The instance's display row, made if missing, locked until the transaction ends."""
    _name(s, instance_id)
    insert = (postgresql.insert(DisplayRow) if s.get_bind().dialect.name == "postgresql"
              else sqlite.insert(DisplayRow))
    s.execute(insert.values(instance_id=instance_id, vnc_asked=0, vnc_open=False,
                            vnc_password="", vnc_done=0, vnc_host="", vnc_port=0,
                            vnc_error="", shots_asked=0, shots_done=0, shot_error="")
              .on_conflict_do_nothing(index_elements=["instance_id"]))
    row = s.get(DisplayRow, instance_id, with_for_update=True, populate_existing=True)
    assert row is not None  # made just above, in this transaction
    return row


def _answerable(s: Session, row: DisplayRow, number: int, asked: int, done: int,
                what: str) -> bool:
    """Whether answer ``number`` is to be kept: False for one already kept (a repeat);
    InvalidInput for one never asked."""
    if number > asked:
        raise InvalidInput(f"instance {row.instance_id} ({_name(s, row.instance_id)}): "
                           f"{what} {number} was never asked (the last one is {asked})")
    return number > done


def _display(r: DisplayRow | None) -> Display:
    if r is None:
        return Display()
    return Display(vnc_asked=r.vnc_asked, vnc_open=r.vnc_open, vnc_password=r.vnc_password,
                   vnc_done=r.vnc_done, vnc_host=r.vnc_host, vnc_port=r.vnc_port,
                   vnc_error=r.vnc_error, shots_asked=r.shots_asked,
                   shots_done=r.shots_done, shot_error=r.shot_error)


def _upsert(s: Session, values: dict[str, Any]) -> None:
    changed = {k: v for k, v in values.items() if k != "instance_id"}
    insert = (postgresql.insert(ScreenshotRow) if s.get_bind().dialect.name == "postgresql"
              else sqlite.insert(ScreenshotRow))
    s.execute(insert.values(values).on_conflict_do_update(index_elements=["instance_id"],
                                                          set_=changed))
