"""``tashi usage``: what was allocated and used, summed per period and per instance,
user or host, from the manager's closed usage records (users: their own).

The table is in human units (core-hours, GiB-hours, CPU hours, bytes as KiB…GiB) and
says up to when usage is counted; ``--csv`` prints the raw figures (seconds, bytes)
with a header; ``--json`` the rows as the API gives them. Every page of the report is
read: the output is the whole report.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import click

from tashi.cli.render import emit_json, size, table
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.errors import InvalidInput

if TYPE_CHECKING:  # at run time the client builds them: the schemas load when used
    from tashi.api.schemas import UsageReportOut, UsageRowOut

_MONTH = re.compile(r"^\d{4}-\d{2}$")
_FIGURES = ("core_seconds", "memory_mib_seconds", "disk_gib_seconds", "cpu_seconds_used",
            "disk_read_bytes", "disk_written_bytes", "net_rx_bytes", "net_tx_bytes")
_KEYS = {"instance": ("user", "instance", "host"), "user": ("user",), "host": ("host",)}
_SHOWN = {None: "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d",
          "month": "%Y-%m"}


def when(option: str, text: str) -> datetime:
    """``text`` as a time: a month (``2026-11``: its first day), a date (``2026-11-02``)
    or an ISO 8601 date and time; UTC when it names no zone."""
    try:
        if _MONTH.fullmatch(text):
            return datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: {text!r} is not a month, date or time (e.g. 2026-11, "
                           "2026-11-02, 2026-11-02T10:00Z)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@click.command()
@click.option("--user", metavar="USER", help="Only USER's usage (yours, unless an admin).")
@click.option("--host", metavar="HOST", help="Only usage on HOST.")
@click.option("--instance", metavar="NAME", help="Only the instances named NAME.")
@click.option("--from", "start", metavar="T",
              help="From this period on: 2026-11, 2026-11-02 or 2026-11-02T10:00 (UTC "
                   "unless a zone is given); a period's start.")
@click.option("--to", "end", metavar="T", help="Periods starting before T (as --from).")
@click.option("--by", type=click.Choice(["hour", "day", "month"]),
              help="Sum per hour, day or month (default: each usage interval).")
@click.option("--per", type=click.Choice(list(_KEYS)), default="instance",
              show_default=True, help="Sum per instance (on each host), user or host.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: a header, raw figures.")
@pass_session
def usage(session: Session, user: str | None, host: str | None, instance: str | None,
          start: str | None, end: str | None, by: str | None, per: str,
          as_csv: bool) -> None:
    """Usage reports: allocated and used, per hour, day or month (your own; admins:
    anyone's). Allocated cores, memory and disk, and CPU, disk and network used, per
    period (UTC), of closed usage intervals only (their figures are final)."""
    query = {"user": user, "host": host, "instance": instance, "by": by, "per": per,
             "start": None if start is None else when("--from", start),
             "end": None if end is None else when("--to", end)}

    async def run(c: TashiClient) -> UsageReportOut:
        """Every page, as one (the last page's closing mark: the pages' rows are final)."""
        rows: list[UsageRowOut] = []
        after: str | None = None
        while True:
            page = await c.usage(**query, after=after)  # type: ignore[arg-type]
            rows += page.rows
            if page.next is None:
                return page.model_copy(update={"rows": rows})
            after = page.next

    report = session.call(run)
    if session.json:
        emit_json(report)
    elif as_csv:
        click.echo(_csv(report.rows), nl=False)
    else:
        click.echo(f"usage counted until {_utc(report.closed_until)}" if report.closed_until
                   else "no usage counted yet (no interval closed)")
        click.echo(_table(report.rows, by, per))


def _table(rows: list[UsageRowOut], by: str | None, per: str) -> str:
    keys = _KEYS[per]
    headers = ["START", *(k.upper() for k in keys), "CORE-H", "MEMORY GIB-H", "DISK GIB-H",
               "CPU-H USED", "DISK READ", "WRITTEN", "NET RX", "NET TX"]
    return table(headers, [[r.start.astimezone(UTC).strftime(_SHOWN[by]),
                            *(getattr(r, k) or "-" for k in keys),
                            _hours(r.core_seconds), _hours(r.memory_mib_seconds / 1024),
                            _hours(r.disk_gib_seconds), _hours(r.cpu_seconds_used),
                            size(r.disk_read_bytes), size(r.disk_written_bytes),
                            _bytes(r.net_rx_bytes), _bytes(r.net_tx_bytes)] for r in rows])


def _csv(rows: list[UsageRowOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "end", "user", "instance", "instance_id", "host", *_FIGURES])
    for r in rows:
        writer.writerow([r.start.isoformat(), r.end.isoformat(),
                         *("" if v is None else v for v in (
                             r.user, r.instance, r.instance_id, r.host,
                             *(getattr(r, f) for f in _FIGURES)))])
    return out.getvalue()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def _bytes(n: int | None) -> str:
    return "-" if n is None else size(n)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
