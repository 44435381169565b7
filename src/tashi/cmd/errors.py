"""The one place where errors become what a person sees: one line and an exit code,
the same for every entry point (``tashi``, ``tashi-manager``, ``tashi-agent``,
``tashi-scheduler``).

A :class:`~tashi.domain.errors.TashiError` (from the client, or raised by the CLI
itself about its own inputs) becomes ``tashi: <message>`` on stderr and the exit
code the error declares. Click's own usage errors keep click's exit code 2. An
answer the client cannot read (not a Tashi manager?) is one line too, exit 1.
Ctrl-C is ``tashi: interrupted``, exit 130 (128 + SIGINT), as shells report it.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from pydantic import ValidationError

from tashi.domain.errors import TashiError


class CliError(click.ClickException):
    """A click exception that prints ``tashi: <message>``; its class holds the exit code
    (click declares ``exit_code`` a class variable), see :func:`cli_error`."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"tashi: {self.format_message()}", err=True)


class Interrupted(CliError):
    """Ctrl-C: ``tashi: interrupted``, on a line of its own after the terminal's ``^C``."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")

    def show(self, file: IO[Any] | None = None) -> None:
        if sys.stderr.isatty():
            click.echo("", err=True)
        super().show(file)


_BY_EXIT_CODE: dict[int, type[CliError]] = {}


def cli_error(message: str, exit_code: int) -> CliError:
    """A :class:`CliError` that makes ``tashi`` exit with ``exit_code``."""
    cls = _BY_EXIT_CODE.get(exit_code)
    if cls is None:
        cls = type(f"CliError{exit_code}", (CliError,), {"exit_code": exit_code})
        _BY_EXIT_CODE[exit_code] = cls
    return cls(message)


@contextmanager
def translated() -> Iterator[None]:
    """Turn expected errors raised inside the block into :class:`CliError`."""
    try:
        yield
    except TashiError as exc:
        raise cli_error(_one_line(exc.message), exc.exit_code) from exc
    except ValidationError as exc:
        raise cli_error(f"unexpected answer from the manager ({exc.error_count()} "
                       "invalid fields): is the URL a Tashi manager?", 1) from exc
    except KeyboardInterrupt as exc:
        raise Interrupted() from exc
    except click.Abort as exc:  # a prompt ended by Ctrl-C, or by the end of its input
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise Interrupted() from exc
        raise cli_error("aborted: no answer to the prompt (end of input)", 1) from exc


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "error"
