"""Showback: each user's bill for a month, from Tashi's usage reports.

    python examples/showback.py --prices examples/prices.toml --month 2026-11

The manager and your token are found as ``tashi`` finds them (``--url``/``--token``,
``TASHI_URL``/``TASHI_TOKEN``, the file ``tashi login`` writes). Admins see every user's
bill, users their own: the month's allocated cores, memory and disk, and network
traffic, summed by the manager (``per=user``, ``by=month``) from closed usage only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tashi.cli.config import resolve
from tashi.client import TashiClient
from tashi.domain.errors import TashiError

GIB = Decimal(2**30)
HOUR = Decimal(3600)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Prices:
    """What a core-hour, a GiB-hour of memory or disk, a GiB of traffic costs."""

    currency: str
    core_hour: Decimal
    memory_gib_hour: Decimal
    disk_gib_hour: Decimal
    network_gib: Decimal

    @classmethod
    def read(cls, path: Path) -> Prices:
        with path.open("rb") as f:
            doc = tomllib.load(f, parse_float=Decimal)  # money: no binary fractions
        keys = ("currency", "core_hour", "memory_gib_hour", "disk_gib_hour", "network_gib")
        if missing := [k for k in keys if k not in doc]:
            raise ValueError(f"price file {path}: no {', '.join(missing)}")
        return cls(str(doc["currency"]), *(Decimal(doc[k]) for k in keys[1:]))


@dataclass(frozen=True)
class Bill:
    """One user's month, in billed units."""
    user: str
    core_hours: Decimal
    memory_gib_hours: Decimal
    disk_gib_hours: Decimal
    network_gib: Decimal

    def amount(self, p: Prices) -> Decimal:
        total = (self.core_hours * p.core_hour + self.memory_gib_hours * p.memory_gib_hour
                 + self.disk_gib_hours * p.disk_gib_hour + self.network_gib * p.network_gib)
        return total.quantize(CENT, ROUND_HALF_UP)


def month(text: str) -> tuple[datetime, datetime]:
    """``2026-11`` as its first moment and the next month's (UTC)."""
    start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, end


async def bills(client: TashiClient, start: datetime,
                end: datetime) -> tuple[list[Bill], datetime | None]:
    """Each user's bill for [start, end), and up to when usage is counted."""
    out: list[Bill] = []
    after: str | None = None
    while True:  # a page per thousand users
        page = await client.usage(by="month", per="user", start=start, end=end, after=after)
        for row in page.rows:
            traffic = (row.net_rx_bytes or 0) + (row.net_tx_bytes or 0)
            out.append(Bill(str(row.user), Decimal(row.core_seconds) / HOUR,
                            Decimal(row.memory_mib_seconds) / 1024 / HOUR,
                            Decimal(row.disk_gib_seconds) / HOUR, Decimal(traffic) / GIB))
        if page.next is None:
            return out, page.closed_until
        after = page.next


def report(bills: list[Bill], prices: Prices, closed_until: datetime | None,
           month_end: datetime) -> str:
    lines = [f"{'USER':<16}{'CORE-H':>10}{'MEM GIB-H':>12}{'DISK GIB-H':>12}"
             f"{'NET GIB':>10}{prices.currency:>12}"]
    for b in bills:
        lines.append(f"{b.user:<16}{b.core_hours:>10.2f}{b.memory_gib_hours:>12.2f}"
                     f"{b.disk_gib_hours:>12.2f}{b.network_gib:>10.2f}"
                     f"{b.amount(prices):>12.2f}")
    total = sum((b.amount(prices) for b in bills), Decimal(0))
    lines.append(f"{'TOTAL':<60}{total:>12.2f}")
    if closed_until is None or closed_until < month_end:
        counted = closed_until.strftime("%Y-%m-%d %H:%M UTC") if closed_until else "nothing"
        lines.append(f"(not final: usage is counted up to {counted})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print each user's bill for a month.")
    parser.add_argument("--prices", type=Path, required=True, help="the price file (TOML)")
    parser.add_argument("--month", type=month, required=True, help="YYYY-MM (UTC)")
    parser.add_argument("--url", help="the manager's URL (default: as tashi finds it)")
    parser.add_argument("--token", help="your API token (default: as tashi finds it)")
    args = parser.parse_args(argv)
    start, end = args.month

    async def run() -> tuple[list[Bill], datetime | None]:
        target = resolve(args.url, args.token)
        async with TashiClient(target.url, target.token, verify=target.ca or True) as c:
            return await bills(c, start, end)

    try:
        prices = Prices.read(args.prices)
        found, closed_until = asyncio.run(run())
    except (OSError, ValueError, TashiError) as exc:  # TOMLDecodeError is a ValueError
        print(f"showback: {exc}", file=sys.stderr)
        return 1
    print(f"bills for {start:%Y-%m}")
    print(report(found, prices, closed_until, end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
