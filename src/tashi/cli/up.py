"""``tashi up``: a placeholder; the lead writes the real command."""

from __future__ import annotations

import click


@click.command()
def up() -> None:
    """Start a whole cluster on this machine (not written yet)."""
    raise click.ClickException("tashi up is not available yet")
